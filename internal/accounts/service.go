package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Service manages users over a store. It is safe for concurrent use.
type Service struct {
	st store.Store
	// hashes bounds concurrent argon2id computations: the process-wide
	// limiter unless Options set another bound.
	hashes *hashLimiter

	// dummyHash is verified against when a name is unknown, so that an
	// unknown name costs the same time as a wrong password.
	dummyOnce sync.Once
	dummyHash string
}

// Options tune a Service. The zero value is what New uses.
type Options struct {
	// MaxConcurrentHashes bounds the argon2id computations (password
	// checks and new hashes, about 19 MiB each) this Service runs at once;
	// callers past it wait, as long as their context allows. 0 shares one
	// process-wide bound of GOMAXPROCS (at least 2) with every other
	// Service built without a bound of its own.
	MaxConcurrentHashes int
}

// New returns a Service over st with the default Options.
func New(st store.Store) *Service {
	return NewWithOptions(st, Options{})
}

// NewWithOptions returns a Service over st tuned by opts.
func NewWithOptions(st store.Store, opts Options) *Service {
	s := &Service{st: st, hashes: processHashes}
	if opts.MaxConcurrentHashes > 0 {
		s.hashes = newHashLimiter(opts.MaxConcurrentHashes)
	}
	return s
}

// hashPassword is HashPassword in one of the Service's hashing slots.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	mem, err := s.hashes.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer s.hashes.release(mem)
	return hashPasswordIn(mem, password)
}

// Add creates a user who is active at once (the command line's way).
func (s *Service) Add(ctx context.Context, name, password string, admin bool) (store.User, error) {
	return s.create(ctx, name, password, admin, store.UserActive)
}

// SignUp creates a pending user, who may log in once an admin approves
// them (the web app's way).
func (s *Service) SignUp(ctx context.Context, name, password string) (store.User, error) {
	return s.create(ctx, name, password, false, store.UserPending)
}

func (s *Service) create(ctx context.Context, name, password string, admin bool, status store.UserStatus) (store.User, error) {
	if err := ValidateName(name); err != nil {
		return store.User{}, err
	}
	if err := ValidatePassword(password); err != nil {
		return store.User{}, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return store.User{}, err
	}
	u := store.User{Name: name, PasswordHash: hash, Admin: admin, Status: status}
	err = s.st.CreateUser(ctx, &u)
	if errors.Is(err, store.ErrExists) {
		return store.User{}, errorf(ErrExists, "user %q already exists", name)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("accounts: add %s: %w", name, err)
	}
	return u, nil
}

// Get returns the user called name.
func (s *Service) Get(ctx context.Context, name string) (store.User, error) {
	u, err := s.st.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errorf(ErrNotFound, "user %q does not exist", name)
	}
	if err != nil {
		return store.User{}, fmt.Errorf("accounts: look up %s: %w", name, err)
	}
	return u, nil
}

// List returns every user.
func (s *Service) List(ctx context.Context) ([]store.User, error) {
	us, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("accounts: list users: %w", err)
	}
	return us, nil
}

// Approve lets a pending user log in. Approving an active user changes
// nothing; a disabled user is re-enabled with Enable, not Approve.
func (s *Service) Approve(ctx context.Context, name string) error {
	return s.setStatus(ctx, name, store.UserPending, store.UserActive, "approve")
}

// Enable lets a disabled user log in again. Enabling an active user
// changes nothing; a pending user is let in with Approve, not Enable.
func (s *Service) Enable(ctx context.Context, name string) error {
	return s.setStatus(ctx, name, store.UserDisabled, store.UserActive, "enable")
}

// Disable stops a user from logging in and from using their tokens. Their
// addresses keep receiving mail. Disabling a disabled user changes nothing.
func (s *Service) Disable(ctx context.Context, name string) error {
	u, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if u.Status == store.UserDisabled {
		return nil
	}
	u.Status = store.UserDisabled
	return s.update(ctx, u, "disable")
}

// setStatus moves a user from one status to another.
func (s *Service) setStatus(ctx context.Context, name string, from, to store.UserStatus, verb string) error {
	u, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	switch u.Status {
	case to:
		return nil
	case from:
		u.Status = to
		return s.update(ctx, u, verb)
	}
	return errorf(ErrWrongState, "cannot %s user %q: the user is %s, not %s", verb, name, u.Status, from)
}

func (s *Service) update(ctx context.Context, u store.User, verb string) error {
	err := s.st.UpdateUser(ctx, u)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(ErrNotFound, "user %q does not exist", u.Name)
	}
	if err != nil {
		return fmt.Errorf("accounts: %s %s: %w", verb, u.Name, err)
	}
	return nil
}

// Delete removes a user with their holds, grants and tokens. Addresses
// nobody else holds are revoked; their names are returned.
func (s *Service) Delete(ctx context.Context, name string) (revoked []string, err error) {
	u, err := s.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	revoked, err = s.st.DeleteUser(ctx, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(ErrNotFound, "user %q does not exist", name)
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: delete %s: %w", name, err)
	}
	return revoked, nil
}

