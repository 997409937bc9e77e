package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

func TestAPIBearerAddresses(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.user("alice", false, "example.test")
	e.user("bob", false, "example.test")
	alice := e.bearerClient(e.token("alice"))
	bob := e.bearerClient(e.token("bob"))

	r := alice.do("POST", "/api/v1/addresses", map[string]any{"address": "shop@x1.example.test", "comment": "bookshop"}).want(t, "create named", 201, "")
	if r.body["address"] != "shop@x1.example.test" || r.body["comment"] != "bookshop" || r.body["state"] != "active" {
		t.Errorf("created %v", r.body)
	}
	r = alice.do("POST", "/api/v1/addresses", map[string]any{"random": true, "apex": "example.test", "comment": "rnd"}).want(t, "create random", 201, "")
	random, _ := r.body["address"].(string)
	if !strings.HasSuffix(random, ".example.test") {
		t.Fatalf("random address %q", random)
	}
	list := alice.do("GET", "/api/v1/addresses", nil).want(t, "list", 200, "")
	if n := len(list.body["addresses"].([]any)); n != 2 {
		t.Errorf("alice has %d addresses, want 2", n)
	}
	list = alice.do("GET", "/api/v1/addresses?q=BOOK", nil).want(t, "filter", 200, "")
	if as := list.body["addresses"].([]any); len(as) != 1 || as[0].(map[string]any)["address"] != "shop@x1.example.test" {
		t.Errorf("filter BOOK = %v", as)
	}
	alice.do("GET", "/api/v1/apexes", nil).want(t, "apexes", 200, "")

	// Refusals with the right codes, and nothing stored.
	before := e.snapshot()
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"not granted", map[string]any{"address": "a@b.other.test"}, 403, "not_granted"},
		{"unknown apex", map[string]any{"address": "a@b.nowhere.test"}, 400, "unknown_apex"},
		{"reserved", map[string]any{"address": "a@mail-admin.example.test"}, 400, "reserved"},
		{"exists", map[string]any{"address": "shop@x1.example.test"}, 409, "exists"},
		{"invalid", map[string]any{"address": "no at sign"}, 400, "invalid"},
		{"both", map[string]any{"address": "a@b.example.test", "random": true, "apex": "example.test"}, 400, "invalid"},
		{"unknown field", map[string]any{"address": "a@b.example.test", "users": []string{"bob"}}, 400, "unknown_field"},
		{"wrong type", map[string]any{"random": "yes"}, 400, "bad_json"},
		{"trailing", `{"address":"a@b.example.test"} {}`, 400, "bad_json"},
		{"empty", " ", 400, "bad_json"},
		{"control chars", map[string]any{"address": "z@z9.example.test", "comment": "a\nb"}, 400, "invalid"},
	} {
		alice.do("POST", "/api/v1/addresses", tc.body).want(t, tc.name, tc.status, tc.code)
	}
	big := `{"address":"a@b.example.test","comment":"` + strings.Repeat("x", maxBodyBytes) + `"}`
	alice.do("POST", "/api/v1/addresses", big).want(t, "too large", 413, "too_large")
	if after := e.snapshot(); after != before {
		t.Fatalf("refused creates changed the store:\n%s\nwant\n%s", after, before)
	}

	// Bob can never see or touch alice's addresses: 404, nothing changes.
	esc := url.PathEscape("shop@x1.example.test")
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/addresses/" + esc},
		{"DELETE", "/api/v1/addresses/" + esc},
		{"POST", "/api/v1/addresses/" + esc + "/suspend"},
		{"POST", "/api/v1/addresses/" + esc + "/reinstate"},
	} {
		bob.do(tc.method, tc.path, nil).want(t, "bob "+tc.method+" "+tc.path, 404, "not_found")
	}
	bob.do("PATCH", "/api/v1/addresses/"+esc, map[string]any{"comment": "mine now", "favorite": true}).want(t, "bob patch", 404, "not_found")
	if list := bob.do("GET", "/api/v1/addresses?q=shop", nil); len(list.body["addresses"].([]any)) != 0 {
		t.Errorf("bob sees %v", list.body)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("bob changed alice's addresses:\n%s\nwant\n%s", after, before)
	}

	// Alice manages her own.
	r = alice.do("POST", "/api/v1/addresses/"+esc+"/suspend", nil).want(t, "suspend", 200, "")
	if r.body["state"] != "suspended" {
		t.Errorf("after suspend: %v", r.body)
	}
	r = alice.do("POST", "/api/v1/addresses/"+esc+"/reinstate", nil).want(t, "reinstate", 200, "")
	if r.body["state"] != "active" {
		t.Errorf("after reinstate: %v", r.body)
	}
	r = alice.do("PATCH", "/api/v1/addresses/"+esc, map[string]any{"comment": "books", "favorite": true}).want(t, "patch", 200, "")
	if r.body["comment"] != "books" || r.body["favorite"] != true {
		t.Errorf("after patch: %v", r.body)
	}
	alice.do("PATCH", "/api/v1/addresses/"+esc, map[string]any{}).want(t, "empty patch", 400, "invalid")
	alice.do("DELETE", "/api/v1/addresses/"+esc, nil).want(t, "revoke", 204, "")
	alice.do("GET", "/api/v1/addresses/"+esc, nil).want(t, "revoked", 404, "not_found")
	alice.do("DELETE", "/api/v1/addresses/"+esc, nil).want(t, "revoke again", 404, "not_found")

	// Credentials.
	anon := e.bearerClient("")
	anon.do("GET", "/api/v1/addresses", nil).want(t, "anonymous", 401, "unauthenticated")
	e.bearerClient("cm_nonsense").do("GET", "/api/v1/addresses", nil).want(t, "bad token", 401, "bad_token")
	alice.do("GET", "/api/v1/nothing", nil).want(t, "unknown endpoint", 404, "no_such_endpoint")
	alice.do("GET", "/api/v1/admin/users", nil).want(t, "plain user on admin API", 403, "admin_only")
	if err := e.acc.Disable(e.ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	alice.do("GET", "/api/v1/addresses", nil).want(t, "disabled user's token", 403, "disabled")
}

func TestAPITokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.user("alice", false)
	e.user("bob", false)
	alice := e.bearerClient(e.token("alice"))
	bobTok := e.token("bob")
	r := alice.do("POST", "/api/v1/tokens", nil).want(t, "new token", 201, "")
	tok, _ := r.body["token"].(string)
	e.bearerClient(tok).do("GET", "/api/v1/addresses", nil).want(t, "new token works", 200, "")
	list := alice.do("GET", "/api/v1/tokens", nil).want(t, "list", 200, "").body["tokens"].([]any)
	if len(list) != 2 {
		t.Fatalf("alice has %d tokens, want 2", len(list))
	}
	second := list[1].(map[string]any)["id"].(float64)
	bobs, _ := e.st.ListTokens(e.ctx, 2)
	alice.do("DELETE", "/api/v1/tokens/"+ftoa(bobs[0].ID), nil).want(t, "revoke bob's token", 404, "not_found")
	e.bearerClient(bobTok).do("GET", "/api/v1/addresses", nil).want(t, "bob's token still works", 200, "")
	alice.do("DELETE", "/api/v1/tokens/x", nil).want(t, "bad id", 400, "invalid")
	alice.do("DELETE", "/api/v1/tokens/"+ftoa(int64(second)), nil).want(t, "revoke", 204, "")
	e.bearerClient(tok).do("GET", "/api/v1/addresses", nil).want(t, "revoked token", 401, "bad_token")
}

func ftoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestSessionCSRFAndLogout(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.user("alice", false, "example.test")
	c := e.cookieClient()
	c.login("alice", "wrong-password-1", "").want(t, "wrong password", 401, "bad_credentials")
	c.login("nobody", "wrong-password-1", "").want(t, "unknown user", 401, "bad_credentials")
	r := c.login("alice", "alice-password-1", "").want(t, "login", 200, "")
	if r.body["mfa"] != true || c.csrf == "" {
		t.Fatalf("login answer %v", r.body)
	}
	var sc *http.Cookie
	for _, ck := range parseSetCookies(r.header) {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil || !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteLaxMode {
		t.Errorf("session cookie %+v: want HttpOnly, Secure, SameSite=Lax", sc)
	}

	before := e.snapshot()
	token := c.csrf
	c.csrf = ""
	c.do("POST", "/api/v1/addresses", map[string]any{"address": "a@b.example.test"}).want(t, "no CSRF token", 403, "csrf")
	c.csrf = "wrong"
	c.do("POST", "/api/v1/addresses", map[string]any{"address": "a@b.example.test"}).want(t, "wrong CSRF token", 403, "csrf")
	c.csrf = token
	c.origin = "https://evil.example"
	c.do("POST", "/api/v1/addresses", map[string]any{"address": "a@b.example.test"}).want(t, "cross-site origin", 403, "csrf")
	c.csrf = ""
	c.do("POST", "/api/v1/logout", nil).want(t, "logout without CSRF", 403, "csrf")
	if after := e.snapshot(); after != before {
		t.Fatalf("CSRF failures changed the store:\n%s", after)
	}
	c.origin, c.csrf = "", token
	c.do("GET", "/api/v1/addresses", nil).want(t, "GET needs no CSRF", 200, "")
	c.do("POST", "/api/v1/addresses", map[string]any{"address": "a@b.example.test"}).want(t, "with CSRF", 201, "")
	c.do("POST", "/api/v1/logout", nil).want(t, "logout", 204, "")
	c.do("GET", "/api/v1/addresses", nil).want(t, "after logout", 401, "unauthenticated")
	if n, _ := e.st.DeleteExpiredSessions(e.ctx, e.clock.Now().Add(24*time.Hour)); n != 0 {
		t.Errorf("logout left %d session rows", n)
	}

	// Expiry.
	c.login("alice", "alice-password-1", "").want(t, "login again", 200, "")
	e.clock.Advance(13 * time.Hour)
	c.do("GET", "/api/v1/addresses", nil).want(t, "expired session", 401, "unauthenticated")
}

func parseSetCookies(h http.Header) []*http.Cookie {
	return (&http.Response{Header: h}).Cookies()
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t, envOpts{dev: true})
	for _, path := range []string{"/login", "/api/v1/addresses", "/static/app.css"} {
		res, err := e.http.Client().Get(e.http.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		csp := res.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, res.Header)
		}
		if res.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS in dev mode", path)
		}
	}
	e.user("alice", false)
	r := e.cookieClient().login("alice", "alice-password-1", "").want(t, "dev login", 200, "")
	for _, ck := range parseSetCookies(r.header) {
		if ck.Name == sessionCookie && (ck.Secure || !ck.HttpOnly) {
			t.Errorf("dev session cookie %+v: want HttpOnly, not Secure", ck)
		}
	}
}

