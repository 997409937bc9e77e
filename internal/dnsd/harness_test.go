package dnsd

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

const (
	testControl = "mail.example.test"
	testApex    = "example.test"
	testApex2   = "other.test"
)

// env is a DNS role on a throwaway SQLite store, with a second store handle
// on the same file standing for another process (the command line).
type env struct {
	t      testing.TB
	path   string
	st     store.Store // the server's handle
	other  store.Store // another process's handle
	addrs  *addresses.Service
	srv    *Server
	addr   string
	domOpt domains.Options
}

func newEnv(t testing.TB, static ...domains.Record) *env {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cabalmail.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	opts := domains.Options{ControlDomain: testControl, PublicIPs: []string{"192.0.2.1", "2001:db8::1"}, Selector: "cabal", Static: static}
	ds := domains.New(other, opts)
	for _, apex := range []string{testApex, testApex2} {
		if _, err := ds.Add(ctx, "operator", apex); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"alice", "bob"} {
		if err := other.CreateUser(ctx, &store.User{Name: name, Status: store.UserActive, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := New(Options{
		Zones:    domains.New(st, opts),
		Settings: st,
		Listen:   []string{"127.0.0.1:0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return &env{t: t, path: path, st: st, other: other, srv: srv, addr: srv.Addrs()[0], domOpt: opts,
		addrs: addresses.New(other, addresses.Options{ControlDomain: testControl})}
}

// create makes an active address through the address rules, from the other
// handle.
func (e *env) create(addr string, users ...string) {
	e.t.Helper()
	if len(users) == 0 {
		users = []string{"alice"}
	}
	if _, err := e.addrs.Create(context.Background(), addresses.Operator(), addresses.CreateRequest{Address: addr, Users: users}); err != nil {
		e.t.Fatal(err)
	}
}

// query asks over net ("udp" or "tcp") with optional EDNS buffer size.
func (e *env) query(netw, name string, qtype uint16, edns uint16) *dns.Msg {
	e.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Net: netw, Timeout: 3 * time.Second, UDPSize: 65535}
	r, _, err := c.Exchange(m, e.addr)
	if err != nil {
		e.t.Fatalf("%s %s %s: %v", netw, name, dns.TypeToString[qtype], err)
	}
	return r
}

// refresh loads the store's current state now (tests that are not about
// freshness need not wait for the poll).
func (e *env) refresh() {
	e.t.Helper()
	if err := e.srv.Refresh(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}
