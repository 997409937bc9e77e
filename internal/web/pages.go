package web

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageSet holds one parsed template per page, each with the layout.
type pageSet struct {
	byName map[string]*template.Template
}

var pageFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.Local().Format("2 Jan 2006 15:04")
	},
	"whenp": func(t *time.Time) string {
		if t == nil {
			return "never"
		}
		return t.Local().Format("2 Jan 2006 15:04")
	},
	// breakable renders an address that may wrap after the @ on a narrow
	// screen instead of in the middle of a label.
	"breakable": func(addr string) template.HTML {
		local, domain, ok := strings.Cut(addr, "@")
		if !ok {
			return template.HTML(template.HTMLEscapeString(addr))
		}
		return template.HTML(template.HTMLEscapeString(local) + "@<wbr>" + template.HTMLEscapeString(domain))
	},
	"join": strings.Join,
	"plural": func(n any, one, many string) string {
		if fmt.Sprint(n) == "1" {
			return fmt.Sprintf("%v %s", n, one)
		}
		return fmt.Sprintf("%v %s", n, many)
	},
	"has": func(list []string, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	},
}

func loadPages() (*pageSet, error) {
	ps := &pageSet{byName: map[string]*template.Template{}}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "admin_tabs" {
			continue
		}
		t, err := template.New(base).Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html", "templates/admin_tabs.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", base, err)
		}
		ps.byName[base] = t
	}
	return ps, nil
}

// flash is a one-time message carried across a redirect in a cookie.
type flash struct {
	Kind      string `json:"k"` // "ok" or "error"
	Text      string `json:"t"`
	Highlight string `json:"h,omitempty"` // address to scroll to
}

const flashCookie = "cm_flash"

func (s *Server) setFlash(w http.ResponseWriter, f flash) {
	b, _ := json.Marshal(f)
	c := s.cookie(flashCookie, base64.RawURLEncoding.EncodeToString(b), 60)
	c.SameSite = http.SameSiteStrictMode
	http.SetCookie(w, c)
}

func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return nil
	}
	http.SetCookie(w, s.cookie(flashCookie, "", -1))
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil || f.Text == "" || (f.Kind != "ok" && f.Kind != "error") {
		return nil
	}
	return &f
}

// pageData is what every template gets.
type pageData struct {
	Title  string
	Nav    string
	User   *store.User
	CSRF   string
	Flash  *flash
	Signup string
	Dev    bool
	Data   any
}

// render writes a page. Its status is 200 unless given.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, c *caller, d pageData) {
	t := s.pages.byName[name]
	if t == nil {
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	if c != nil {
		u := c.User
		d.User = &u
		if c.Session != nil {
			d.CSRF = c.Session.CSRF
		}
	}
	if d.Flash == nil {
		d.Flash = s.takeFlash(w, r)
	}
	d.Signup = s.opts.Signup
	d.Dev = s.opts.Dev
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("web: render", "page", name, "err", err)
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageHandler handles a page for an authorized caller. A POST handler
// returns where to go next (with a flash set); an empty string means it
// rendered the answer itself.
type pageHandler func(w http.ResponseWriter, r *http.Request, c *caller) (next string, err error)

// page wraps h: sessions only (no bearer tokens), login redirects, the
// second-factor gate, CSRF on every POST, and errors shown as a flash on
// the page the form came from.
func (s *Server) page(level access, back string, h pageHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		c, err := s.identify(r)
		if err != nil || (c != nil && c.Bearer) {
			c = nil
			if err != nil && classify(err).Status >= 500 {
				s.log.Error("web: identify", "err", err)
			}
		}
		if level != public {
			if c == nil {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return
			}
			if level != enrolling && !c.Session.MFA {
				http.Redirect(w, r, "/totp", http.StatusSeeOther)
				return
			}
			if level == admin && !c.User.Admin {
				s.render(w, r, http.StatusForbidden, "message", c, pageData{Title: "Admins only", Data: "This page is for admins."})
				return
			}
		}
		if r.Method == http.MethodPost {
			var csrfErr error
			if level == public {
				csrfErr = checkOrigin(r)
			} else {
				csrfErr = checkCSRF(r, c)
			}
			if csrfErr != nil {
				s.render(w, r, http.StatusForbidden, "message", c, pageData{Title: "Request refused", Data: classify(csrfErr).Message})
				return
			}
			if level == admin {
				if ok, wait := s.adminMut.allow(c.User.Name); !ok {
					s.setFlash(w, flash{Kind: "error", Text: fmt.Sprintf("At most 30 admin changes a minute; try again in %s.", roundUp(wait))})
					http.Redirect(w, r, back, http.StatusSeeOther)
					return
				}
			}
		}
		if c != nil {
			r = r.WithContext(withCaller(r.Context(), c))
		}
		next, err := h(w, r, c)
		if err != nil {
			ae := classify(err)
			if ae.Status >= 500 {
				s.log.Error("web: page failed", "path", r.URL.Path, "err", err)
			}
			if r.Method != http.MethodPost {
				s.render(w, r, ae.Status, "message", c, pageData{Title: "Something went wrong", Data: ae.Message})
				return
			}
			s.setFlash(w, flash{Kind: "error", Text: sentence(ae.Message)})
			next = back
		}
		if next != "" {
			http.Redirect(w, r, next, http.StatusSeeOther)
		}
	})
}

