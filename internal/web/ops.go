package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/web/totp"
)

// The operations below are shared by the JSON API and the pages.

// login checks a name, password and (when enrolled) TOTP code, applies the
// login rate limits and starts a session. An admin without TOTP gets a
// session that may only enrol.
func (s *Server) login(w http.ResponseWriter, r *http.Request, name, password, code string) (store.Session, store.User, error) {
	ctx := r.Context()
	ip := clientIP(r)
	if ok, wait := s.loginIP.allow(ip); !ok {
		return store.Session{}, store.User{}, errf(http.StatusTooManyRequests, "rate_limited", "too many attempts from your address; try again in %s", roundUp(wait))
	}
	userKey := strings.ToLower(name)
	if blocked, wait := s.loginUser.blocked(userKey); blocked {
		return store.Session{}, store.User{}, errf(http.StatusTooManyRequests, "rate_limited", "too many failed logins for this user; try again in %s", roundUp(wait))
	}
	u, err := s.opts.Accounts.Authenticate(ctx, name, password)
	if err != nil {
		if errors.Is(err, accounts.ErrBadCredentials) {
			s.loginUser.record(userKey)
			metrics.AuthFailure("web")
		}
		return store.Session{}, store.User{}, err
	}
	t, err := s.opts.Store.TOTPByUser(ctx, u.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Session{}, store.User{}, fmt.Errorf("web: totp of %s: %w", u.Name, err)
	}
	mfa := !u.Admin
	if err == nil && t.Enabled {
		if strings.TrimSpace(code) == "" {
			return store.Session{}, store.User{}, errf(http.StatusUnauthorized, "totp_required", "enter the 6-digit code from your authenticator app")
		}
		if err := s.useCode(ctx, u, t, code); err != nil {
			s.loginUser.record(userKey)
			return store.Session{}, store.User{}, err
		}
		mfa = true
	}
	s.loginUser.reset(userKey)
	sess, err := s.newSession(w, r, u, mfa)
	return sess, u, err
}

// useCode verifies a TOTP code and records its step, refusing reuse.
func (s *Server) useCode(ctx context.Context, u store.User, t store.TOTP, code string) error {
	step, ok := totp.Verify(t.Secret, code, s.now())
	if !ok {
		metrics.AuthFailure("web")
		return errf(http.StatusUnauthorized, "bad_totp", "that code is not valid; check your device's clock and try the current code")
	}
	err := s.opts.Store.UseTOTPStep(ctx, u.ID, step)
	if errors.Is(err, store.ErrConflict) {
		return errf(http.StatusUnauthorized, "totp_reused", "that code was already used; wait for the next one")
	}
	if err != nil {
		return fmt.Errorf("web: record totp step of %s: %w", u.Name, err)
	}
	return nil
}

func roundUp(d time.Duration) time.Duration {
	if d < time.Second {
		return time.Second
	}
	return d.Round(time.Second)
}

// signUp creates a pending user according to the sign-up mode.
func (s *Server) signUp(r *http.Request, name, password, invite string) (store.User, error) {
	ctx := r.Context()
	if s.opts.Signup == SignupClosed {
		return store.User{}, errf(http.StatusForbidden, "signup_closed", "sign-up is closed here; ask an admin to create your account")
	}
	if ok, wait := s.loginIP.allow(clientIP(r)); !ok {
		return store.User{}, errf(http.StatusTooManyRequests, "rate_limited", "too many attempts from your address; try again in %s", roundUp(wait))
	}
	// Check everything that can be checked before spending an invite.
	if err := accounts.ValidateName(name); err != nil {
		return store.User{}, err
	}
	if err := accounts.ValidatePassword(password); err != nil {
		return store.User{}, err
	}
	if _, err := s.opts.Accounts.Get(ctx, name); err == nil {
		return store.User{}, errf(http.StatusConflict, "user_exists", "the name %q is taken; choose another", name)
	} else if !errors.Is(err, accounts.ErrNotFound) {
		return store.User{}, err
	}
	if s.opts.Signup == SignupInvite {
		invite = strings.TrimSpace(invite)
		if invite == "" {
			return store.User{}, errf(http.StatusForbidden, "invite_required", "sign-up needs an invite code from an admin")
		}
		_, err := s.opts.Store.UseInvite(ctx, hashSecret(invite), name, s.now())
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, errf(http.StatusForbidden, "bad_invite", "that invite code is unknown, used or expired")
		}
		if err != nil {
			return store.User{}, fmt.Errorf("web: use invite: %w", err)
		}
	}
	return s.opts.Accounts.SignUp(ctx, name, password)
}

