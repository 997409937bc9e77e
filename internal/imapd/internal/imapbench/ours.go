package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

type blobAdapter struct{ *blob.Dir }

func (d blobAdapter) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return d.Dir.Open(ctx, key)
}

// fillOurs creates the bench user in a data directory and delivers n
// generated messages to its INBOX through mailbox.Deliver, from several
// goroutines so the store's committer batches them.
func fillOurs(ctx context.Context, data string, n int, g *generator) (time.Duration, error) {
	st, err := sqlite.Open(ctx, filepath.Join(data, "meta.db"))
	if err != nil {
		return 0, err
	}
	defer st.Close()
	blobs, err := blob.OpenDir(filepath.Join(data, "blobs"))
	if err != nil {
		return 0, err
	}
	u, err := accounts.New(st).Add(ctx, benchUser, benchPassword, false)
	if err != nil {
		return 0, err
	}
	boxes, err := mailbox.Open(ctx, mailbox.Options{Store: st, Blobs: blobAdapter{blobs}})
	if err != nil {
		return 0, err
	}
	defer boxes.Close()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				msg, date := g.message(i)
				ds, err := boxes.Deliver(ctx, []int64{u.ID}, bytes.NewReader(msg), mailbox.DeliverOptions{InternalDate: date})
				if err == nil && len(ds) == 1 && ds[0].Err != nil {
					err = ds[0].Err
				}
				if err != nil {
					errc <- fmt.Errorf("deliver %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// startOurs runs the test-only server program on the data directory and
// returns its address.
func startOurs(bin, data string, maxConns int, pprofAddr string) (string, *exec.Cmd, error) {
	args := []string{"-data", data, "-user", benchUser, "-password", benchPassword, "-max-conns", fmt.Sprint(maxConns)}
	if pprofAddr != "" {
		args = append(args, "-pprof", pprofAddr)
	}
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(data, "server.log"))
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return "", nil, fmt.Errorf("server did not start: %w", err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		cmd.Process.Kill()
		return "", nil, fmt.Errorf("server said %q", line)
	}
	return addr, cmd, nil
}

func waitListening(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
