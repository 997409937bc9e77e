package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/web/totp"
)

func (s *Server) pageTOTP(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	secret, err := s.startTOTP(r.Context(), c.User)
	var ae *apiError
	if errors.As(err, &ae) && ae.Code == "totp_enrolled" {
		s.render(w, r, http.StatusOK, "totp", c, pageData{Title: "Two-factor authentication", Nav: "account", Data: map[string]any{"Enrolled": true}})
		return "", nil
	}
	if err != nil {
		return "", err
	}
	enc := totp.EncodeSecret(secret)
	var groups []string
	for i := 0; i < len(enc); i += 4 {
		groups = append(groups, enc[i:min(i+4, len(enc))])
	}
	s.render(w, r, http.StatusOK, "totp", c, pageData{Title: "Set up two-factor authentication", Nav: "account", Data: map[string]any{
		"Secret": strings.Join(groups, " "), "RawSecret": enc, "URI": template.URL(totp.URI(s.opts.Issuer, c.User.Name, secret)), "Required": c.User.Admin,
	}})
	return "", nil
}

func (s *Server) pageTOTPPost(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	if _, err := s.confirmTOTP(w, r, c, r.PostFormValue("code")); err != nil {
		return "", err
	}
	s.setFlash(w, flash{Kind: "ok", Text: "Two-factor authentication is on. You will be asked for a code at every login."})
	return "/addresses", nil
}

func (s *Server) pageAddresses(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	q := r.URL.Query().Get("q")
	list, err := s.listOwn(r.Context(), c, q)
	if err != nil {
		return "", err
	}
	apexes, err := s.opts.Store.Grants(r.Context(), c.User.ID)
	if err != nil {
		return "", err
	}
	total := len(list)
	if q != "" {
		all, err := s.listOwn(r.Context(), c, "")
		if err != nil {
			return "", err
		}
		total = len(all)
	}
	f := s.takeFlash(w, r)
	hl := ""
	if f != nil {
		hl = f.Highlight
	}
	s.render(w, r, http.StatusOK, "addresses", c, pageData{Title: "Your addresses", Nav: "addresses", Flash: f, Data: map[string]any{
		"Addresses": list, "Query": q, "Total": total, "Apexes": apexes, "Highlight": hl,
	}})
	return "", nil
}

func (s *Server) pageCreate(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	req := addresses.CreateRequest{Comment: strings.TrimSpace(r.PostFormValue("comment")), Apex: r.PostFormValue("apex")}
	if r.PostFormValue("random") != "" {
		req.Random = true
	} else {
		local, sub := strings.TrimSpace(r.PostFormValue("local")), strings.TrimSpace(r.PostFormValue("subdomain"))
		if local == "" || sub == "" {
			return "", errf(http.StatusBadRequest, "invalid", "fill in both the name and the subdomain, or press Random")
		}
		req.Address = local + "@" + sub + "." + req.Apex
	}
	a, err := s.opts.Addresses.Create(r.Context(), c.actor(), req)
	if err != nil {
		return "", err
	}
	s.setFlash(w, flash{Kind: "ok", Text: "Created " + a.Address + ". It receives mail now.", Highlight: a.Address})
	return "/addresses#" + url.PathEscape(a.Address), nil
}

