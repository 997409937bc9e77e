package mailbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store"
)

// headerCache holds the folded values of searchFields for the messages of
// a mailbox, loaded from the store's search column on the first header
// search and extended as messages arrive. Entries are only appended, so a
// search works on a snapshot taken under the lock.
type headerCache struct {
	uids []uint32   // ascending
	vals [][]string // vals[i]: the fields of uids[i], each "" if absent or "\x01"+value
	high uint32     // every message of the index up to this UID is in the cache
}

// presentMark prefixes a cached field value that is present, so an empty
// term matches present fields only (RFC 3501 6.4.4 HEADER).
const presentMark = "\x01"

// headerSnapshot brings the mailbox's header cache up to date with the
// index and returns its slices.
func (x *index) headerSnapshot(ctx context.Context) ([]uint32, [][]string, error) {
	x.hdrMu.Lock()
	defer x.hdrMu.Unlock()
	if x.hdr == nil {
		x.hdr = &headerCache{}
	}
	c := x.hdr
	missing := x.uidsAbove(c.high)
	if len(missing) > 0 {
		err := x.s.st.ScanMessageData(ctx, x.userID, x.id, missing, store.DataSearch, func(r store.MessageRow) error {
			c.uids = append(c.uids, r.UID)
			c.vals = append(c.vals, decodeSearch(r.Search))
			return nil
		})
		if err != nil {
			return nil, nil, mapStoreErr("load header cache", err)
		}
		c.high = missing[len(missing)-1]
	}
	return c.uids, c.vals, nil
}

// filterCache holds the search prefilters of a mailbox's messages, loaded
// on the first body search and extended as messages arrive; like
// headerCache it is only appended to. It is dropped when no view uses the
// mailbox, since it takes about an eighth of the size of the text.
type filterCache struct {
	uids    []uint32
	filters [][]byte // nil: the message has none and always passes
	high    uint32
}

// filterSnapshot brings the mailbox's filter cache up to date with the
// index and returns its slices.
func (x *index) filterSnapshot(ctx context.Context) ([]uint32, [][]byte, error) {
	x.fltMu.Lock()
	defer x.fltMu.Unlock()
	if x.flt == nil {
		x.flt = &filterCache{}
	}
	c := x.flt
	missing := x.uidsAbove(c.high)
	if len(missing) > 0 {
		err := x.s.st.ScanMessageData(ctx, x.userID, x.id, missing, store.DataFilter, func(r store.MessageRow) error {
			c.uids = append(c.uids, r.UID)
			c.filters = append(c.filters, r.Filter)
			return nil
		})
		if err != nil {
			return nil, nil, mapStoreErr("load search filters", err)
		}
		c.high = missing[len(missing)-1]
	}
	return c.uids, c.filters, nil
}

// uidsAbove returns the UIDs of the index above uid.
func (x *index) uidsAbove(uid uint32) []uint32 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(len(x.uids), func(i int) bool { return x.uids[i] > uid })
	return append([]uint32(nil), x.uids[i:]...)
}

