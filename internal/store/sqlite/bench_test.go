package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cabalmail/cabalmail/internal/store"
)

func benchStore(b *testing.B) (*Store, store.User) {
	b.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if err := s.CreateDomain(ctx, &store.Domain{Apex: "example.test"}); err != nil {
		b.Fatal(err)
	}
	u := store.User{Name: "bench"}
	if err := s.CreateUser(ctx, &u); err != nil {
		b.Fatal(err)
	}
	return s, u
}

func benchAddress(i int, u store.User) store.Address {
	local := fmt.Sprintf("a%d", i)
	sub := fmt.Sprintf("s%d", i%97)
	return store.Address{Address: local + "@" + sub + ".example.test", Local: local, Subdomain: sub, Apex: "example.test",
		Holders: []store.Holding{{UserID: u.ID, Comment: "bench"}}}
}

// BenchmarkCreateAddress measures one durable address creation (one
// transaction, one WAL fsync).
func BenchmarkCreateAddress(b *testing.B) {
	s, u := benchStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		a := benchAddress(i, u)
		if err := s.CreateAddress(ctx, &a); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkAddressByName measures the look-up every inbound RCPT TO makes.
func BenchmarkAddressByName(b *testing.B) {
	s, u := benchStore(b)
	ctx := context.Background()
	const n = 1000
	for i := range n {
		a := benchAddress(i, u)
		if err := s.CreateAddress(ctx, &a); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		if _, err := s.AddressByName(ctx, benchAddress(i%n, u).Address); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkEnqueueItems measures one queue insert of one item with one
// recipient (one transaction, one WAL fsync), as submission makes.
func BenchmarkEnqueueItems(b *testing.B) {
	s, u := benchStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		it := &store.QueueItem{ID: fmt.Sprintf("q%d", i), Sender: "a@example.test", BlobKey: fmt.Sprintf("k%d", i), Size: 5000,
			UserID: u.ID, Recipients: []store.QueueRecipient{{Rcpt: "r@remote.test"}}}
		if err := s.EnqueueItems(ctx, []*store.QueueItem{it}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLookups measures the read-only look-ups submission makes per
// message: the user, the sender address and the signing domain.
func BenchmarkLookups(b *testing.B) {
	s, u := benchStore(b)
	ctx := context.Background()
	a := benchAddress(0, u)
	if err := s.CreateAddress(ctx, &a); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.UserByID(ctx, u.ID); err != nil {
			b.Fatal(err)
		}
		if _, err := s.AddressByName(ctx, a.Address); err != nil {
			b.Fatal(err)
		}
		if _, err := s.DomainByApex(ctx, "example.test"); err != nil {
			b.Fatal(err)
		}
	}
}