func (s *Server) pageAddressAction(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	ctx, act := r.Context(), c.actor()
	addr, op := r.PostFormValue("address"), r.PostFormValue("op")
	back := formBack(r, "/addresses")
	var err error
	msg := ""
	switch op {
	case "revoke":
		if r.PostFormValue("confirmed") != "yes" {
			if _, err := s.opts.Addresses.Get(ctx, act, addr); err != nil {
				return "", err
			}
			s.render(w, r, http.StatusOK, "confirm", c, pageData{Title: "Revoke address?", Nav: "addresses", Data: map[string]any{
				"Address": addr, "Action": "/addresses/action", "Op": "revoke", "Back": back,
			}})
			return "", nil
		}
		err = s.opts.Addresses.Revoke(ctx, act, addr)
		msg = "Revoked " + addr + ". Mail to it is refused from now on."
	case "suspend":
		err = s.opts.Addresses.Suspend(ctx, act, addr)
		msg = "Suspended " + addr + ". Reinstate it whenever you like."
	case "reinstate":
		err = s.opts.Addresses.Reinstate(ctx, act, addr)
		msg = "Reinstated " + addr + "."
	case "favorite", "unfavorite":
		err = s.opts.Addresses.SetFavorite(ctx, act, addr, op == "favorite")
	case "comment":
		err = s.opts.Addresses.SetComment(ctx, act, addr, strings.TrimSpace(r.PostFormValue("comment")))
		msg = "Comment saved."
	default:
		return "", errf(http.StatusBadRequest, "invalid", "unknown action %q", op)
	}
	if err != nil {
		return "", err
	}
	f := flash{Kind: "ok", Text: msg}
	if op != "revoke" {
		f.Highlight = addr
	}
	if msg != "" || f.Highlight != "" {
		if msg == "" {
			f.Text = "Saved."
		}
		s.setFlash(w, f)
	}
	return back, nil
}

func (s *Server) accountData(r *http.Request, c *caller, extra map[string]any) (map[string]any, error) {
	ts, err := s.tokenViews(r, c)
	if err != nil {
		return nil, err
	}
	me, err := s.me(r, c.User, c.Session)
	if err != nil {
		return nil, err
	}
	d := map[string]any{"Tokens": ts, "TOTP": me.TOTPEnrolled}
	for k, v := range extra {
		d[k] = v
	}
	return d, nil
}

func (s *Server) pageAccount(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	d, err := s.accountData(r, c, nil)
	if err != nil {
		return "", err
	}
	s.render(w, r, http.StatusOK, "account", c, pageData{Title: "Account", Nav: "account", Data: d})
	return "", nil
}

func (s *Server) pagePassword(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	if r.PostFormValue("new") != r.PostFormValue("new2") {
		return "", errf(http.StatusBadRequest, "invalid", "the two new passwords differ")
	}
	if err := s.changePassword(w, r, c, r.PostFormValue("current"), r.PostFormValue("new")); err != nil {
		return "", err
	}
	s.setFlash(w, flash{Kind: "ok", Text: "Password changed. Other sessions were logged out."})
	return "/account", nil
}

func (s *Server) pageEndOtherSessions(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	if _, err := s.endOtherSessions(w, r, c); err != nil {
		return "", err
	}
	s.setFlash(w, flash{Kind: "ok", Text: "You are logged out everywhere else. API tokens still work; revoke them below if needed."})
	return "/account", nil
}

func (s *Server) pageNewToken(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	secret, err := s.opts.Accounts.NewToken(r.Context(), c.User.Name)
	if err != nil {
		return "", err
	}
	d, err := s.accountData(r, c, map[string]any{"NewToken": secret})
	if err != nil {
		return "", err
	}
	s.render(w, r, http.StatusOK, "account", c, pageData{Title: "Account", Nav: "account", Data: d,
		Flash: &flash{Kind: "ok", Text: "New API token created. Copy it now: it is shown only once."}})
	return "", nil
}

func (s *Server) pageRevokeToken(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		return "", errf(http.StatusBadRequest, "invalid", "no such token")
	}
	if err := s.revokeToken(r, c, id); err != nil {
		return "", err
	}
	s.setFlash(w, flash{Kind: "ok", Text: fmt.Sprintf("Token #%d revoked; scripts using it stop working now.", id)})
	return "/account", nil
}

func (s *Server) pageAdminUsers(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	us, err := s.userViews(r)
	if err != nil {
		return "", err
	}
	apexes, err := s.apexNames(r)
	if err != nil {
		return "", err
	}
	pending := 0
	for _, u := range us {
		if u.Status == string(store.UserPending) {
			pending++
		}
	}
	s.render(w, r, http.StatusOK, "admin_users", c, pageData{Title: "Admin · Users", Nav: "admin", Data: map[string]any{
		"Users": us, "Apexes": apexes, "Pending": pending, "Tab": "users",
	}})
	return "", nil
}

