package queue

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store"
)

// pendingBlobs is a blob store that can defer durability to a group sync
// (blob.Dir.PutPending and friends).
type pendingBlobs interface {
	PutPending(ctx context.Context, r io.Reader) (*blob.Pending, error)
	SyncPending(ctx context.Context, ps []*blob.Pending) error
	DiscardPending(p *blob.Pending)
}

// commitTimeout bounds each stage of one group commit. It does not depend
// on any caller's context: a batch holds other callers' messages and must
// not be abandoned because one caller gives up.
const commitTimeout = 2 * time.Minute

// enqueueReq is one Enqueue waiting for the group committer.
type enqueueReq struct {
	item *store.QueueItem
	// body is written but not yet durable when the blob store can sync a
	// group (the committer syncs it before committing any row); nil when
	// Put made it durable already.
	body *blob.Pending
	done chan error
}

// commitBatch is the set of requests that gathered while the previous
// batch was being synced.
type commitBatch struct {
	reqs []*enqueueReq
	err  error // set by the sync stage: the bodies are not durable
}

// The group commit of Enqueue has two stages that overlap, like the
// mailbox store's committer. Callers append to q.gathering; the sync
// stage takes everything gathered, fsyncs those bodies in one round
// (blob.Dir.SyncPending) and hands the batch to the row stage, which
// commits the rows of every synced batch waiting in one store transaction
// and answers the callers. While one batch's rows commit the next batch's
// bodies are synced; a batch's rows are never committed before its own
// bodies are durable. Each stage runs in a goroutine started when work
// arrives and ending when none is left, so an idle queue holds none.

// submit hands req to the committer and waits for its answer. Once handed
// over the request belongs to the committer, which removes the body if
// the rows are not committed; a caller whose context ends returns without
// touching it.
func (q *Queue) submit(ctx context.Context, req *enqueueReq) error {
	req.done = make(chan error, 1)
	q.mu.Lock()
	if q.gathering == nil {
		q.gathering = &commitBatch{}
	}
	q.gathering.reqs = append(q.gathering.reqs, req)
	start := !q.syncing
	q.syncing = true
	q.mu.Unlock()
	if start {
		go q.syncStage()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The message may still be committed; the caller reports a
		// failure, so at worst it is delivered although the client was
		// told it was not (a duplicate, never a loss).
		return ctx.Err()
	}
}

// syncStage makes the bodies of each gathered batch durable and passes the
// batch on to the row stage, until nothing is gathering.
func (q *Queue) syncStage() {
	for {
		q.mu.Lock()
		b := q.gathering
		q.gathering = nil
		if b == nil {
			q.syncing = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		var bodies []*blob.Pending
		for _, r := range b.reqs {
			if r.body != nil {
				bodies = append(bodies, r.body)
			}
		}
		if len(bodies) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
			b.err = q.blobs.(pendingBlobs).SyncPending(ctx, bodies)
			cancel()
		}
		q.mu.Lock()
		q.synced = append(q.synced, b)
		start := !q.committingRows
		q.committingRows = true
		q.mu.Unlock()
		if start {
			go q.rowStage()
		}
	}
}

// rowStage commits the rows of every synced batch waiting, in one
// transaction, and answers their callers, until none is waiting.
func (q *Queue) rowStage() {
	for {
		q.mu.Lock()
		batches := q.synced
		q.synced = nil
		if len(batches) == 0 {
			q.committingRows = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		var ok []*enqueueReq
		for _, b := range batches {
			if b.err != nil {
				q.fail(b.reqs, b.err)
				continue
			}
			ok = append(ok, b.reqs...)
		}
		if len(ok) == 0 {
			continue
		}
		items := make([]*store.QueueItem, len(ok))
		for i, r := range ok {
			items[i] = r.item
		}
		err := q.commitRows(items)
		if err != nil && len(ok) > 1 && (errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound)) {
			// One item the store refuses (a user deleted meanwhile)
			// must not fail the others sharing its transaction.
			for _, r := range ok {
				q.answer(r, q.commitRows([]*store.QueueItem{r.item}))
			}
			continue
		}
		for _, r := range ok {
			q.answer(r, err)
		}
	}
}

// commitRows commits items' rows in one transaction.
func (q *Queue) commitRows(items []*store.QueueItem) error {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	return q.st.EnqueueItems(ctx, items)
}

// answer tells r's caller how its commit went, removing its body first if
// no row names it.
func (q *Queue) answer(r *enqueueReq, err error) {
	if err != nil {
		q.dropBody(r)
	}
	r.done <- err
}

// fail removes the bodies of requests whose rows were not committed and
// answers their callers with err.
func (q *Queue) fail(reqs []*enqueueReq, err error) {
	for _, r := range reqs {
		q.answer(r, err)
	}
}

// dropBody removes the body of a request no committed row names. If that
// fails the orphan sweep removes it later.
func (q *Queue) dropBody(r *enqueueReq) {
	if r.body != nil {
		q.blobs.(pendingBlobs).DiscardPending(r.body)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := q.blobs.Delete(ctx, r.item.BlobKey); err != nil && !errors.Is(err, blob.ErrNotFound) {
		q.log.Warn("queue: remove body of failed enqueue", "key", r.item.BlobKey, "err", err)
	}
}
