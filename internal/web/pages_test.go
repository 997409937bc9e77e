package web

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// form posts a form with the page's CSRF token and returns the final page.
func (c *client) page(method, path string, form url.Values) (int, string, string) {
	c.e.t.Helper()
	var res *http.Response
	var err error
	if method == "GET" {
		res, err = c.hc.Get(c.e.http.URL + path)
	} else {
		res, err = c.hc.PostForm(c.e.http.URL+path, form)
	}
	if err != nil {
		c.e.t.Fatal(err)
	}
	for res.StatusCode == http.StatusSeeOther {
		res.Body.Close()
		loc := res.Header.Get("Location")
		if res, err = c.hc.Get(c.e.http.URL + loc); err != nil {
			c.e.t.Fatal(err)
		}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	body := string(b)
	if m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body); m != nil {
		c.csrf = m[1]
	}
	return res.StatusCode, body, res.Request.URL.Path
}

func TestPages(t *testing.T) {
	e := newEnv(t, envOpts{dev: true, signup: SignupOpen})
	root := e.user("root", true, "example.test")
	c := e.cookieClient()
	st, body, _ := c.page("GET", "/login", nil)
	if st != 200 || !strings.Contains(body, `<label for="password">`) {
		t.Fatalf("login page %d", st)
	}
	st, _, path := c.page("POST", "/login", url.Values{"username": {"root"}, "password": {"root-password-1"}})
	if st != 200 || path != "/totp" {
		t.Fatalf("admin login went to %s (%d), want /totp", path, st)
	}
	st, body, path = c.page("POST", "/totp", url.Values{"csrf": {c.csrf}, "code": {e.code(root, 0)}})
	if st != 200 || path != "/addresses" || !strings.Contains(body, "Two-factor authentication is on") {
		t.Fatalf("after TOTP: %s %d", path, st)
	}
	_, body, _ = c.page("POST", "/addresses", url.Values{"csrf": {c.csrf}, "apex": {"example.test"}, "random": {"1"}, "comment": {"newsletter"}})
	m := regexp.MustCompile(`data-highlight`).FindString(body)
	if m == "" || !strings.Contains(body, "newsletter") {
		t.Fatalf("created address not highlighted:\n%s", body)
	}
	st, body, _ = c.page("POST", "/addresses", url.Values{"apex": {"example.test"}, "random": {"1"}})
	if st != 403 || !strings.Contains(body, "CSRF") {
		t.Errorf("form without CSRF: %d", st)
	}
	for _, p := range []string{"/addresses?q=news", "/account", "/admin", "/admin/addresses", "/admin/invites", "/admin/dns", "/signup"} {
		if st, body, _ := c.page("GET", p, nil); st != 200 || !strings.Contains(body, "</html>") {
			t.Errorf("%s: %d", p, st)
		}
	}
	e.user("alice", false)
	a := e.cookieClient()
	a.page("POST", "/login", url.Values{"username": {"alice"}, "password": {"alice-password-1"}})
	if st, _, _ := a.page("GET", "/admin", nil); st != 403 {
		t.Errorf("plain user on /admin: %d", st)
	}
}
