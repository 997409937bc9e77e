package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/domains"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
	"github.com/cabalmail/cabalmail/internal/web/totp"
)

// clock is a settable time source shared by the server and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a web server over a real SQLite store on a real loopback socket.
type env struct {
	t     testing.TB
	ctx   context.Context
	st    *sqlite.Store
	acc   *accounts.Service
	addrs *addresses.Service
	dom   *domains.Service
	srv   *Server
	http  *httptest.Server
	clock *clock
}

type envOpts struct {
	signup    string
	dev       bool
	dnsServer string
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cabalmail.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	dom := domains.New(st, domains.Options{ControlDomain: "mail.example.test", PublicIPs: []string{"127.0.0.1"}, Selector: "cabal"})
	for _, apex := range []string{"example.test", "other.test"} {
		if _, err := dom.Add(ctx, "operator", apex); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, ctx: ctx, st: st, acc: accounts.New(st), clock: clk, dom: dom,
		addrs: addresses.New(st, addresses.Options{ControlDomain: "mail.example.test", Now: clk.Now})}
	e.srv, err = New(Options{Store: st, Accounts: e.acc, Addresses: e.addrs, Domains: dom, DNSServer: o.dnsServer,
		Signup: o.signup, Dev: o.dev, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	return e
}

// user adds an active user, optionally granted apexes.
func (e *env) user(name string, admin bool, grants ...string) store.User {
	e.t.Helper()
	u, err := e.acc.Add(e.ctx, name, name+"-password-1", admin)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, g := range grants {
		if err := e.addrs.Grant(e.ctx, addresses.Operator(), name, g); err != nil {
			e.t.Fatal(err)
		}
	}
	return u
}

func (e *env) token(name string) string {
	e.t.Helper()
	tok, err := e.acc.NewToken(e.ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// client is one API client: a bearer token or a cookie session.
type client struct {
	e      *env
	hc     *http.Client
	bearer string
	csrf   string
	origin string
}

func (e *env) bearerClient(tok string) *client {
	return &client{e: e, hc: e.http.Client(), bearer: tok}
}

func (e *env) cookieClient() *client {
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &client{e: e, hc: hc}
}

// resp is a decoded response.
type resp struct {
	status int
	body   map[string]any
	raw    string
	header http.Header
}

func (r resp) code() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

func (c *client) do(method, path string, body any) resp {
	c.e.t.Helper()
	var rd io.Reader
	if s, ok := body.(string); ok {
		rd = strings.NewReader(s)
	} else if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.e.http.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.csrf != "" {
		req.Header.Set(csrfHeader, c.csrf)
	}
	if c.origin != "" {
		req.Header.Set("Origin", c.origin)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, raw: string(b), header: res.Header}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &out.body); err != nil {
			c.e.t.Fatalf("%s %s: bad JSON %q: %v", method, path, b, err)
		}
	}
	return out
}

// want fails unless r has the status (and error code, if given).
func (r resp) want(t testing.TB, what string, status int, code string) resp {
	t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("%s: got %d %s, want %d %s", what, r.status, r.raw, status, code)
	}
	return r
}

// login logs c in with the API and keeps the CSRF token.
func (c *client) login(name, password, code string) resp {
	c.e.t.Helper()
	r := c.do("POST", "/api/v1/login", map[string]string{"username": name, "password": password, "totp": code})
	if r.status == http.StatusOK {
		c.csrf, _ = r.body["csrf_token"].(string)
	}
	return r
}

// code returns the current TOTP code of a user.
func (e *env) code(u store.User, offset int64) string {
	e.t.Helper()
	tt, err := e.st.TOTPByUser(e.ctx, u.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return totp.Code(tt.Secret, totp.Step(e.clock.Now())+offset)
}

// snapshot is every address with its state and holders, and the audit log
// size, for "nothing changed" checks.
func (e *env) snapshot() string {
	e.t.Helper()
	list, err := e.st.ListAddresses(e.ctx, store.AddressFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, a := range list {
		b.WriteString(a.Address + " " + string(a.State))
		for _, h := range a.Holders {
			b.WriteString(" " + h.UserName + "/" + h.Comment)
			if h.Favorite {
				b.WriteString("*")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
