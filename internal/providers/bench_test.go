package providers

import (
	"context"
	"fmt"
	"testing"

	"github.com/cabalmail/cabalmail/internal/queue"
)

// BenchmarkApplyDelivered is the cost Apply adds to the delivery runner's
// result recording in the common case: a batch of 200 deliveries to 10
// providers, none of them quarantined. Reported per batch.
func BenchmarkApplyDelivered(b *testing.B) {
	tr, _, _ := newTracker(b)
	ctx := context.Background()
	batch := make([]queue.Result, 200)
	for i := range batch {
		batch[i] = queue.Result{Work: work(fmt.Sprintf("q%d", i), 1),
			Outcomes: []queue.Outcome{sent(fmt.Sprintf("u%d@d%d.example", i, i%10), fmt.Sprintf("mx.p%d.example", i%10))}}
	}
	b.ResetTimer()
	for range b.N {
		tr.Apply(ctx, batch)
	}
}
