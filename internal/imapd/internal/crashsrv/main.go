// Command crashsrv serves IMAP on a data directory, for the crash test of
// package imapd: the test kills it with SIGKILL and starts it again on the
// same directory. It is not part of the product.
//
// Usage: crashsrv -data DIR -user NAME -password PW [-max-conns N] [-pprof ADDR]
// It listens on 127.0.0.1 (a free port), prints "listening ADDR" on
// standard output, and allows plaintext login from loopback. The IMAP
// benchmark (internal/imapd/internal/imapbench) runs it too: -max-conns
// raises the per-address and per-user connection limits for its idle
// connections, and -pprof serves net/http/pprof on a loopback address for
// profiling. On SIGUSR1 it returns freed memory to the operating system
// at once (debug.FreeOSMemory), so the benchmark can read a settled RSS
// without waiting minutes for the runtime's background scavenger: a burst
// of logins (Argon2id needs tens of MiB each) otherwise leaves the RSS
// high long after the garbage is collected.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/imapd"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// blobAdapter gives blob.Dir the Open signature mailbox.BlobStore asks for.
type blobAdapter struct{ *blob.Dir }

func (d blobAdapter) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return d.Dir.Open(ctx, key)
}

func main() {
	data := flag.String("data", "", "data directory")
	user := flag.String("user", "", "user to create if missing")
	password := flag.String("password", "", "the user's password")
	maxConns := flag.Int("max-conns", 0, "per-address and per-user connection limit (0: the server's defaults)")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof on this loopback address")
	flag.Parse()
	if *pprofAddr != "" {
		go func() {
			if err := http.ListenAndServe(*pprofAddr, nil); err != nil {
				fmt.Fprintln(os.Stderr, "crashsrv: pprof:", err)
			}
		}()
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			debug.FreeOSMemory()
		}
	}()
	if err := run(*data, *user, *password, *maxConns); err != nil {
		fmt.Fprintln(os.Stderr, "crashsrv:", err)
		os.Exit(1)
	}
}

func run(data, user, password string, maxConns int) error {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(data, "meta.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := blob.OpenDir(filepath.Join(data, "blobs"))
	if err != nil {
		return err
	}
	acc := accounts.New(st)
	if _, err := acc.Add(ctx, user, password, false); err != nil && !errors.Is(err, accounts.ErrExists) {
		return err
	}
	boxes, err := mailbox.Open(ctx, mailbox.Options{Store: st, Blobs: blobAdapter{blobs}})
	if err != nil {
		return err
	}
	defer boxes.Close()
	srv, err := imapd.New(imapd.Options{
		Mailboxes: boxes, Accounts: acc, InsecureAuthOnLoopback: true,
		MaxConnsPerIP: maxConns, MaxConnsPerUser: maxConns,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())
	return srv.ServeListener(ctx, ln, false)
}
