package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// testQueueConcurrentClaims runs several workers claiming and finishing one
// queue at once, as several delivery processes do: no item is ever leased
// to two workers at a time, and every item is finished exactly once.
func testQueueConcurrentClaims(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	const items, workers = 240, 6
	now := queueBase
	batch := make([]*store.QueueItem, 0, items)
	for i := 0; i < items; i++ {
		batch = append(batch, queueItem(fmt.Sprintf("c%04d", i), now.Add(time.Duration(i)*time.Millisecond), "r@example.net"))
	}
	mustEnqueue(t, s, batch...)

	var mu sync.Mutex
	holder := map[string]string{} // item → worker holding it now
	finished := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(owner string) {
			defer wg.Done()
			for {
				got, err := s.ClaimQueue(c, owner, now.Add(time.Second), now.Add(time.Hour), 7)
				if err != nil {
					errs <- fmt.Errorf("%s: claim: %w", owner, err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, it := range got {
					if h, ok := holder[it.ID]; ok {
						errs <- fmt.Errorf("%s claimed %s while %s held it", owner, it.ID, h)
					}
					holder[it.ID] = owner
				}
				mu.Unlock()
				results := make([]store.QueueResult, len(got))
				for i, it := range got {
					results[i] = store.QueueResult{ID: it.ID, Recipients: []store.QueueRecipient{{Rcpt: "r@example.net", State: store.RecipientSent, Attempts: 1}}}
				}
				done, lost, err := s.FinishQueueAttempts(c, owner, results)
				if err != nil {
					errs <- fmt.Errorf("%s: finish: %w", owner, err)
					return
				}
				if len(lost) != 0 {
					errs <- fmt.Errorf("%s lost leases %v nobody else could have taken", owner, lost)
				}
				// The finished items left the queue, so nobody can claim
				// them between the commit and this.
				mu.Lock()
				for _, it := range got {
					delete(holder, it.ID)
				}
				for _, key := range done {
					finished[key]++
				}
				mu.Unlock()
			}
		}(fmt.Sprintf("worker%d", w))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(finished) != items {
		t.Errorf("%d items finished, want %d", len(finished), items)
	}
	for key, n := range finished {
		if n != 1 {
			t.Errorf("%s finished %d times", key, n)
		}
	}
	left, err := s.ListQueue(c)
	noErr(t, "list", err)
	if len(left) != 0 {
		t.Errorf("%d items left in the queue", len(left))
	}
}
