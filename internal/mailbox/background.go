package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
)

// poller looks every PollInterval for changes made by other processes
// sharing the store, to the mailboxes of the users this process serves
// (those with watchers or loaded indexes), and brings their indexes up to
// date, which wakes the views in IDLE.
func (s *Store) poller() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*s.opts.PollInterval+10*time.Second)
		s.poll(ctx)
		cancel()
	}
}

func (s *Store) poll(ctx context.Context) {
	active := map[int64]bool{}
	s.mu.Lock()
	for id, u := range s.users {
		if len(u.watchers) > 0 {
			active[id] = true
		}
	}
	// Every loaded index, also those kept while no view uses them: so
	// they, and the user's mailbox names, stay fresh for the next Select.
	for _, x := range s.indexes {
		active[x.userID] = true
	}
	s.mu.Unlock()
	for userID := range active {
		if err := s.look(ctx, userID); err != nil {
			s.log.Warn("poll mailboxes", "user", userID, "err", err)
		}
	}
}

// look reads the user's mailboxes (one store query) and records what it
// saw (see cachedMailbox), brings the loaded indexes of the mailboxes that
// changed since the previous look up to date, and wakes the user's
// watchers if any did.
func (s *Store) look(ctx context.Context, userID int64) error {
	gen, start := s.lookGen(userID), time.Now()
	boxes, err := s.st.ListMailboxes(ctx, userID)
	if err != nil {
		return fmt.Errorf("mailbox: look at user %d: %w", userID, err)
	}
	s.mu.Lock()
	old := s.lookedAtLocked(userID, boxes, start, gen)
	stamps := s.users[userID].stamps
	var stale []*index
	for id, x := range s.indexes {
		if x.userID != userID {
			continue
		}
		if st, ok := stamps[id]; !ok || old == nil || st != old[id] {
			stale = append(stale, x)
		}
	}
	s.mu.Unlock()
	for _, x := range stale {
		if err := x.refresh(ctx); err != nil && !errors.Is(err, ErrNoMailbox) {
			s.log.Warn("look: refresh index", "mailbox", x.id, "err", err)
		}
	}
	// Without an earlier look there is nothing to compare with: the
	// change may have come before it, so wake the watchers anyway.
	if old == nil || !sameStamps(old, stamps) {
		s.notifyUser(userID)
	}
	return nil
}

func sameStamps(a, b map[int64]stamp) bool {
	if len(a) != len(b) {
		return false
	}
	for id, st := range a {
		if b[id] != st {
			return false
		}
	}
	return true
}

// orphanAge is how old an unreferenced blob must be before the orphan
// sweep removes it: far longer than any append takes between writing the
// body and committing its row.
const orphanAge = time.Hour

// sweeper deletes the bodies of expunged messages after the grace period,
// and (with OwnsBlobs) orphaned bodies every hour.
func (s *Store) sweeper() {
	defer s.wg.Done()
	every := s.opts.GarbageGrace / 2
	if every < time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	lastOrphans := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		if _, err := s.SweepGarbage(ctx, s.opts.GarbageGrace); err != nil {
			s.log.Warn("sweep expunged bodies", "err", err)
		}
		if s.opts.OwnsBlobs && time.Since(lastOrphans) > orphanAge {
			lastOrphans = time.Now()
			if _, err := s.SweepOrphans(ctx, orphanAge); err != nil {
				s.log.Warn("sweep orphaned bodies", "err", err)
			}
		}
		cancel()
	}
}

// SweepGarbage deletes the bodies that no message has referenced for at
// least grace, and returns how many it deleted. The background sweeper
// calls it with Options.GarbageGrace.
func (s *Store) SweepGarbage(ctx context.Context, grace time.Duration) (int, error) {
	n := 0
	for {
		gs, err := s.st.BlobGarbage(ctx, time.Now().Add(-grace), 500)
		if err != nil {
			return n, fmt.Errorf("mailbox: sweep: %w", err)
		}
		if len(gs) == 0 {
			return n, nil
		}
		keys := make([]string, 0, len(gs))
		for _, g := range gs {
			// A key is never reused, but check rather than trust.
			used, err := s.st.BlobReferenced(ctx, g.Key)
			if err != nil {
				return n, fmt.Errorf("mailbox: sweep: %w", err)
			}
			if !used {
				if err := s.blobs.Delete(ctx, g.Key); err != nil && !errors.Is(err, blob.ErrNotFound) {
					return n, fmt.Errorf("mailbox: sweep: %w", err)
				}
				n++
			}
			keys = append(keys, g.Key)
		}
		if err := s.st.ForgetGarbage(ctx, keys); err != nil {
			return n, fmt.Errorf("mailbox: sweep: %w", err)
		}
	}
}

// walker is implemented by blob stores that can list their blobs
// (blob.Dir).
type walker interface {
	Walk(ctx context.Context, fn func(key string, stored time.Time) error) error
}

// SweepOrphans deletes blobs older than minAge that no message references:
// bodies left by a crash between writing the body and committing its row.
// It must only run on a blob store that holds mailbox bodies alone
// (Options.OwnsBlobs), and does nothing if the store cannot list its
// blobs. It returns how many it deleted.
func (s *Store) SweepOrphans(ctx context.Context, minAge time.Duration) (int, error) {
	if !s.opts.OwnsBlobs {
		return 0, errors.New("mailbox: sweep orphans: the blob store is not the mailbox store's own")
	}
	w, ok := s.blobs.(walker)
	if !ok {
		return 0, nil
	}
	cutoff := time.Now().Add(-minAge)
	var old []string
	err := w.Walk(ctx, func(key string, stored time.Time) error {
		if stored.Before(cutoff) {
			old = append(old, key)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("mailbox: sweep orphans: %w", err)
	}
	n := 0
	for _, key := range old {
		used, err := s.st.BlobReferenced(ctx, key)
		if err != nil {
			return n, fmt.Errorf("mailbox: sweep orphans: %w", err)
		}
		if used {
			continue
		}
		if err := s.blobs.Delete(ctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
			return n, fmt.Errorf("mailbox: sweep orphans: %w", err)
		}
		s.log.Info("deleted orphaned body", "blob", key)
		n++
	}
	return n, nil
}

// openBlob opens a body for random access.
func (s *Store) openBlob(ctx context.Context, key string) (blob.Reader, error) {
	r, err := s.blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	if br, ok := r.(blob.Reader); ok {
		return br, nil
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return &memReader{Reader: bytes.NewReader(b)}, nil
}

// memReader is a blob.Reader over a body read into memory.
type memReader struct{ *bytes.Reader }

func (m *memReader) Close() error { return nil }