func TestAdminTOTP(t *testing.T) {
	e := newEnv(t, envOpts{})
	root := e.user("root", true)
	e.user("alice", false)
	c := e.cookieClient()
	r := c.login("root", "root-password-1", "").want(t, "admin first login", 200, "")
	if r.body["totp_enrolment_required"] != true || r.body["mfa"] != false {
		t.Fatalf("admin without TOTP: %v", r.body)
	}
	c.do("GET", "/api/v1/addresses", nil).want(t, "before enrolment", 403, "totp_enrolment_required")
	c.do("GET", "/api/v1/admin/users", nil).want(t, "admin before enrolment", 403, "totp_enrolment_required")
	c.do("POST", "/api/v1/totp/confirm", map[string]string{"code": "123456"}).want(t, "confirm before start", 409, "totp_not_started")
	en := c.do("POST", "/api/v1/totp/enrol", nil).want(t, "enrol", 200, "")
	if uri, _ := en.body["uri"].(string); !strings.HasPrefix(uri, "otpauth://totp/Cabalmail:root?") {
		t.Errorf("uri %q", uri)
	}
	again := c.do("POST", "/api/v1/totp/enrol", nil).want(t, "enrol again shows the same secret", 200, "")
	if again.body["secret"] != en.body["secret"] {
		t.Errorf("secret changed during enrolment")
	}
	c.do("POST", "/api/v1/totp/confirm", map[string]string{"code": "000000"}).want(t, "wrong code", 401, "bad_totp")
	r = c.do("POST", "/api/v1/totp/confirm", map[string]string{"code": e.code(root, 0)}).want(t, "confirm", 200, "")
	c.csrf, _ = r.body["csrf_token"].(string)
	if r.body["mfa"] != true || r.body["totp_enrolled"] != true {
		t.Fatalf("after confirm: %v", r.body)
	}
	c.do("GET", "/api/v1/admin/users", nil).want(t, "admin after enrolment", 200, "")
	c.do("POST", "/api/v1/totp/enrol", nil).want(t, "re-enrol", 409, "totp_enrolled")
	c.do("POST", "/api/v1/logout", nil).want(t, "logout", 204, "")

	c2 := e.cookieClient()
	c2.login("root", "root-password-1", "").want(t, "no code", 401, "totp_required")
	c2.login("root", "root-password-1", e.code(root, 0)).want(t, "reused code", 401, "totp_reused")
	c2.login("root", "root-password-1", e.code(root, -2)).want(t, "stale code", 401, "bad_totp")
	e.clock.Advance(30 * time.Second)
	r = c2.login("root", "root-password-1", e.code(root, 0)).want(t, "fresh code", 200, "")
	if r.body["mfa"] != true {
		t.Errorf("login with code: %v", r.body)
	}

	// Admin API is for sessions with TOTP, never tokens.
	e.bearerClient(e.token("root")).do("GET", "/api/v1/admin/users", nil).want(t, "admin token", 403, "session_required")
	// An admin resets alice's TOTP after she enrolled.
	al := e.cookieClient()
	al.login("alice", "alice-password-1", "").want(t, "alice", 200, "")
	al.do("POST", "/api/v1/totp/enrol", nil).want(t, "alice enrols", 200, "")
	aliceU, _ := e.acc.Get(e.ctx, "alice")
	al.do("POST", "/api/v1/totp/confirm", map[string]string{"code": e.code(aliceU, 0)}).want(t, "alice confirms", 200, "")
	c2.do("POST", "/api/v1/admin/users/alice/reset-totp", nil).want(t, "reset alice's TOTP", 200, "")
	e.cookieClient().login("alice", "alice-password-1", "").want(t, "alice without TOTP", 200, "")
}

// adminClient returns a logged-in admin session that passed TOTP.
func (e *env) adminClient(name string) *client {
	e.t.Helper()
	u := e.user(name, true)
	c := e.cookieClient()
	c.login(name, name+"-password-1", "").want(e.t, "admin login", 200, "")
	c.do("POST", "/api/v1/totp/enrol", nil).want(e.t, "enrol", 200, "")
	r := c.do("POST", "/api/v1/totp/confirm", map[string]string{"code": e.code(u, 0)}).want(e.t, "confirm", 200, "")
	c.csrf, _ = r.body["csrf_token"].(string)
	return c
}

