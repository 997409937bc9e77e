package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/store"
)

// sessionCookie holds the session secret; the store keeps its hash.
const sessionCookie = "cm_session"

// csrfHeader carries the session's CSRF token on API mutations; forms send
// it in the csrfField field.
const (
	csrfHeader = "X-CSRF-Token"
	csrfField  = "csrf"
)

// caller is the authenticated user of a request, loaded from the store on
// every request.
type caller struct {
	User    store.User
	Session *store.Session // nil for a bearer token
	Bearer  bool
}

// actor is the caller acting on their own addresses: always as a plain
// user, so the own-address endpoints never reach someone else's rows, even
// for an admin.
func (c *caller) actor() addresses.Actor {
	return addresses.Actor{UserID: c.User.ID, Name: c.User.Name}
}

// adminActor is the caller acting as an admin.
func (c *caller) adminActor() addresses.Actor {
	return addresses.Actor{UserID: c.User.ID, Name: c.User.Name, Admin: c.User.Admin}
}

type ctxKey struct{}

func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// randomSecret returns n random bytes in base64url.
func randomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("web: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// newSession stores a session for u and sets its cookie.
func (s *Server) newSession(w http.ResponseWriter, r *http.Request, u store.User, mfa bool) (store.Session, error) {
	secret, err := randomSecret(32)
	if err != nil {
		return store.Session{}, err
	}
	csrf, err := randomSecret(32)
	if err != nil {
		return store.Session{}, err
	}
	sess := store.Session{Hash: hashSecret(secret), UserID: u.ID, CSRF: csrf, MFA: mfa, ExpiresAt: s.now().Add(s.opts.SessionTTL)}
	if err := s.opts.Store.CreateSession(r.Context(), &sess); err != nil {
		return store.Session{}, fmt.Errorf("web: create session: %w", err)
	}
	http.SetCookie(w, s.cookie(sessionCookie, secret, int(s.opts.SessionTTL.Seconds())))
	return sess, nil
}

// cookie builds a cookie with the attributes every cookie of ours has.
func (s *Server) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   !s.opts.Dev,
		SameSite: http.SameSiteLaxMode,
	}
}

// endSession deletes the request's session and clears the cookie.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) error {
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	err = s.opts.Store.DeleteSession(r.Context(), hashSecret(c.Value))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("web: delete session: %w", err)
	}
	return nil
}

// errUnauthenticated is the answer to a request without valid credentials.
var errUnauthenticated = errf(http.StatusUnauthorized, "unauthenticated", "log in, or send Authorization: Bearer <token>")

// identify finds the caller of r from a bearer token or the session
// cookie. It returns nil and no error when the request carries neither.
func (s *Server) identify(r *http.Request) (*caller, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return nil, errf(http.StatusUnauthorized, "unauthenticated", "the Authorization header must be \"Bearer <token>\"")
		}
		u, err := s.opts.Accounts.UserByToken(ctx, strings.TrimSpace(token))
		if err != nil {
			if errors.Is(err, accounts.ErrBadCredentials) {
				return nil, errf(http.StatusUnauthorized, "bad_token", "unknown or malformed API token")
			}
			return nil, err
		}
		return &caller{User: u, Bearer: true}, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sess, err := s.opts.Store.SessionByHash(ctx, hashSecret(c.Value), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("web: session: %w", err)
	}
	u, err := s.opts.Store.UserByID(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("web: session user: %w", err)
	}
	if u.Status != store.UserActive {
		// Disabled since logging in: the session is worthless.
		return nil, nil
	}
	return &caller{User: u, Session: &sess}, nil
}

// checkCSRF guards a mutation made with a session cookie: the request must
// carry the session's token (header or form field) and, when the browser
// sends one, an Origin of this very host.
func checkCSRF(r *http.Request, c *caller) error {
	if c == nil || c.Session == nil || safeMethod(r.Method) {
		return nil
	}
	if err := checkOrigin(r); err != nil {
		return err
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue(csrfField)
	}
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.Session.CSRF)) != 1 {
		return errf(http.StatusForbidden, "csrf", "missing or wrong CSRF token; reload the page and try again")
	}
	return nil
}

// checkOrigin refuses a request whose Origin (or, lacking it, Referer)
// names another site.
func checkOrigin(r *http.Request) error {
	o := r.Header.Get("Origin")
	if o == "" {
		o = r.Header.Get("Referer")
	}
	if o == "" || o == "null" && r.Header.Get("Origin") == "" {
		return nil
	}
	u, err := url.Parse(o)
	if err != nil || !strings.EqualFold(u.Host, r.Host) {
		return errf(http.StatusForbidden, "csrf", "cross-site request refused (origin %q)", o)
	}
	return nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// clientIP is the remote address without the port: the key of the login
// rate limit. Proxy headers are not trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