// startTOTP gives the user a new, not yet enabled secret. A user whose TOTP
// is already enabled must have an admin reset it first.
func (s *Server) startTOTP(ctx context.Context, u store.User) (secret []byte, err error) {
	t, err := s.opts.Store.TOTPByUser(ctx, u.ID)
	switch {
	case err == nil && t.Enabled:
		return nil, errf(http.StatusConflict, "totp_enrolled", "two-factor authentication is already set up for %s", u.Name)
	case err == nil:
		return t.Secret, nil // enrolment in progress: show the same secret again
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("web: totp of %s: %w", u.Name, err)
	}
	secret, err = totp.NewSecret()
	if err != nil {
		return nil, err
	}
	if err := s.opts.Store.SetTOTP(ctx, &store.TOTP{UserID: u.ID, Secret: secret}); err != nil {
		return nil, fmt.Errorf("web: store totp of %s: %w", u.Name, err)
	}
	return secret, nil
}

// confirmTOTP enables the pending secret with a first code and replaces
// the session with one that passed the second factor.
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request, c *caller, code string) (store.Session, error) {
	ctx := r.Context()
	t, err := s.opts.Store.TOTPByUser(ctx, c.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, errf(http.StatusConflict, "totp_not_started", "start the set-up first: no secret has been issued")
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("web: totp of %s: %w", c.User.Name, err)
	}
	if t.Enabled {
		return store.Session{}, errf(http.StatusConflict, "totp_enrolled", "two-factor authentication is already set up")
	}
	if err := s.useCode(ctx, c.User, t, code); err != nil {
		return store.Session{}, err
	}
	if err := s.endSession(w, r); err != nil {
		return store.Session{}, err
	}
	return s.newSession(w, r, c.User, true)
}

// addressView is an address as its holder sees it.
type addressView struct {
	Address      string     `json:"address"`
	Local        string     `json:"local"`
	Subdomain    string     `json:"subdomain"`
	Apex         string     `json:"apex"`
	State        string     `json:"state"`
	Comment      string     `json:"comment"`
	Favorite     bool       `json:"favorite"`
	CreatedAt    time.Time  `json:"created_at"`
	Received     int64      `json:"received"`
	LastReceived *time.Time `json:"last_received,omitempty"`
	Holders      []string   `json:"holders,omitempty"` // admin views only
}

// viewOf renders a as userID sees it; with all, it also lists the holders.
func viewOf(a store.Address, userID int64, all bool) addressView {
	v := addressView{Address: a.Address, Local: a.Local, Subdomain: a.Subdomain, Apex: a.Apex, State: string(a.State), CreatedAt: a.CreatedAt}
	for _, h := range a.Holders {
		if h.UserID == userID {
			v.Comment, v.Favorite, v.Received = h.Comment, h.Favorite, h.Received
			if !h.LastReceived.IsZero() {
				lr := h.LastReceived
				v.LastReceived = &lr
			}
			if v.CreatedAt.IsZero() || h.CreatedAt.After(v.CreatedAt) {
				v.CreatedAt = h.CreatedAt
			}
		}
		if all {
			v.Holders = append(v.Holders, h.UserName)
		}
	}
	return v
}

// listOwn returns the caller's addresses matching the text filter q,
// favorites first, then newest first.
func (s *Server) listOwn(ctx context.Context, c *caller, q string) ([]addressView, error) {
	list, err := s.opts.Addresses.List(ctx, c.actor(), store.AddressFilter{UserID: c.User.ID})
	if err != nil {
		return nil, err
	}
	out := filterViews(list, c.User.ID, false, q)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Favorite != out[j].Favorite {
			return out[i].Favorite
		}
		return out[i].CreatedAt.After(out[j].CreatedAt)
	})
	return out, nil
}

// filterViews keeps the addresses whose name, comment or (for admins)
// holders contain every word of q, case-insensitively.
func filterViews(list []store.Address, userID int64, all bool, q string) []addressView {
	words := strings.Fields(strings.ToLower(q))
	out := make([]addressView, 0, len(list))
	for _, a := range list {
		v := viewOf(a, userID, all)
		if len(words) > 0 && !matches(a, v, words) {
			continue
		}
		out = append(out, v)
	}
	return out
}

// matches looks in the address, the state, the viewer's comment and, in
// admin views, every holder's name and comment.
func matches(a store.Address, v addressView, words []string) bool {
	var b strings.Builder
	b.WriteString(v.Address + " " + v.State + " " + v.Comment)
	if v.Holders != nil {
		for _, h := range a.Holders {
			b.WriteString(" " + h.UserName + " " + h.Comment)
		}
	}
	hay := strings.ToLower(b.String())
	for _, w := range words {
		if !strings.Contains(hay, w) {
			return false
		}
	}
	return true
}

// audit records an admin action the domain packages do not record
// themselves (user management, invites).
func (s *Server) audit(ctx context.Context, c *caller, action, target, detail string) error {
	e := &store.AuditEntry{Time: s.now(), Actor: c.User.Name, Action: action, Target: target, Detail: detail}
	if err := s.opts.Store.AddAudit(ctx, e); err != nil {
		return fmt.Errorf("web: %s %s was done but not written to the audit log: %w", action, target, err)
	}
	return nil
}

