package mailbox

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

// env is a mailbox store on a fresh SQLite database and blob directory.
type env struct {
	dir   string
	db    *sqlite.Store
	blobs *blob.Dir
	s     *Store
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newEnv opens a store in a temporary directory; opts may adjust Options.
func newEnv(t testing.TB, opts func(*Options)) *env {
	t.Helper()
	return openEnv(t, t.TempDir(), opts)
}

// openEnv opens a store on the database and blobs in dir, as a second
// process sharing them would.
func openEnv(t testing.TB, dir string, opts func(*Options)) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.OpenDir(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Store: db, Blobs: BlobsOf(blobs), PollInterval: 100 * time.Millisecond}
	if opts != nil {
		opts(&o)
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, db: db, blobs: blobs, s: s}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return e
}

func (e *env) user(t testing.TB, name string) int64 {
	t.Helper()
	u := store.User{Name: name, Status: store.UserActive}
	if err := e.db.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func (e *env) append(t testing.TB, user int64, mbox, msg string, flags Flags) AppendResult {
	t.Helper()
	r, err := e.s.Append(testCtx(t), user, mbox, strings.NewReader(msg), AppendOptions{Flags: flags})
	if err != nil {
		t.Fatalf("append to %s: %v", mbox, err)
	}
	return r
}

func (e *env) selectBox(t testing.TB, user int64, name string) *View {
	t.Helper()
	v, err := e.s.Select(testCtx(t), user, name)
	if err != nil {
		t.Fatalf("select %s: %v", name, err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// blobCount counts the bodies in the blob directory.
func (e *env) blobCount(t testing.TB) int {
	t.Helper()
	n := 0
	if err := e.blobs.Walk(context.Background(), func(string, time.Time) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func msg(subject, body string) string {
	return "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: " + subject +
		"\r\nDate: Mon, 2 Jan 2006 15:04:05 -0700\r\nMessage-ID: <" + subject + "@example.com>\r\n\r\n" + body + "\r\n"
}
