package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/web/totp"
)

// access is what a route demands of its caller.
type access int

const (
	public    access = iota // anyone
	enrolling               // a session, even one still owing its second factor
	user                    // a full session or a bearer token
	admin                   // an admin's full session (never a bearer token)
)

// apiHandler handles one API route for an authorized caller (nil for
// public routes) and returns an error the wrapper reports as JSON.
type apiHandler func(w http.ResponseWriter, r *http.Request, c *caller) error

// api wraps h with authentication, authorization, CSRF and the admin
// mutation limit.
func (s *Server) api(level access, h apiHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := s.authorize(w, r, level, h); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, level access, h apiHandler) error {
	c, err := s.identify(r)
	if err != nil {
		return err
	}
	if level == public {
		// Login and sign-up carry no session token yet; a cross-site form
		// posting them is still refused by its Origin.
		if !safeMethod(r.Method) {
			if err := checkOrigin(r); err != nil {
				return err
			}
		}
		return h(w, r, c)
	}
	if err := checkCSRF(r, c); err != nil {
		return err
	}
	if c == nil {
		return errUnauthenticated
	}
	if level != enrolling && c.Session != nil && !c.Session.MFA {
		return errf(http.StatusForbidden, "totp_enrolment_required", "set up two-factor authentication first (admins must)")
	}
	if level == admin {
		if !c.User.Admin {
			return errf(http.StatusForbidden, "admin_only", "this needs an admin")
		}
		if c.Bearer {
			return errf(http.StatusForbidden, "session_required", "admin actions need a logged-in session with two-factor authentication, not an API token")
		}
		if !safeMethod(r.Method) {
			if ok, wait := s.adminMut.allow(c.User.Name); !ok {
				return errf(http.StatusTooManyRequests, "rate_limited", "at most 30 admin changes a minute; try again in %s", roundUp(wait))
			}
		}
	}
	return h(w, r.WithContext(withCaller(r.Context(), c)), c)
}

// routes builds the whole handler.
func (s *Server) routes() http.Handler {
	m := http.NewServeMux()
	a := func(pattern string, level access, h apiHandler) { m.Handle(pattern, s.api(level, h)) }

	a("POST /api/v1/login", public, s.apiLogin)
	a("POST /api/v1/logout", enrolling, s.apiLogout)
	a("POST /api/v1/signup", public, s.apiSignup)
	a("GET /api/v1/me", enrolling, s.apiMe)
	a("POST /api/v1/totp/enrol", enrolling, s.apiTOTPEnrol)
	a("POST /api/v1/totp/confirm", enrolling, s.apiTOTPConfirm)
	a("POST /api/v1/password", user, s.apiPassword)
	a("POST /api/v1/sessions/end-others", user, s.apiEndOtherSessions)
	a("GET /api/v1/tokens", user, s.apiTokens)
	a("POST /api/v1/tokens", user, s.apiNewToken)
	a("DELETE /api/v1/tokens/{id}", user, s.apiRevokeToken)

	a("GET /api/v1/apexes", user, s.apiApexes)
	a("GET /api/v1/addresses", user, s.apiAddresses)
	a("POST /api/v1/addresses", user, s.apiCreateAddress)
	a("GET /api/v1/addresses/{address}", user, s.apiAddress)
	a("PATCH /api/v1/addresses/{address}", user, s.apiUpdateAddress)
	a("DELETE /api/v1/addresses/{address}", user, s.apiRevokeAddress)
	a("POST /api/v1/addresses/{address}/suspend", user, s.apiSetState(false))
	a("POST /api/v1/addresses/{address}/reinstate", user, s.apiSetState(true))

	s.adminRoutes(a)
	a("/api/", public, func(w http.ResponseWriter, r *http.Request, c *caller) error {
		return errf(http.StatusNotFound, "no_such_endpoint", "no endpoint %s %s", r.Method, r.URL.Path)
	})
	s.pageRoutes(m)
	return s.securityHeaders(m)
}