func (s *Server) pageAdminUserPost(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	op, name := r.PostFormValue("op"), r.PostFormValue("name")
	if op == "delete" && r.PostFormValue("confirmed") != "yes" {
		s.render(w, r, http.StatusOK, "confirm", c, pageData{Title: "Delete user?", Nav: "admin", Data: map[string]any{
			"User": name, "Action": "/admin/users", "Op": "delete", "Back": "/admin",
		}})
		return "", nil
	}
	pw, err := s.adminUserAction(r.Context(), c, op, name)
	if err != nil {
		return "", err
	}
	if pw != "" {
		s.render(w, r, http.StatusOK, "message", c, pageData{Title: "Password reset", Nav: "admin",
			Data: fmt.Sprintf("The new password of %s is shown once: %s. Pass it on privately; %s can change it under Account.", name, pw, name)})
		return "", nil
	}
	done := map[string]string{"approve": "approved", "enable": "enabled", "disable": "disabled", "delete": "deleted", "reset-totp": "reset (two-factor authentication)"}[op]
	s.setFlash(w, flash{Kind: "ok", Text: fmt.Sprintf("User %s %s.", name, done)})
	return "/admin", nil
}

func (s *Server) pageAdminGrantPost(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	op, name, apex := r.PostFormValue("op"), r.PostFormValue("name"), r.PostFormValue("apex")
	var err error
	switch op {
	case "grant":
		err = s.opts.Addresses.Grant(r.Context(), c.adminActor(), name, apex)
	case "ungrant":
		err = s.opts.Addresses.Ungrant(r.Context(), c.adminActor(), name, apex)
	default:
		err = errf(http.StatusBadRequest, "invalid", "unknown grant operation %q", op)
	}
	if err != nil {
		return "", err
	}
	s.setFlash(w, flash{Kind: "ok", Text: fmt.Sprintf("%s: %s %s.", name, map[string]string{"grant": "may now create addresses on", "ungrant": "may no longer create addresses on"}[op], apex)})
	return "/admin", nil
}

func (s *Server) pageAdminInvites(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	is, err := s.inviteViews(r)
	if err != nil {
		return "", err
	}
	s.render(w, r, http.StatusOK, "admin_invites", c, pageData{Title: "Admin · Invites", Nav: "admin", Data: map[string]any{"Invites": is, "Tab": "invites"}})
	return "", nil
}

func (s *Server) pageAdminInvitePost(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	if r.PostFormValue("op") == "delete" {
		id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
		if err != nil {
			return "", errf(http.StatusBadRequest, "invalid", "no such invite")
		}
		if err := s.deleteInvite(r.Context(), c, id); err != nil {
			return "", err
		}
		s.setFlash(w, flash{Kind: "ok", Text: fmt.Sprintf("Invite #%d withdrawn.", id)})
		return "/admin/invites", nil
	}
	code, _, err := s.createInvite(r.Context(), c, strings.TrimSpace(r.PostFormValue("note")))
	if err != nil {
		return "", err
	}
	is, err := s.inviteViews(r)
	if err != nil {
		return "", err
	}
	s.render(w, r, http.StatusOK, "admin_invites", c, pageData{Title: "Admin · Invites", Nav: "admin",
		Flash: &flash{Kind: "ok", Text: "Invite created. Send the code or link now: it is shown only once."},
		Data:  map[string]any{"Invites": is, "Tab": "invites", "NewCode": code, "Host": r.Host}})
	return "", nil
}

