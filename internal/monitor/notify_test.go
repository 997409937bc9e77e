package monitor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// sinkRequest is what the fake ntfy and Pushover servers received.
type sinkRequest struct {
	sink   string // "ntfy" or "pushover"
	path   string
	header http.Header
	body   string
	form   url.Values
}

type fakeSinks struct {
	mu   sync.Mutex
	reqs []sinkRequest
	fail bool
}

func (f *fakeSinks) take() []sinkRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

func newFakeSinks(t *testing.T) (*fakeSinks, *httptest.Server) {
	f := &fakeSinks{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		req := sinkRequest{path: r.URL.Path, header: r.Header.Clone(), body: string(b)}
		if r.URL.Path == "/1/messages.json" {
			req.sink = "pushover"
			req.form, _ = url.ParseQuery(string(b))
			if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("pushover content type %q", ct)
			}
		} else {
			req.sink = "ntfy"
		}
		if r.Method != http.MethodPost {
			t.Errorf("%s: method %s", req.sink, r.Method)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		fail := f.fail
		f.mu.Unlock()
		if fail {
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const (
	ntfyToken     = "tk_secretntfy"
	pushoverToken = "apptokensecret"
	pushoverUser  = "userkeysecret"
)

func newTestNotifier(srv *httptest.Server, clock *fakeClock) *Notifier {
	return NewNotifier(NotifierOptions{
		NtfyURL: srv.URL + "/", NtfyTopic: "cabal-alerts", NtfyToken: ntfyToken,
		PushoverURL: srv.URL + "/1/messages.json", PushoverToken: pushoverToken, PushoverUser: pushoverUser,
		Client: srv.Client(), Now: clock.Now,
	})
}

var (
	probeCrit = Alert{Name: "ProbeFailure", Severity: Critical, Labels: map[string]string{"probe": "smtp-in tcp 127.0.0.1:25"},
		Summary: "Probe smtp-in tcp 127.0.0.1:25 has been failing for 2 minutes.", RunbookURL: "https://example.test/docs/runbooks/ProbeFailure.md"}
	certWarn = Alert{Name: "CertExpiring", Severity: Warning, Labels: map[string]string{"name": "mail.example.test"},
		Summary: "expires in under 21 days", RunbookURL: "https://example.test/docs/runbooks/CertExpiring.md"}
)

func TestNotifierFormatsAndRouting(t *testing.T) {
	sinks, srv := newFakeSinks(t)
	clock := &fakeClock{t: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)}
	n := newTestNotifier(srv, clock)
	ctx := context.Background()

	// Critical: ntfy priority 5 and Pushover priority 1, runbook in both.
	if err := n.Fire(ctx, probeCrit); err != nil {
		t.Fatal(err)
	}
	reqs := sinks.take()
	if len(reqs) != 2 {
		t.Fatalf("critical: %d requests, want ntfy and pushover", len(reqs))
	}
	for _, r := range reqs {
		switch r.sink {
		case "ntfy":
			if r.path != "/cabal-alerts" {
				t.Errorf("ntfy path %q", r.path)
			}
			h := r.header
			if h.Get("Priority") != "5" || h.Get("Click") != probeCrit.RunbookURL || h.Get("Title") != "[CRITICAL] ProbeFailure" ||
				h.Get("Authorization") != "Bearer "+ntfyToken || h.Get("Tags") != "rotating_light" {
				t.Errorf("ntfy headers %v", h)
			}
			if r.body != probeCrit.Summary {
				t.Errorf("ntfy body %q", r.body)
			}
		case "pushover":
			f := r.form
			if f.Get("token") != pushoverToken || f.Get("user") != pushoverUser || f.Get("priority") != "1" ||
				f.Get("url") != probeCrit.RunbookURL || f.Get("title") != "[CRITICAL] ProbeFailure" || f.Get("message") != probeCrit.Summary {
				t.Errorf("pushover form %v", f)
			}
		}
	}

	// Warning: ntfy only, priority 3.
	if err := n.Fire(ctx, certWarn); err != nil {
		t.Fatal(err)
	}
	reqs = sinks.take()
	if len(reqs) != 1 || reqs[0].sink != "ntfy" || reqs[0].header.Get("Priority") != "3" || reqs[0].header.Get("Click") != certWarn.RunbookURL {
		t.Fatalf("warning: %+v", reqs)
	}

	// Resolved: a notice to the same sinks, Pushover at priority 0.
	if err := n.Resolve(ctx, Alert{Name: probeCrit.Name, Severity: Critical, Labels: probeCrit.Labels}); err != nil {
		t.Fatal(err)
	}
	reqs = sinks.take()
	if len(reqs) != 2 {
		t.Fatalf("resolved: %d requests", len(reqs))
	}
	for _, r := range reqs {
		if r.sink == "ntfy" && (r.header.Get("Title") != "[RESOLVED] ProbeFailure" || !strings.HasPrefix(r.body, "Resolved: ") || r.header.Get("Click") != probeCrit.RunbookURL) {
			t.Errorf("ntfy resolved %+v", r)
		}
		if r.sink == "pushover" && (r.form.Get("priority") != "0" || r.form.Get("title") != "[RESOLVED] ProbeFailure") {
			t.Errorf("pushover resolved %v", r.form)
		}
	}
	// Resolving what is not firing sends nothing.
	if err := n.Resolve(ctx, probeCrit); err != nil || len(sinks.take()) != 0 {
		t.Errorf("second resolve: %v", err)
	}
}

func TestNotifierRepeatAndTwins(t *testing.T) {
	sinks, srv := newFakeSinks(t)
	clock := &fakeClock{t: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)}
	n := newTestNotifier(srv, clock)
	ctx := context.Background()
	certCrit := certWarn
	certCrit.Severity = Critical

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	count := func(want int, what string) {
		t.Helper()
		if got := len(sinks.take()); got != want {
			t.Errorf("%s: %d requests, want %d", what, got, want)
		}
	}
	must(n.Fire(ctx, certWarn))
	count(1, "warning starts")
	clock.Add(6*time.Hour - time.Second)
	must(n.Fire(ctx, certWarn))
	count(0, "warning just before 6 h")
	clock.Add(time.Second)
	must(n.Fire(ctx, certWarn))
	count(1, "warning repeated at 6 h")

	must(n.Fire(ctx, certCrit))
	count(2, "critical twin starts")
	clock.Add(7 * time.Hour)
	must(n.Fire(ctx, certWarn))
	count(0, "warning while its critical twin fires")
	clock.Add(17*time.Hour - time.Second)
	must(n.Fire(ctx, certCrit))
	count(0, "critical just before 24 h")
	clock.Add(time.Second)
	must(n.Fire(ctx, certCrit))
	count(2, "critical repeated at 24 h")

	// A different certificate's warning is not a twin.
	other := certWarn
	other.Labels = map[string]string{"name": "other.example.test"}
	must(n.Fire(ctx, other))
	count(1, "unrelated warning")

	must(n.Resolve(ctx, certCrit))
	count(2, "critical resolved")
	must(n.Fire(ctx, certWarn))
	count(1, "warning again once the critical cleared")
}

// A failing sink is an error that names the sink but no secret.
func TestNotifierErrorsHideSecrets(t *testing.T) {
	sinks, srv := newFakeSinks(t)
	sinks.fail = true
	n := newTestNotifier(srv, &fakeClock{t: time.Now()})
	err := n.Fire(context.Background(), probeCrit)
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("err %v", err)
	}
	for _, s := range []string{ntfyToken, pushoverToken, pushoverUser} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error reveals a secret: %v", err)
		}
	}
}
