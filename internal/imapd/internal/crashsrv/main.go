// Command crashsrv serves IMAP on a data directory, for the crash test of
// package imapd: the test kills it with SIGKILL and starts it again on the
// same directory. It is not part of the product.
//
// Usage: crashsrv -data DIR -user NAME -password PW
// It listens on 127.0.0.1 (a free port), prints "listening ADDR" on
// standard output, and allows plaintext login from loopback.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"

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
	flag.Parse()
	if err := run(*data, *user, *password); err != nil {
		fmt.Fprintln(os.Stderr, "crashsrv:", err)
		os.Exit(1)
	}
}

func run(data, user, password string) error {
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
