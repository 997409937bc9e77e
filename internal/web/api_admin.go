package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/store"
)

func (s *Server) adminRoutes(a func(string, access, apiHandler)) {
	a("GET /api/v1/admin/users", admin, s.apiAdminUsers)
	a("POST /api/v1/admin/users/{name}/{op}", admin, s.apiAdminUserAction)
	a("DELETE /api/v1/admin/users/{name}", admin, s.apiAdminDeleteUser)
	a("GET /api/v1/admin/users/{name}/grants", admin, s.apiAdminGrants)
	a("PUT /api/v1/admin/users/{name}/grants/{apex}", admin, s.apiAdminGrant)
	a("DELETE /api/v1/admin/users/{name}/grants/{apex}", admin, s.apiAdminUngrant)

	a("GET /api/v1/admin/apexes", admin, s.apiAdminApexes)
	a("GET /api/v1/admin/addresses", admin, s.apiAdminAddresses)
	a("POST /api/v1/admin/addresses", admin, s.apiAdminCreate)
	a("DELETE /api/v1/admin/addresses/{address}", admin, s.apiAdminRevoke)
	a("POST /api/v1/admin/addresses/{address}/holders", admin, s.apiAdminAssign)
	a("DELETE /api/v1/admin/addresses/{address}/holders/{user}", admin, s.apiAdminUnassign)

	a("GET /api/v1/admin/invites", admin, s.apiAdminInvites)
	a("POST /api/v1/admin/invites", admin, s.apiAdminNewInvite)
	a("DELETE /api/v1/admin/invites/{id}", admin, s.apiAdminDeleteInvite)

	a("GET /api/v1/admin/dns-check", admin, s.apiAdminDNSCheck)
	a("GET /api/v1/admin/audit", admin, s.apiAdminAudit)
}

// userView is a user as admins see them.
type userView struct {
	Name      string    `json:"name"`
	Admin     bool      `json:"admin"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	Grants    []string  `json:"grants"`
}

func (s *Server) userViews(r *http.Request) ([]userView, error) {
	us, err := s.opts.Accounts.List(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]userView, 0, len(us))
	for _, u := range us {
		gs, err := s.opts.Store.Grants(r.Context(), u.ID)
		if err != nil {
			return nil, err
		}
		if gs == nil {
			gs = []string{}
		}
		out = append(out, userView{Name: u.Name, Admin: u.Admin, Status: string(u.Status), CreatedAt: u.CreatedAt, Grants: gs})
	}
	return out, nil
}

func (s *Server) apiAdminUsers(w http.ResponseWriter, r *http.Request, c *caller) error {
	us, err := s.userViews(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": us})
	return nil
}

// apiAdminUserAction is POST /api/v1/admin/users/{name}/{op} with op one of
// approve, disable, enable, reset-password, reset-totp.
func (s *Server) apiAdminUserAction(w http.ResponseWriter, r *http.Request, c *caller) error {
	op := r.PathValue("op")
	switch op {
	case "approve", "disable", "enable", "reset-password", "reset-totp":
	default:
		return errf(http.StatusNotFound, "no_such_endpoint", "unknown user operation %q (approve, disable, enable, reset-password, reset-totp)", op)
	}
	pw, err := s.adminUserAction(r.Context(), c, op, r.PathValue("name"))
	if err != nil {
		return err
	}
	out := map[string]string{"user": r.PathValue("name"), "done": op}
	if pw != "" {
		out["password"] = pw
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apiAdminDeleteUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	if _, err := s.adminUserAction(r.Context(), c, "delete", r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiAdminGrants(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := s.opts.Accounts.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	gs, err := s.opts.Store.Grants(r.Context(), u.ID)
	if err != nil {
		return err
	}
	if gs == nil {
		gs = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u.Name, "grants": gs})
	return nil
}

func (s *Server) apiAdminGrant(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.opts.Addresses.Grant(r.Context(), c.adminActor(), r.PathValue("name"), r.PathValue("apex")); err != nil {
		return err
	}
	return s.apiAdminGrants(w, r, c)
}

func (s *Server) apiAdminUngrant(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.opts.Addresses.Ungrant(r.Context(), c.adminActor(), r.PathValue("name"), r.PathValue("apex")); err != nil {
		return err
	}
	return s.apiAdminGrants(w, r, c)
}

func (s *Server) apexNames(r *http.Request) ([]string, error) {
	ds, err := s.opts.Store.ListDomains(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Apex)
	}
	return out, nil
}

func (s *Server) apiAdminApexes(w http.ResponseWriter, r *http.Request, c *caller) error {
	out, err := s.apexNames(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"apexes": out})
	return nil
}

// listAll returns every address (or one user's) matching q.
func (s *Server) listAll(r *http.Request, c *caller, userName, q string) ([]addressView, error) {
	f := store.AddressFilter{}
	if userName != "" {
		u, err := s.opts.Accounts.Get(r.Context(), userName)
		if err != nil {
			return nil, err
		}
		f.UserID = u.ID
	}
	list, err := s.opts.Addresses.List(r.Context(), c.adminActor(), f)
	if err != nil {
		return nil, err
	}
	return filterViews(list, 0, true, q), nil
}

func (s *Server) apiAdminAddresses(w http.ResponseWriter, r *http.Request, c *caller) error {
	list, err := s.listAll(r, c, r.URL.Query().Get("user"), r.URL.Query().Get("q"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"addresses": list})
	return nil
}

func (s *Server) apiAdminCreate(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req struct {
		createRequest
		Users []string `json:"users"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.Users) == 0 {
		return errf(http.StatusBadRequest, "invalid", "name at least one user in \"users\" to hold the address")
	}
	a, err := s.opts.Addresses.Create(r.Context(), c.adminActor(), addresses.CreateRequest{
		Address: req.Address, Random: req.Random, Apex: req.Apex, Comment: req.Comment, Users: req.Users,
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewOf(a, 0, true))
	return nil
}