// sentence capitalizes a message and ends it with a full stop.
func sentence(m string) string {
	if m == "" {
		return m
	}
	m = strings.ToUpper(m[:1]) + m[1:]
	if !strings.HasSuffix(m, ".") && !strings.HasSuffix(m, "?") && !strings.HasSuffix(m, ")") {
		m += "."
	}
	return m
}

func (s *Server) pageRoutes(m *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	m.Handle("GET /{$}", s.page(public, "/", func(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
		if c == nil {
			return "/login", nil
		}
		return "/addresses", nil
	}))
	m.Handle("GET /login", s.page(public, "/login", s.pageLogin))
	m.Handle("POST /login", s.page(public, "/login", s.pageLoginPost))
	m.Handle("GET /signup", s.page(public, "/signup", s.pageSignup))
	m.Handle("POST /signup", s.page(public, "/signup", s.pageSignupPost))
	m.Handle("POST /logout", s.page(enrolling, "/login", func(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
		if err := s.endSession(w, r); err != nil {
			return "", err
		}
		s.setFlash(w, flash{Kind: "ok", Text: "You are logged out."})
		return "/login", nil
	}))
	m.Handle("GET /totp", s.page(enrolling, "/totp", s.pageTOTP))
	m.Handle("POST /totp", s.page(enrolling, "/totp", s.pageTOTPPost))

	m.Handle("GET /addresses", s.page(user, "/addresses", s.pageAddresses))
	m.Handle("POST /addresses", s.page(user, "/addresses", s.pageCreate))
	m.Handle("POST /addresses/action", s.page(user, "/addresses", s.pageAddressAction))

	m.Handle("GET /account", s.page(user, "/account", s.pageAccount))
	m.Handle("POST /account/password", s.page(user, "/account", s.pagePassword))
	m.Handle("POST /account/sessions", s.page(user, "/account", s.pageEndOtherSessions))
	m.Handle("POST /account/tokens", s.page(user, "/account", s.pageNewToken))
	m.Handle("POST /account/tokens/revoke", s.page(user, "/account", s.pageRevokeToken))

	m.Handle("GET /admin", s.page(admin, "/admin", s.pageAdminUsers))
	m.Handle("POST /admin/users", s.page(admin, "/admin", s.pageAdminUserPost))
	m.Handle("POST /admin/grants", s.page(admin, "/admin", s.pageAdminGrantPost))
	m.Handle("GET /admin/invites", s.page(admin, "/admin/invites", s.pageAdminInvites))
	m.Handle("POST /admin/invites", s.page(admin, "/admin/invites", s.pageAdminInvitePost))
	m.Handle("GET /admin/addresses", s.page(admin, "/admin/addresses", s.pageAdminAddresses))
	m.Handle("POST /admin/addresses", s.page(admin, "/admin/addresses", s.pageAdminAddressPost))
	m.Handle("GET /admin/dns", s.page(admin, "/admin/dns", s.pageAdminDNS))
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// formBack returns a same-site path from the form's "back" field, or def.
func formBack(r *http.Request, def string) string {
	b := r.PostFormValue("back")
	u, err := url.Parse(b)
	if b == "" || err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(b, "//") {
		return def
	}
	return u.RequestURI()
}

func (s *Server) pageLogin(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	if c != nil && c.Session.MFA {
		return "/addresses", nil
	}
	s.render(w, r, http.StatusOK, "login", nil, pageData{Title: "Log in"})
	return "", nil
}

func (s *Server) pageLoginPost(w http.ResponseWriter, r *http.Request, _ *caller) (string, error) {
	name := strings.TrimSpace(r.PostFormValue("username"))
	sess, _, err := s.login(w, r, name, r.PostFormValue("password"), r.PostFormValue("totp"))
	if err != nil {
		ae := classify(err)
		if ae.Status >= 500 {
			return "", err
		}
		s.render(w, r, ae.Status, "login", nil, pageData{Title: "Log in", Flash: &flash{Kind: "error", Text: sentence(ae.Message)},
			Data: map[string]any{"Username": name, "NeedTOTP": ae.Code == "totp_required" || ae.Code == "bad_totp" || ae.Code == "totp_reused"}})
		return "", nil
	}
	if !sess.MFA {
		return "/totp", nil
	}
	return "/addresses", nil
}

func (s *Server) pageSignup(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	s.render(w, r, http.StatusOK, "signup", c, pageData{Title: "Sign up", Data: map[string]any{"Invite": r.URL.Query().Get("invite")}})
	return "", nil
}

func (s *Server) pageSignupPost(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	name := strings.TrimSpace(r.PostFormValue("username"))
	var u store.User
	var err error
	if p, p2 := r.PostFormValue("password"), r.PostFormValue("password2"); p != p2 {
		err = errf(http.StatusBadRequest, "invalid", "the two passwords differ")
	} else {
		u, err = s.signUp(r, name, p, r.PostFormValue("invite"))
	}
	if err != nil {
		// The form comes back with what was typed, bar the passwords.
		ae := classify(err)
		if ae.Status >= 500 {
			return "", err
		}
		s.render(w, r, ae.Status, "signup", c, pageData{Title: "Sign up", Flash: &flash{Kind: "error", Text: sentence(ae.Message)},
			Data: map[string]any{"Username": name, "Invite": r.PostFormValue("invite")}})
		return "", nil
	}
	s.setFlash(w, flash{Kind: "ok", Text: fmt.Sprintf("Welcome, %s! Your account is waiting for an admin's approval; you can log in once it is approved.", u.Name)})
	return "/login", nil
}