func TestSignupModes(t *testing.T) {
	closed := newEnv(t, envOpts{})
	closed.cookieClient().do("POST", "/api/v1/signup", map[string]string{"username": "zed", "password": "zed-password-1"}).want(t, "closed", 403, "signup_closed")

	e := newEnv(t, envOpts{signup: SignupInvite})
	admin := e.adminClient("root")
	anon := e.cookieClient()
	anon.do("POST", "/api/v1/signup", map[string]string{"username": "carol", "password": "carol-password-1"}).want(t, "no invite", 403, "invite_required")
	anon.do("POST", "/api/v1/signup", map[string]string{"username": "carol", "password": "carol-password-1", "invite": "guess"}).want(t, "bad invite", 403, "bad_invite")
	inv := admin.do("POST", "/api/v1/admin/invites", map[string]string{"note": "for carol"}).want(t, "invite", 201, "")
	code, _ := inv.body["code"].(string)
	anon.do("POST", "/api/v1/signup", map[string]string{"username": "Bad Name", "password": "carol-password-1", "invite": code}).want(t, "bad name", 400, "invalid_name")
	anon.do("POST", "/api/v1/signup", map[string]string{"username": "carol", "password": "short", "invite": code}).want(t, "bad password", 400, "invalid_password")
	anon.do("POST", "/api/v1/signup", map[string]string{"username": "root", "password": "carol-password-1", "invite": code}).want(t, "taken", 409, "user_exists")
	r := anon.do("POST", "/api/v1/signup", map[string]string{"username": "carol", "password": "carol-password-1", "invite": code}).want(t, "sign up", 201, "")
	if r.body["status"] != "pending" {
		t.Errorf("new user %v", r.body)
	}
	anon.do("POST", "/api/v1/signup", map[string]string{"username": "dave", "password": "dave-password-1", "invite": code}).want(t, "invite reused", 403, "bad_invite")
	anon.login("carol", "carol-password-1", "").want(t, "pending login", 403, "pending")
	list := admin.do("GET", "/api/v1/admin/invites", nil).want(t, "invites", 200, "").body["invites"].([]any)
	if list[0].(map[string]any)["used_by"] != "carol" {
		t.Errorf("invites %v", list)
	}
	admin.do("POST", "/api/v1/admin/users/carol/approve", nil).want(t, "approve", 200, "")
	anon.login("carol", "carol-password-1", "").want(t, "approved login", 200, "")

	open := newEnv(t, envOpts{signup: SignupOpen})
	open.cookieClient().do("POST", "/api/v1/signup", map[string]string{"username": "erin", "password": "erin-password-1"}).want(t, "open", 201, "")
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.user("alice", false)
	c := e.cookieClient()
	for i := range 10 {
		c.login("alice", "wrong-password-"+string(rune('a'+i)), "").want(t, "failure", 401, "bad_credentials")
	}
	c.login("alice", "alice-password-1", "").want(t, "right password after 10 failures", 429, "rate_limited")
	e.clock.Advance(16 * time.Minute)
	c.login("alice", "alice-password-1", "").want(t, "after the window", 200, "")
	// Per address: 20 attempts a minute, whatever the names.
	for i := range 19 {
		c.login("user"+string(rune('a'+i)), "x-password-1", "")
	}
	c.login("alice", "alice-password-1", "").want(t, "address limit", 429, "rate_limited")
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.adminClient("root")
	e.user("alice", false)
	e.user("bob", false)
	carol := e.user("carol", false)
	alice := e.bearerClient(e.token("alice"))

	users := admin.do("GET", "/api/v1/admin/users", nil).want(t, "users", 200, "").body["users"].([]any)
	if len(users) != 4 {
		t.Errorf("%d users, want 4", len(users))
	}
	admin.do("PUT", "/api/v1/admin/users/alice/grants/example.test", nil).want(t, "grant", 200, "")
	admin.do("PUT", "/api/v1/admin/users/alice/grants/nowhere.test", nil).want(t, "grant unknown apex", 400, "unknown_apex")
	admin.do("PUT", "/api/v1/admin/users/zed/grants/example.test", nil).want(t, "grant unknown user", 404, "unknown_user")
	alice.do("POST", "/api/v1/addresses", map[string]any{"address": "a@x.example.test"}).want(t, "alice creates after grant", 201, "")
	admin.do("DELETE", "/api/v1/admin/users/alice/grants/example.test", nil).want(t, "ungrant", 200, "")
	admin.do("DELETE", "/api/v1/admin/users/alice/grants/example.test", nil).want(t, "ungrant again", 403, "not_granted")
	alice.do("POST", "/api/v1/addresses", map[string]any{"address": "b@x.example.test"}).want(t, "alice after ungrant", 403, "not_granted")

	r := admin.do("POST", "/api/v1/admin/addresses", map[string]any{"random": true, "apex": "other.test", "users": []string{"alice", "bob"}, "comment": "shared"}).want(t, "create for two", 201, "")
	shared, _ := r.body["address"].(string)
	admin.do("POST", "/api/v1/admin/addresses", map[string]any{"address": "q@x.example.test"}).want(t, "create for nobody", 400, "invalid")
	admin.do("POST", "/api/v1/admin/addresses", map[string]any{"address": "q@x.example.test", "users": []string{"zed"}}).want(t, "create for unknown", 404, "unknown_user")
	esc := url.PathEscape(shared)
	admin.do("POST", "/api/v1/admin/addresses/"+esc+"/holders", map[string]string{"user": "carol"}).want(t, "assign", 200, "")
	admin.do("POST", "/api/v1/admin/addresses/"+esc+"/holders", map[string]string{"user": "carol"}).want(t, "assign twice", 409, "exists")
	admin.do("DELETE", "/api/v1/admin/addresses/"+esc+"/holders/bob", nil).want(t, "unassign", 200, "")
	all := admin.do("GET", "/api/v1/admin/addresses?q=shared", nil).want(t, "all addresses", 200, "").body["addresses"].([]any)
	if len(all) != 1 || strings.Join(anyStrings(all[0].(map[string]any)["holders"]), ",") != "alice,carol" {
		t.Errorf("all addresses = %v", all)
	}
	byUser := admin.do("GET", "/api/v1/admin/addresses?user=carol", nil).want(t, "by user", 200, "").body["addresses"].([]any)
	if len(byUser) != 1 {
		t.Errorf("carol's = %v", byUser)
	}
	admin.do("DELETE", "/api/v1/admin/addresses/"+esc, nil).want(t, "admin revoke", 204, "")
	if got, _ := e.st.ListAddresses(e.ctx, storeFilter(carol.ID)); len(got) != 0 {
		t.Errorf("carol still holds %v", got)
	}

	r = admin.do("POST", "/api/v1/admin/users/bob/reset-password", nil).want(t, "reset password", 200, "")
	pw, _ := r.body["password"].(string)
	e.cookieClient().login("bob", pw, "").want(t, "bob with the new password", 200, "")
	admin.do("POST", "/api/v1/admin/users/bob/disable", nil).want(t, "disable", 200, "")
	e.cookieClient().login("bob", pw, "").want(t, "disabled bob", 403, "disabled")
	admin.do("POST", "/api/v1/admin/users/bob/approve", nil).want(t, "approve a disabled user", 409, "wrong_state")
	admin.do("POST", "/api/v1/admin/users/bob/enable", nil).want(t, "enable", 200, "")
	admin.do("POST", "/api/v1/admin/users/bob/explode", nil).want(t, "unknown op", 404, "no_such_endpoint")
	admin.do("POST", "/api/v1/admin/users/root/disable", nil).want(t, "disable self", 409, "self")
	admin.do("DELETE", "/api/v1/admin/users/bob", nil).want(t, "delete", 204, "")
	admin.do("DELETE", "/api/v1/admin/users/bob", nil).want(t, "delete again", 404, "unknown_user")

	audit, err := e.st.ListAudit(e.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range audit {
		if a.Actor == "root" {
			seen[a.Action] = true
		}
	}
	for _, want := range []string{"user.grant", "user.ungrant", "address.create", "address.share", "address.unshare", "address.revoke", "user.reset-password", "user.disable", "user.enable", "user.delete"} {
		if !seen[want] {
			t.Errorf("no audit entry %s by root (have %v)", want, seen)
		}
	}
	admin.do("GET", "/api/v1/admin/audit", nil).want(t, "audit", 200, "")
}

func storeFilter(userID int64) store.AddressFilter { return store.AddressFilter{UserID: userID} }

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestAdminMutationLimit(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.adminClient("root")
	e.user("alice", false)
	for i := range 30 {
		op := []string{"disable", "enable"}[i%2]
		admin.do("POST", "/api/v1/admin/users/alice/"+op, nil).want(t, op, 200, "")
	}
	admin.do("POST", "/api/v1/admin/users/alice/disable", nil).want(t, "31st change", 429, "rate_limited")
	admin.do("GET", "/api/v1/admin/users", nil).want(t, "reads are not limited", 200, "")
	if u, _ := e.acc.Get(e.ctx, "alice"); u.Status != "active" {
		t.Errorf("the refused change happened: alice is %s", u.Status)
	}
	e.clock.Advance(61 * time.Second)
	admin.do("POST", "/api/v1/admin/users/alice/disable", nil).want(t, "after a minute", 200, "")
}

// TestPasswordChangeLimits checks that wrong current passwords count toward
// the failed-login limit of the user, for the form and for logging in.
func TestPasswordChangeLimits(t *testing.T) {
	e := newEnv(t, envOpts{dev: true})
	e.user("alice", false)
	c := e.cookieClient()
	c.login("alice", "alice-password-1", "").want(t, "login", 200, "")
	for i := range 10 {
		c.do("POST", "/api/v1/password", map[string]string{"current": fmt.Sprintf("guess-number-%d", i), "new": "alice-password-2"}).
			want(t, "wrong current password", 403, "bad_credentials")
	}
	c.do("POST", "/api/v1/password", map[string]string{"current": "alice-password-1", "new": "alice-password-2"}).
		want(t, "right password after 10 wrong ones", 429, "rate_limited")
	e.cookieClient().login("alice", "alice-password-1", "").want(t, "login after 10 wrong passwords", 429, "rate_limited")
	if _, err := e.acc.Authenticate(e.ctx, "alice", "alice-password-1"); err != nil {
		t.Fatalf("the password changed while limited: %v", err)
	}
	e.clock.Advance(16 * time.Minute)
	c.do("POST", "/api/v1/password", map[string]string{"current": "alice-password-1", "new": "alice-password-2"}).want(t, "after the window", 204, "")
	if _, err := e.acc.Authenticate(e.ctx, "alice", "alice-password-2"); err != nil {
		t.Fatalf("new password refused: %v", err)
	}
}

// TestEndOtherSessions logs out everywhere else through the API and the
// account page: the other sessions end, the caller's own goes on with a new
// CSRF token, API tokens keep working.
func TestEndOtherSessions(t *testing.T) {
	e := newEnv(t, envOpts{dev: true})
	e.user("alice", false, "example.test")
	tok := e.bearerClient(e.token("alice"))
	a, b := e.cookieClient(), e.cookieClient()
	a.login("alice", "alice-password-1", "").want(t, "login a", 200, "")
	b.login("alice", "alice-password-1", "").want(t, "login b", 200, "")
	old := a.csrf
	r := a.do("POST", "/api/v1/sessions/end-others", nil).want(t, "end others", 200, "")
	a.csrf, _ = r.body["csrf_token"].(string)
	if a.csrf == "" || a.csrf == old {
		t.Errorf("CSRF token after ending other sessions: %q (was %q)", a.csrf, old)
	}
	b.do("GET", "/api/v1/me", nil).want(t, "the other session", 401, "unauthenticated")
	a.do("POST", "/api/v1/addresses", map[string]any{"random": true, "apex": "example.test"}).want(t, "own session goes on", 201, "")
	tok.do("GET", "/api/v1/addresses", nil).want(t, "token still works", 200, "")
	e.bearerClient(e.token("alice")).do("POST", "/api/v1/sessions/end-others", nil).want(t, "with a token", 200, "")
	a.do("GET", "/api/v1/me", nil).want(t, "session after a token ended them all", 401, "unauthenticated")

	// The account page's button.
	p, q := e.cookieClient(), e.cookieClient()
	p.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"alice-password-1"}})
	q.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"alice-password-1"}})
	p.page("GET", "/account", nil)
	st, body, path := p.page("POST", "/account/sessions", url.Values{"csrf": {p.csrf}})
	if st != 200 || path != "/account" || !strings.Contains(body, "logged out everywhere else") {
		t.Fatalf("log out everywhere else: %d %s", st, path)
	}
	if _, _, path := q.page("GET", "/account", nil); path != "/login" {
		t.Errorf("the other browser is still on %s", path)
	}
	if _, _, path := p.page("GET", "/account", nil); path != "/account" {
		t.Errorf("this browser was logged out too (%s)", path)
	}
}
