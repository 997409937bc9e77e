package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler has our server profile itself (net/http/pprof) while the client
// repeats one operation, so the profile shows where that operation's time
// goes rather than the benchmark's setup.
type profiler struct {
	addr string        // the server's pprof address
	dir  string        // where the profiles go
	d    time.Duration // length of each loop
}

func (p *profiler) run(addr string) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	c, err := login(addr, benchUser, benchPassword)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.cmd("SELECT INBOX", nil); err != nil {
		return err
	}
	loops := []struct {
		name string
		op   func() error
	}{
		{"select-again", func() error { _, err := c.cmd("SELECT INBOX", nil); return err }},
		{"fetch-flags", func() error { _, err := c.cmd("UID FETCH 1:* (UID FLAGS)", nil); return err }},
		{"login-select", func() error {
			_, err := timeSelect(addr)
			return err
		}},
	}
	for _, l := range loops {
		if err := p.loop(l.name, l.op); err != nil {
			return fmt.Errorf("profile %s: %w", l.name, err)
		}
	}
	return nil
}

// loop repeats op while the server records a CPU profile, and saves it.
func (p *profiler) loop(name string, op func() error) error {
	done := make(chan error, 1)
	go func() {
		url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, int(p.d.Seconds()))
		resp, err := http.Get(url)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(p.dir, name+".pprof"))
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		done <- err
	}()
	start := time.Now()
	n := 0
	for time.Since(start) < p.d {
		if err := op(); err != nil {
			return err
		}
		n++
	}
	logf("profile %s: %d in %v, %v each", name, n, p.d, time.Since(start)/time.Duration(n))
	return <-done
}