// securityHeaders sets the headers every response carries.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), clipboard-write=(self)")
		if !s.opts.Dev {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// meView describes the caller.
type meView struct {
	User         string `json:"user"`
	Admin        bool   `json:"admin"`
	MFA          bool   `json:"mfa"`
	TOTPEnrolled bool   `json:"totp_enrolled"`
	CSRFToken    string `json:"csrf_token,omitempty"`
	NeedsTOTP    bool   `json:"totp_enrolment_required"`
}

func (s *Server) me(r *http.Request, u store.User, sess *store.Session) (meView, error) {
	v := meView{User: u.Name, Admin: u.Admin, MFA: sess == nil || sess.MFA}
	if sess != nil {
		v.CSRFToken = sess.CSRF
		v.NeedsTOTP = !sess.MFA
	}
	t, err := s.opts.Store.TOTPByUser(r.Context(), u.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return meView{}, err
	}
	v.TOTPEnrolled = err == nil && t.Enabled
	return v, nil
}

func (s *Server) apiLogin(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	sess, u, err := s.login(w, r, req.Username, req.Password, req.TOTP)
	if err != nil {
		return err
	}
	v, err := s.me(r, u, &sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) apiLogout(w http.ResponseWriter, r *http.Request, _ *caller) error {
	if err := s.endSession(w, r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiSignup(w http.ResponseWriter, r *http.Request, _ *caller) error {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Invite   string `json:"invite"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	u, err := s.signUp(r, req.Username, req.Password, req.Invite)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"user": u.Name, "status": string(u.Status)})
	return nil
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request, c *caller) error {
	v, err := s.me(r, c.User, c.Session)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) apiTOTPEnrol(w http.ResponseWriter, r *http.Request, c *caller) error {
	secret, err := s.startTOTP(r.Context(), c.User)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"secret": totp.EncodeSecret(secret),
		"uri":    totp.URI(s.opts.Issuer, c.User.Name, secret),
		"digits": totp.Digits, "period": totp.Period, "algorithm": "SHA1",
	})
	return nil
}

func (s *Server) apiTOTPConfirm(w http.ResponseWriter, r *http.Request, c *caller) error {
	if c.Bearer {
		return errf(http.StatusForbidden, "session_required", "set up two-factor authentication from a logged-in session")
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	sess, err := s.confirmTOTP(w, r, c, req.Code)
	if err != nil {
		return err
	}
	v, err := s.me(r, c.User, &sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// apiEndOtherSessions logs the caller out everywhere else and answers who
// they are, with the CSRF token of their renewed session.
func (s *Server) apiEndOtherSessions(w http.ResponseWriter, r *http.Request, c *caller) error {
	sess, err := s.endOtherSessions(w, r, c)
	if err != nil {
		return err
	}
	v, err := s.me(r, c.User, sess)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) apiPassword(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if err := s.changePassword(w, r, c, req.Current, req.New); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokenView lists a token without its secret.
type tokenView struct {
	ID        int64      `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
}

func (s *Server) tokenViews(r *http.Request, c *caller) ([]tokenView, error) {
	ts, err := s.opts.Store.ListTokens(r.Context(), c.User.ID)
	if err != nil {
		return nil, err
	}
	out := make([]tokenView, 0, len(ts))
	for _, t := range ts {
		v := tokenView{ID: t.ID, CreatedAt: t.CreatedAt}
		if !t.LastUsed.IsZero() {
			lu := t.LastUsed
			v.LastUsed = &lu
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) apiTokens(w http.ResponseWriter, r *http.Request, c *caller) error {
	ts, err := s.tokenViews(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	return nil
}

func (s *Server) apiNewToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	secret, err := s.opts.Accounts.NewToken(r.Context(), c.User.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": secret, "note": "shown once; keep it somewhere safe"})
	return nil
}

func (s *Server) apiRevokeToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errf(http.StatusBadRequest, "invalid", "token id %q is not a number", r.PathValue("id"))
	}
	if err := s.revokeToken(r, c, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) revokeToken(r *http.Request, c *caller, id int64) error {
	err := s.opts.Store.DeleteToken(r.Context(), c.User.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, "not_found", "you have no token #%d", id)
	}
	return err
}

func (s *Server) apiApexes(w http.ResponseWriter, r *http.Request, c *caller) error {
	gs, err := s.opts.Store.Grants(r.Context(), c.User.ID)
	if err != nil {
		return err
	}
	if gs == nil {
		gs = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"apexes": gs})
	return nil
}

func (s *Server) apiAddresses(w http.ResponseWriter, r *http.Request, c *caller) error {
	list, err := s.listOwn(r.Context(), c, r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"addresses": list})
	return nil
}

// createRequest is the body of POST /api/v1/addresses (DESIGN.md §5).
type createRequest struct {
	Address string `json:"address"`
	Random  bool   `json:"random"`
	Apex    string `json:"apex"`
	Comment string `json:"comment"`
}

func (s *Server) apiCreateAddress(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req createRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	a, err := s.opts.Addresses.Create(r.Context(), c.actor(), addresses.CreateRequest{
		Address: req.Address, Random: req.Random, Apex: req.Apex, Comment: req.Comment,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewOf(a, c.User.ID, false))
	return nil
}

func (s *Server) apiAddress(w http.ResponseWriter, r *http.Request, c *caller) error {
	a, err := s.opts.Addresses.Get(r.Context(), c.actor(), r.PathValue("address"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOf(a, c.User.ID, false))
	return nil
}

func (s *Server) apiUpdateAddress(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req struct {
		Comment  *string `json:"comment"`
		Favorite *bool   `json:"favorite"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Comment == nil && req.Favorite == nil {
		return errf(http.StatusBadRequest, "invalid", "send \"comment\", \"favorite\" or both")
	}
	ctx, addr, act := r.Context(), r.PathValue("address"), c.actor()
	// Look first, so a refused comment leaves the favorite flag alone too.
	if _, err := s.opts.Addresses.Get(ctx, act, addr); err != nil {
		return err
	}
	if req.Comment != nil {
		if err := s.opts.Addresses.SetComment(ctx, act, addr, *req.Comment); err != nil {
			return err
		}
	}
	if req.Favorite != nil {
		if err := s.opts.Addresses.SetFavorite(ctx, act, addr, *req.Favorite); err != nil {
			return err
		}
	}
	return s.apiAddress(w, r, c)
}

func (s *Server) apiRevokeAddress(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.opts.Addresses.Revoke(r.Context(), c.actor(), r.PathValue("address")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiSetState(active bool) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, c *caller) error {
		ctx, addr, act := r.Context(), r.PathValue("address"), c.actor()
		var err error
		if active {
			err = s.opts.Addresses.Reinstate(ctx, act, addr)
		} else {
			err = s.opts.Addresses.Suspend(ctx, act, addr)
		}
		if err != nil {
			return err
		}
		return s.apiAddress(w, r, c)
	}
}

// pathList splits a comma-separated list, dropping empty items.
func pathList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