func (s *Server) apiAdminRevoke(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.opts.Addresses.Revoke(r.Context(), c.adminActor(), r.PathValue("address")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiAdminAssign(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req struct {
		User string `json:"user"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	addr := r.PathValue("address")
	if err := s.opts.Addresses.AddHolder(r.Context(), c.adminActor(), addr, req.User); err != nil {
		return err
	}
	a, err := s.opts.Addresses.Get(r.Context(), c.adminActor(), addr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOf(a, 0, true))
	return nil
}

func (s *Server) apiAdminUnassign(w http.ResponseWriter, r *http.Request, c *caller) error {
	revoked, err := s.opts.Addresses.RemoveHolder(r.Context(), c.adminActor(), r.PathValue("address"), r.PathValue("user"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"address": r.PathValue("address"), "removed": r.PathValue("user"), "revoked": revoked})
	return nil
}

// inviteView lists an invite without its code.
type inviteView struct {
	ID        int64      `json:"id"`
	CreatedBy string     `json:"created_by"`
	Note      string     `json:"note"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedBy    string     `json:"used_by,omitempty"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	Expired   bool       `json:"expired"`
}

func (s *Server) inviteViews(r *http.Request) ([]inviteView, error) {
	is, err := s.opts.Store.ListInvites(r.Context())
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := make([]inviteView, 0, len(is))
	for _, i := range is {
		v := inviteView{ID: i.ID, CreatedBy: i.CreatedBy, Note: i.Note, CreatedAt: i.CreatedAt, ExpiresAt: i.ExpiresAt, UsedBy: i.UsedBy}
		if !i.UsedAt.IsZero() {
			ua := i.UsedAt
			v.UsedAt = &ua
		}
		v.Expired = i.UsedAt.IsZero() && !now.Before(i.ExpiresAt)
		out = append(out, v)
	}
	return out, nil
}

func (s *Server) apiAdminInvites(w http.ResponseWriter, r *http.Request, c *caller) error {
	is, err := s.inviteViews(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"invites": is, "signup": s.opts.Signup})
	return nil
}

func (s *Server) apiAdminNewInvite(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req struct {
		Note string `json:"note"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	code, inv, err := s.createInvite(r.Context(), c, req.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": inv.ID, "code": code, "expires_at": inv.ExpiresAt})
	return nil
}

func (s *Server) apiAdminDeleteInvite(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errf(http.StatusBadRequest, "invalid", "invite id %q is not a number", r.PathValue("id"))
	}
	if err := s.deleteInvite(r.Context(), c, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiAdminDNSCheck(w http.ResponseWriter, r *http.Request, c *caller) error {
	rep, err := s.dnsCheck(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) apiAdminAudit(w http.ResponseWriter, r *http.Request, c *caller) error {
	es, err := s.opts.Store.ListAudit(r.Context(), 200)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"audit": es})
	return nil
}
