// Package diagnose answers the on-call questions of DESIGN.md §5 from the
// delivery events and the queue in the store, so it works from any node:
// which tier is bouncing or deferring, with which codes, to which
// providers, whether one provider is refusing us or our own reputation or
// signing is at fault, and what the probes last saw.
//
// It reads only; it changes nothing. It is not in charge of collecting the
// events (the tiers store them) nor of running probes (internal/monitor).
package diagnose

import (
	"context"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Store is what the reports read.
type Store interface {
	ListEvents(ctx context.Context, f store.EventFilter) ([]store.Event, error)
	AddressByName(ctx context.Context, address string) (store.Address, error)
	ListQueue(ctx context.Context) ([]store.QueueItem, error)
	ListProviders(ctx context.Context) ([]store.Provider, error)
	ListQuarantine(ctx context.Context, provider string, openOnly bool) ([]store.Quarantine, error)
	store.Settings
}
