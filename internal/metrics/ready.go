package metrics

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// readyTimeout bounds the whole /readyz answer: a check that hangs (a store
// that does not answer) counts as failed.
const readyTimeout = 3 * time.Second

// ReadyCheck reports whether one dependency of the process is usable: the
// store reachable, a listener up. It returns nil when it is.
type ReadyCheck func(ctx context.Context) error

// The readiness checks sit beside the registry, and for the same reason:
// roles add theirs from wherever they start, without plumbing.
var (
	readyMu     sync.Mutex
	readyChecks = map[string]ReadyCheck{}
)

// AddReadyCheck makes /readyz depend on check under name, until the
// returned function removes it (a role that stops removes its listener's
// check). A second check under the same name replaces the first.
func AddReadyCheck(name string, check ReadyCheck) (remove func()) {
	readyMu.Lock()
	defer readyMu.Unlock()
	readyChecks[name] = check
	return func() {
		readyMu.Lock()
		defer readyMu.Unlock()
		delete(readyChecks, name)
	}
}

// Ready runs every check concurrently and returns the failures, one
// "name: error" per entry, sorted by name; none means ready.
func Ready(ctx context.Context) []string {
	readyMu.Lock()
	checks := make(map[string]ReadyCheck, len(readyChecks))
	for k, v := range readyChecks {
		checks[k] = v
	}
	readyMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var mu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan error, 1)
			go func() { done <- check(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				err = fmt.Errorf("no answer within %s", readyTimeout)
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, name+": "+strings.ReplaceAll(err.Error(), "\n", " "))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(failed)
	return failed
}

// serveReady answers /readyz: 200 "ok" when every check passes, else 503
// with one line per failed check.
func serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	failed := Ready(r.Context())
	if len(failed) == 0 {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte(strings.Join(failed, "\n") + "\n"))
}