// SetPassword replaces a user's password.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	u, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if u.PasswordHash, err = s.hashPassword(ctx, password); err != nil {
		return err
	}
	return s.update(ctx, u, "set password of")
}

// Authenticate checks a name and password. An unknown name and a wrong
// password both give ErrBadCredentials and take the same hashing time
// (waiting for a hashing slot included). Only after the password matches
// does it tell ErrPending or ErrDisabled, so the state of an account leaks
// to nobody without its password. When ctx ends before a hashing slot is
// free the error wraps ErrBusy: a temporary failure, which callers must
// not count as a wrong password.
func (s *Service) Authenticate(ctx context.Context, name, password string) (store.User, error) {
	u, err := s.st.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.spendHashTime(ctx, password); err != nil {
			return store.User{}, err
		}
		return store.User{}, errorf(ErrBadCredentials, "bad user name or password")
	}
	if err != nil {
		return store.User{}, fmt.Errorf("accounts: authenticate: %w", err)
	}
	mem, err := s.hashes.acquire(ctx)
	if err != nil {
		return store.User{}, err
	}
	ok, err := verifyPasswordIn(mem, u.PasswordHash, password)
	s.hashes.release(mem)
	if err != nil {
		// A user without a usable hash cannot log in. The message is the
		// usual one, so it reveals nothing to whoever tried; the error
		// still matches ErrMalformedHash for the server's log.
		return store.User{}, &kindError{kind: errors.Join(ErrBadCredentials, err), msg: "accounts: bad user name or password"}
	}
	if !ok {
		return store.User{}, errorf(ErrBadCredentials, "bad user name or password")
	}
	if err := statusErr(u); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// spendHashTime verifies password against a hash of a random password
// with the current parameters, for the time it takes, in a hashing slot
// like a real check.
func (s *Service) spendHashTime(ctx context.Context, password string) error {
	mem, err := s.hashes.acquire(ctx)
	if err != nil {
		return err
	}
	defer s.hashes.release(mem)
	s.dummyOnce.Do(func() {
		h, err := hashPasswordIn(mem, GeneratePassword())
		if err != nil {
			// Not reachable with crypto/rand; fall back to a fixed hash of
			// the same cost.
			h = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQwMTIzNDU2$V3TMHtYdnGDqc42fFQ1u4LzobNNDkH8a+R5hG8vjy18"
		}
		s.dummyHash = h
	})
	_, _ = verifyPasswordIn(mem, s.dummyHash, password)
	return nil
}

func statusErr(u store.User) error {
	switch u.Status {
	case store.UserActive:
		return nil
	case store.UserPending:
		return errorf(ErrPending, "user %q is waiting for an admin's approval", u.Name)
	case store.UserDisabled:
		return errorf(ErrDisabled, "user %q is disabled", u.Name)
	}
	return errorf(ErrDisabled, "user %q has unknown status %q", u.Name, u.Status)
}

// tokenPrefix marks Cabalmail API tokens, so that secret scanners and
// people can recognise one.
const tokenPrefix = "cm_"

// tokenBytes is the number of random bytes in a token.
const tokenBytes = 32

// NewToken creates an API token for the user and returns its secret, which
// is shown once: the store keeps only its SHA-256.
func (s *Service) NewToken(ctx context.Context, name string) (secret string, err error) {
	u, err := s.Get(ctx, name)
	if err != nil {
		return "", err
	}
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("accounts: token for %s: %w", name, err)
	}
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	t := store.Token{UserID: u.ID, Hash: tokenHash(secret)}
	if err := s.st.CreateToken(ctx, &t); err != nil {
		return "", fmt.Errorf("accounts: token for %s: %w", name, err)
	}
	return secret, nil
}

// UserByToken returns the user an API token belongs to. An unknown or
// malformed token is ErrBadCredentials; a token of a pending or disabled
// user is ErrPending or ErrDisabled.
func (s *Service) UserByToken(ctx context.Context, secret string) (store.User, error) {
	body, ok := strings.CutPrefix(secret, tokenPrefix)
	if !ok || base64.RawURLEncoding.DecodedLen(len(body)) != tokenBytes {
		return store.User{}, errorf(ErrBadCredentials, "malformed token (want %s followed by %d base64url characters)", tokenPrefix, base64.RawURLEncoding.EncodedLen(tokenBytes))
	}
	u, err := s.st.UserByToken(ctx, tokenHash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errorf(ErrBadCredentials, "unknown token")
	}
	if err != nil {
		return store.User{}, fmt.Errorf("accounts: token: %w", err)
	}
	if err := statusErr(u); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// tokenHash is what the store keeps of a token: hex SHA-256 of the secret.
func tokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