// adminUserAction applies one of the admin's user operations by name and
// audits it. reset returns the new password for "reset-password".
func (s *Server) adminUserAction(ctx context.Context, c *caller, op, name string) (reset string, err error) {
	acc := s.opts.Accounts
	if name == c.User.Name && (op == "disable" || op == "delete") {
		return "", errf(http.StatusConflict, "self", "you cannot %s your own account; ask another admin", op)
	}
	u, err := acc.Get(ctx, name)
	if err != nil {
		return "", err
	}
	switch op {
	case "approve":
		err = acc.Approve(ctx, name)
	case "enable":
		err = acc.Enable(ctx, name)
	case "disable":
		if err = acc.Disable(ctx, name); err == nil {
			err = s.opts.Store.DeleteUserSessions(ctx, u.ID)
		}
	case "delete":
		var revoked []string
		if revoked, err = acc.Delete(ctx, name); err == nil {
			return "", s.audit(ctx, c, "user.delete", name, "revoked "+strings.Join(revoked, ","))
		}
	case "reset-password":
		reset = accounts.GeneratePassword()
		if err = acc.SetPassword(ctx, name, reset); err == nil {
			err = s.opts.Store.DeleteUserSessions(ctx, u.ID)
		}
	case "reset-totp":
		if err = s.opts.Store.DeleteTOTP(ctx, u.ID); err == nil {
			err = s.opts.Store.DeleteUserSessions(ctx, u.ID)
		}
	default:
		return "", errf(http.StatusBadRequest, "invalid", "unknown user operation %q", op)
	}
	if err != nil {
		return "", err
	}
	return reset, s.audit(ctx, c, "user."+op, name, "")
}

// inviteTTL is how long an invite code stays valid.
const inviteTTL = 7 * 24 * time.Hour

// createInvite issues a new invite code, shown once.
func (s *Server) createInvite(ctx context.Context, c *caller, note string) (string, store.Invite, error) {
	if len(note) > 200 || strings.ContainsFunc(note, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", store.Invite{}, errf(http.StatusBadRequest, "invalid", "the note must be one line of at most 200 characters")
	}
	code, err := randomSecret(12)
	if err != nil {
		return "", store.Invite{}, err
	}
	inv := store.Invite{Hash: hashSecret(code), CreatedBy: c.User.Name, Note: note, ExpiresAt: s.now().Add(inviteTTL)}
	if err := s.opts.Store.CreateInvite(ctx, &inv); err != nil {
		return "", store.Invite{}, fmt.Errorf("web: create invite: %w", err)
	}
	return code, inv, s.audit(ctx, c, "invite.create", fmt.Sprintf("#%d", inv.ID), note)
}

func (s *Server) deleteInvite(ctx context.Context, c *caller, id int64) error {
	err := s.opts.Store.DeleteInvite(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return errf(http.StatusNotFound, "not_found", "invite #%d does not exist", id)
	}
	if err != nil {
		return fmt.Errorf("web: delete invite: %w", err)
	}
	return s.audit(ctx, c, "invite.delete", fmt.Sprintf("#%d", id), "")
}

// changePassword changes the caller's own password after checking the
// current one; other sessions end. The check of the current password falls
// under the login limits, so a stolen session cannot guess the password
// faster than the login form allows.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request, c *caller, current, next string) error {
	ctx := r.Context()
	if ok, wait := s.loginIP.allow(clientIP(r)); !ok {
		return errf(http.StatusTooManyRequests, "rate_limited", "too many attempts from your address; try again in %s", roundUp(wait))
	}
	userKey := strings.ToLower(c.User.Name)
	if blocked, wait := s.loginUser.blocked(userKey); blocked {
		return errf(http.StatusTooManyRequests, "rate_limited", "too many wrong passwords for this user; try again in %s", roundUp(wait))
	}
	if _, err := s.opts.Accounts.Authenticate(ctx, c.User.Name, current); err != nil {
		if errors.Is(err, accounts.ErrBadCredentials) {
			s.loginUser.record(userKey)
			return errf(http.StatusForbidden, "bad_credentials", "the current password is wrong")
		}
		return err
	}
	if err := s.opts.Accounts.SetPassword(ctx, c.User.Name, next); err != nil {
		return err
	}
	s.loginUser.reset(userKey)
	_, err := s.endOtherSessions(w, r, c)
	return err
}

// endOtherSessions logs the caller out everywhere else: every session of
// the user ends, and the caller's own session, if the request has one, is
// replaced by a new one (new secret, new CSRF token) that keeps its second
// factor. It returns the new session, or nil for a bearer-token caller.
func (s *Server) endOtherSessions(w http.ResponseWriter, r *http.Request, c *caller) (*store.Session, error) {
	if err := s.opts.Store.DeleteUserSessions(r.Context(), c.User.ID); err != nil {
		return nil, fmt.Errorf("web: end sessions of %s: %w", c.User.Name, err)
	}
	if c.Session == nil {
		return nil, nil
	}
	sess, err := s.newSession(w, r, c.User, c.Session.MFA)
	if err != nil {
		return nil, err
	}
	c.Session = &sess
	return &sess, nil
}
