package accounts

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/sqlite"
)

func newService(t *testing.T) (*Service, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st), st
}

func TestAddAndAuthenticate(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t)
	u, err := s.Add(ctx, "alice", "correct horse", true)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Name != "alice" || !u.Admin || u.Status != store.UserActive || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("Add = %+v", u)
	}
	stored, err := st.UserByName(ctx, "alice")
	if err != nil || stored.PasswordHash != u.PasswordHash || strings.Contains(stored.PasswordHash, "correct horse") {
		t.Errorf("stored %+v, %v", stored, err)
	}
	got, err := s.Authenticate(ctx, "alice", "correct horse")
	if err != nil || got.ID != u.ID {
		t.Errorf("Authenticate(right) = %+v, %v", got, err)
	}
	// Wrong password and unknown user: the same error and message.
	_, errWrong := s.Authenticate(ctx, "alice", "correct horsE")
	_, errUnknown := s.Authenticate(ctx, "zed", "correct horse")
	_, errBadName := s.Authenticate(ctx, "Not A Name", "correct horse")
	if s.dummyHash == "" {
		t.Error("a login with an unknown name did not spend hashing time")
	}
	for _, err := range []error{errWrong, errUnknown, errBadName} {
		if !errors.Is(err, ErrBadCredentials) || err.Error() != errWrong.Error() {
			t.Errorf("bad login error %v; want ErrBadCredentials with one message for all", err)
		}
	}
}

func TestAddRefused(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t)
	if _, err := s.Add(ctx, "bob", "password1", false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, pw string
		kind     error
		msg      string
	}{
		{"bob", "password2", ErrExists, `accounts: user "bob" already exists`},
		{"Bob", "password2", ErrInvalidName, "upper-case"},
		{"", "password2", ErrInvalidName, "is empty"},
		{"operator", "password2", ErrInvalidName, "reserved"},
		{"carol", "", ErrInvalidPassword, "accounts: password is empty"},
		{"carol", "short", ErrInvalidPassword, "at least 8"},
		{"carol", strings.Repeat("p", 1025), ErrInvalidPassword, "at most 1024"},
	}
	for _, tt := range tests {
		_, err := s.Add(ctx, tt.name, tt.pw, false)
		if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Add(%q, %.10q) = %v, want %v mentioning %q", tt.name, tt.pw, err, tt.kind, tt.msg)
		}
	}
	us, err := st.ListUsers(ctx)
	if err != nil || len(us) != 1 {
		t.Errorf("refused adds left %d users (%v)", len(us), err)
	}
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	u, err := s.SignUp(ctx, "dave", "pending-pw")
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != store.UserPending || u.Admin {
		t.Fatalf("SignUp = %+v", u)
	}
	login := func() error {
		_, err := s.Authenticate(ctx, "dave", "pending-pw")
		return err
	}
	if err := login(); !errors.Is(err, ErrPending) {
		t.Errorf("pending login: %v, want ErrPending", err)
	}
	// The state is told only to whoever knows the password.
	if _, err := s.Authenticate(ctx, "dave", "wrong-pw!"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("pending login with a wrong password: %v, want ErrBadCredentials", err)
	}
	if err := s.Enable(ctx, "dave"); !errors.Is(err, ErrWrongState) {
		t.Errorf("Enable of a pending user: %v, want ErrWrongState", err)
	}
	if err := s.Approve(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	if err := login(); err != nil {
		t.Errorf("approved login: %v", err)
	}
	if err := s.Approve(ctx, "dave"); err != nil {
		t.Errorf("approving twice: %v", err)
	}
	if err := s.Disable(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	if err := login(); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled login: %v, want ErrDisabled", err)
	}
	if err := s.Disable(ctx, "dave"); err != nil {
		t.Errorf("disabling twice: %v", err)
	}
	if err := s.Approve(ctx, "dave"); !errors.Is(err, ErrWrongState) || !strings.Contains(err.Error(), "is disabled, not pending") {
		t.Errorf("Approve of a disabled user: %v", err)
	}
	if err := s.Enable(ctx, "dave"); err != nil {
		t.Fatal(err)
	}
	if err := login(); err != nil {
		t.Errorf("re-enabled login: %v", err)
	}
	for name, f := range map[string]func(context.Context, string) error{"Approve": s.Approve, "Disable": s.Disable, "Enable": s.Enable} {
		if err := f(ctx, "nobody"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nobody" does not exist`) {
			t.Errorf("%s(nobody) = %v", name, err)
		}
	}
}