// SearchHeader returns the UIDs among uids (ascending) whose header field
// contains term, case-insensitively, after decoding encoded words (RFC
// 3501 6.4.4 HEADER; SEARCH FROM, TO, CC, BCC and SUBJECT are SearchHeader
// on that field). An empty term matches every message that has the field.
// The common fields are searched in memory; others are read from the
// stored headers.
func (v *View) SearchHeader(ctx context.Context, uids []uint32, field, term string) ([]uint32, error) {
	if v.closed {
		return nil, ErrClosed
	}
	term = foldString(term)
	if k := searchFieldIndex(field); k >= 0 {
		cuids, cvals, err := v.x.headerSnapshot(ctx)
		if err != nil {
			return nil, err
		}
		var out []uint32
		j := 0
		for _, uid := range uids {
			for j < len(cuids) && cuids[j] < uid {
				j++
			}
			if j == len(cuids) {
				break
			}
			if cuids[j] != uid {
				continue
			}
			if val := cvals[j][k]; val != "" && strings.Contains(val[len(presentMark):], term) {
				out = append(out, uid)
			}
		}
		return out, nil
	}
	var out []uint32
	err := v.s.st.ScanMessageData(ctx, v.userID, v.x.id, uids, store.DataHeader, func(r store.MessageRow) error {
		for _, val := range getAllFields(parseHeader(r.Header), field) {
			if strings.Contains(foldHeaderValue(val), term) {
				out = append(out, r.UID)
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, mapStoreErr("search header", err)
	}
	return out, nil
}

// SearchBody returns the UIDs among uids (ascending) whose body contains
// term (RFC 3501 6.4.4 BODY): the text parts, decoded from their transfer
// encoding and charset, and the headers of attached messages. Bodies are
// read in parallel.
func (v *View) SearchBody(ctx context.Context, uids []uint32, term string) ([]uint32, error) {
	return v.searchBodies(ctx, uids, foldString(term), false)
}

// SearchText is SearchBody over the header too (RFC 3501 6.4.4 TEXT).
func (v *View) SearchText(ctx context.Context, uids []uint32, term string) ([]uint32, error) {
	return v.searchBodies(ctx, uids, foldString(term), true)
}

func (v *View) searchBodies(ctx context.Context, uids []uint32, term string, withHeader bool) ([]uint32, error) {
	if v.closed {
		return nil, ErrClosed
	}
	if len(uids) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type job struct {
		uid uint32
		key string
	}
	jobs := make(chan job, 256)
	var (
		mu      sync.Mutex
		out     []uint32
		failure error
	)
	fail := func(err error) {
		mu.Lock()
		if failure == nil {
			failure = err
		}
		mu.Unlock()
		cancel()
	}
	var wg sync.WaitGroup
	// Reading bodies waits on the disk as much as on the CPU.
	workers := 2 * runtime.GOMAXPROCS(0)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sc scratch
			for j := range jobs {
				ok, err := v.matchBody(ctx, j.key, term, withHeader, &sc)
				if err != nil {
					fail(fmt.Errorf("mailbox: search UID %d: %w", j.uid, err))
					continue
				}
				if ok {
					mu.Lock()
					out = append(out, j.uid)
					mu.Unlock()
				}
			}
		}()
	}
	// First the prefilters, kept in memory; then the bodies of the
	// messages that may match.
	fuids, filters, err := v.x.filterSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	probe := newFilterProbe(term)
	cands := make([]uint32, 0, 64)
	j := 0
	for _, uid := range uids {
		for j < len(fuids) && fuids[j] < uid {
			j++
		}
		if j < len(fuids) && fuids[j] == uid && !probe.mayContain(filters[j]) {
			continue
		}
		cands = append(cands, uid)
	}
	if len(cands) > 0 {
		err = v.s.st.ScanMessageData(ctx, v.userID, v.x.id, cands, store.DataBlobKey, func(r store.MessageRow) error {
			select {
			case jobs <- job{r.UID, r.BlobKey}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}
	close(jobs)
	wg.Wait()
	if failure != nil {
		return nil, failure
	}
	if err != nil {
		return nil, mapStoreErr("search bodies", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// scratch holds one search worker's reusable buffer.
type scratch struct {
	body []byte
}

// matchBody reads one body and looks for term in it. A body that is gone
// (expunged meanwhile) does not match.
func (v *View) matchBody(ctx context.Context, key, term string, withHeader bool, sc *scratch) (bool, error) {
	r, err := v.s.openBlob(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer r.Close()
	n := int(r.Size())
	if cap(sc.body) < n {
		sc.body = make([]byte, n)
	}
	raw := sc.body[:n]
	if _, err := io.ReadFull(r, raw); err != nil {
		return false, err
	}
	_, root := Parse(raw)
	texts := searchTexts(raw, root)
	if !withHeader {
		texts = texts[1:]
	}
	for _, t := range texts {
		if bytes.Contains(t, []byte(term)) {
			return true, nil
		}
	}
	return false, nil
}
