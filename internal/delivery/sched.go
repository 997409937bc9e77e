package delivery

import (
	"context"
	"io"
	"sync"

	"github.com/cabalmail/cabalmail/internal/queue"
)

// localKey is the scheduler key of deliveries into hosted mailboxes.
const localKey = "\x00local"

// job is the recipients of one message that go to one destination (a
// domain, or the local mailboxes): one SMTP transaction.
type job struct {
	msg   *message
	key   string
	rcpts []string
}

// message tracks one claimed message until all its jobs are done.
type message struct {
	work queue.Work
	mu   sync.Mutex
	left int
	outs []queue.Outcome

	// The DKIM-Signature of this attempt, made by the first destination
	// that needs it and shared by the others.
	sigMu   sync.Mutex
	sigDone bool
	sig     string
	sigErr  error
}

// signature returns the message's DKIM-Signature field for this attempt,
// reading the body from r if it was not made yet.
func (m *message) signature(ctx context.Context, sg *signer, r io.Reader) (string, error) {
	m.sigMu.Lock()
	defer m.sigMu.Unlock()
	if !m.sigDone {
		m.sig, m.sigErr = sg.signature(ctx, r, m.work.SignDomain)
		m.sigDone = true
	}
	return m.sig, m.sigErr
}

// scheduler runs sessions, one goroutine each, within the global and
// per-destination limits. A session takes jobs of its destination one
// after the other over the same connection and ends when none is left.
type scheduler struct {
	mu        sync.Mutex
	conc, per int
	active    int
	dests     map[string]*dest
	order     []string // destinations with jobs waiting, oldest first
	run       func(ctx context.Context, key string, next func() *job)
	ids       map[string]int // claimed message IDs in flight (for lease renewal)
}

type dest struct {
	jobs     []*job
	sessions int
}

func newScheduler(conc, per int, run func(ctx context.Context, key string, next func() *job)) *scheduler {
	return &scheduler{conc: conc, per: per, dests: map[string]*dest{}, run: run, ids: map[string]int{}}
}

// add queues j and starts a session for it if the limits allow.
func (s *scheduler) add(ctx context.Context, j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dests[j.key]
	if d == nil {
		d = &dest{}
		s.dests[j.key] = d
	}
	if len(d.jobs) == 0 {
		s.order = append(s.order, j.key)
	}
	d.jobs = append(d.jobs, j)
	s.startLocked(ctx)
}

// track records a claimed message in flight; forget drops one.
func (s *scheduler) track(id string) {
	s.mu.Lock()
	s.ids[id]++
	s.mu.Unlock()
}

func (s *scheduler) untrack(id string) {
	s.mu.Lock()
	if s.ids[id]--; s.ids[id] <= 0 {
		delete(s.ids, id)
	}
	s.mu.Unlock()
}

// forget is called once per finished message; slot accounting lives in the
// runner, so there is nothing to do here beyond keeping the symmetry.
func (s *scheduler) forget() {}

func (s *scheduler) activeIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.ids))
	for id := range s.ids {
		ids = append(ids, id)
	}
	return ids
}

// startLocked starts sessions for waiting destinations, oldest first,
// while the limits allow.
func (s *scheduler) startLocked(ctx context.Context) {
	for i := 0; i < len(s.order) && s.active < s.conc; {
		key := s.order[i]
		d := s.dests[key]
		if d == nil || len(d.jobs) == 0 {
			s.order = append(s.order[:i], s.order[i+1:]...)
			continue
		}
		// One session per waiting job, up to the per-destination limit.
		if d.sessions >= s.per || d.sessions >= len(d.jobs) {
			i++
			continue
		}
		d.sessions++
		s.active++
		go s.session(ctx, key, d)
	}
}

func (s *scheduler) session(ctx context.Context, key string, d *dest) {
	next := func() *job {
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(d.jobs) == 0 || ctx.Err() != nil {
			return nil
		}
		j := d.jobs[0]
		d.jobs[0] = nil
		d.jobs = d.jobs[1:]
		return j
	}
	s.run(ctx, key, next)
	s.mu.Lock()
	defer s.mu.Unlock()
	d.sessions--
	s.active--
	if d.sessions == 0 && len(d.jobs) == 0 {
		delete(s.dests, key)
	}
	s.startLocked(ctx)
}