func TestSetPassword(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	if _, err := s.Add(ctx, "erin", "first-password", false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, "erin", "short"); !errors.Is(err, ErrInvalidPassword) {
		t.Errorf("short password: %v", err)
	}
	if _, err := s.Authenticate(ctx, "erin", "first-password"); err != nil {
		t.Errorf("a refused password change changed the password: %v", err)
	}
	if err := s.SetPassword(ctx, "erin", "second-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "erin", "first-password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password still works: %v", err)
	}
	if _, err := s.Authenticate(ctx, "erin", "second-password"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := s.SetPassword(ctx, "nobody", "second-password"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetPassword(nobody) = %v", err)
	}
}

func TestMalformedStoredHash(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t)
	u, err := s.Add(ctx, "frank", "frank-password", false)
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash = "$2y$10$not-argon"
	if err := st.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(ctx, "frank", "frank-password")
	if !errors.Is(err, ErrBadCredentials) || !errors.Is(err, ErrMalformedHash) || err.Error() != "accounts: bad user name or password" {
		t.Errorf("login with a malformed stored hash: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t)
	u, err := s.Add(ctx, "gina", "gina-password", false)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := s.NewToken(ctx, "gina")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^cm_[A-Za-z0-9_-]{43}$`).MatchString(secret) {
		t.Fatalf("token %q has the wrong shape", secret)
	}
	other, err := s.NewToken(ctx, "gina")
	if err != nil || other == secret {
		t.Fatalf("second token %q, %v", other, err)
	}
	got, err := s.UserByToken(ctx, secret)
	if err != nil || got.ID != u.ID {
		t.Fatalf("UserByToken = %+v, %v", got, err)
	}
	// Only the SHA-256 is stored: the secret itself finds nothing.
	if _, err := st.UserByToken(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("store found the token by its secret: %v", err)
	}
	if _, err := st.UserByToken(ctx, tokenHash(secret)); err != nil {
		t.Errorf("store lookup by hash: %v", err)
	}
	for _, bad := range []string{"", "cm_", secret[:len(secret)-1], secret + "A", "xx_" + secret[3:], strings.Replace(secret, secret[5:9], "AAAA", 1), "cm_" + strings.Repeat("A", 43)} {
		if bad == secret {
			continue
		}
		if _, err := s.UserByToken(ctx, bad); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("UserByToken(%q) = %v, want ErrBadCredentials", bad, err)
		}
	}
	if err := s.Disable(ctx, "gina"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByToken(ctx, secret); !errors.Is(err, ErrDisabled) {
		t.Errorf("token of a disabled user: %v", err)
	}
	if _, err := s.NewToken(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("NewToken(nobody) = %v", err)
	}
	if _, err := s.SignUp(ctx, "hank", "hank-password"); err != nil {
		t.Fatal(err)
	}
	pending, err := s.NewToken(ctx, "hank")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserByToken(ctx, pending); !errors.Is(err, ErrPending) {
		t.Errorf("token of a pending user: %v", err)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t)
	ivy, err := s.Add(ctx, "ivy", "ivy-password", false)
	if err != nil {
		t.Fatal(err)
	}
	jay, err := s.Add(ctx, "jay", "jay-password", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateDomain(ctx, &store.Domain{Apex: "example.test"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []struct {
		local   string
		holders []int64
	}{{"solo", []int64{ivy.ID}}, {"shared", []int64{ivy.ID, jay.ID}}} {
		row := store.Address{Address: a.local + "@x.example.test", Local: a.local, Subdomain: "x", Apex: "example.test"}
		for _, id := range a.holders {
			row.Holders = append(row.Holders, store.Holding{UserID: id})
		}
		if err := st.CreateAddress(ctx, &row); err != nil {
			t.Fatal(err)
		}
	}
	token, err := s.NewToken(ctx, "ivy")
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := s.Delete(ctx, "ivy")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(revoked, ",") != "solo@x.example.test" {
		t.Errorf("revoked %v, want only the address nobody else holds", revoked)
	}
	if _, err := s.Get(ctx, "ivy"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted user still there: %v", err)
	}
	if _, err := s.UserByToken(ctx, token); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("deleted user's token: %v", err)
	}
	if _, err := s.Authenticate(ctx, "ivy", "ivy-password"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("deleted user's login: %v", err)
	}
	if _, err := s.Delete(ctx, "ivy"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "jay" {
		t.Errorf("List = %+v, %v", list, err)
	}
}

// BenchmarkAuthenticate shows that a wrong password and an unknown name cost
// the same: compare the ns/op of the two.
func BenchmarkAuthenticate(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, b.TempDir()+"/meta.db")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := New(st)
	if _, err := s.Add(ctx, "alice", "correct horse", false); err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"alice", "unknown"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Authenticate(ctx, name, "wrong password"); !errors.Is(err, ErrBadCredentials) {
					b.Fatal(err)
				}
			}
		})
	}
}