func (s *Server) pageAdminAddresses(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	q, userName := r.URL.Query().Get("q"), r.URL.Query().Get("user")
	list, err := s.listAll(r, c, userName, q)
	if err != nil {
		return "", err
	}
	apexes, err := s.apexNames(r)
	if err != nil {
		return "", err
	}
	us, err := s.userViews(r)
	if err != nil {
		return "", err
	}
	f := s.takeFlash(w, r)
	hl := ""
	if f != nil {
		hl = f.Highlight
	}
	const shown = 500
	more := 0
	if len(list) > shown {
		more = len(list) - shown
		list = list[:shown]
	}
	s.render(w, r, http.StatusOK, "admin_addresses", c, pageData{Title: "Admin · Addresses", Nav: "admin", Flash: f, Data: map[string]any{
		"Addresses": list, "Query": q, "UserFilter": userName, "Apexes": apexes, "Users": us, "Tab": "addresses", "More": more, "Highlight": hl,
	}})
	return "", nil
}

func (s *Server) pageAdminAddressPost(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	ctx, act := r.Context(), c.adminActor()
	addr := r.PostFormValue("address")
	back := formBack(r, "/admin/addresses")
	var err error
	msg := ""
	switch op := r.PostFormValue("op"); op {
	case "create":
		req := addresses.CreateRequest{Comment: strings.TrimSpace(r.PostFormValue("comment")), Apex: r.PostFormValue("apex"), Users: pathList(r.PostFormValue("users"))}
		if len(req.Users) == 0 {
			return "", errf(http.StatusBadRequest, "invalid", "name at least one user to hold the address")
		}
		if r.PostFormValue("random") != "" {
			req.Random = true
		} else {
			req.Address = strings.TrimSpace(r.PostFormValue("local")) + "@" + strings.TrimSpace(r.PostFormValue("subdomain")) + "." + req.Apex
		}
		a, err := s.opts.Addresses.Create(ctx, act, req)
		if err != nil {
			return "", err
		}
		s.setFlash(w, flash{Kind: "ok", Text: "Created " + a.Address + " for " + strings.Join(req.Users, ", ") + ".", Highlight: a.Address})
		return "/admin/addresses", nil
	case "assign":
		err = s.opts.Addresses.AddHolder(ctx, act, addr, strings.TrimSpace(r.PostFormValue("user")))
		msg = "Assigned " + r.PostFormValue("user") + " to " + addr + "."
	case "unassign":
		var revoked bool
		revoked, err = s.opts.Addresses.RemoveHolder(ctx, act, addr, r.PostFormValue("user"))
		msg = "Unassigned " + r.PostFormValue("user") + " from " + addr + "."
		if revoked {
			msg += " Nobody held it any more, so it was revoked."
		}
	case "revoke":
		if r.PostFormValue("confirmed") != "yes" {
			s.render(w, r, http.StatusOK, "confirm", c, pageData{Title: "Revoke address?", Nav: "admin", Data: map[string]any{
				"Address": addr, "Action": "/admin/addresses", "Op": "revoke", "Back": back, "AllHolders": true,
			}})
			return "", nil
		}
		err = s.opts.Addresses.Revoke(ctx, act, addr)
		msg = "Revoked " + addr + " for every holder."
	case "suspend":
		err = s.opts.Addresses.Suspend(ctx, act, addr)
		msg = "Suspended " + addr + "."
	case "reinstate":
		err = s.opts.Addresses.Reinstate(ctx, act, addr)
		msg = "Reinstated " + addr + "."
	default:
		return "", errf(http.StatusBadRequest, "invalid", "unknown action %q", op)
	}
	if err != nil {
		return "", err
	}
	s.setFlash(w, flash{Kind: "ok", Text: msg, Highlight: addr})
	return back, nil
}

func (s *Server) pageAdminDNS(w http.ResponseWriter, r *http.Request, c *caller) (string, error) {
	d := map[string]any{"Tab": "dns"}
	rep, err := s.dnsCheck(r.Context())
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Code == "dns_check_unavailable":
		d["Unavailable"] = sentence(ae.Message)
	case err != nil:
		return "", err
	default:
		d["Report"] = rep
	}
	s.render(w, r, http.StatusOK, "admin_dns", c, pageData{Title: "Admin · DNS check", Nav: "admin", Data: d})
	return "", nil
}
