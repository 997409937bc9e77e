package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/addresses"
)

// apiError is an error with the HTTP status and the stable code the API
// reports: {"error": {"code": "...", "message": "..."}}.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// classify turns an error of a domain package into what the client sees.
// Errors it does not know are internal: logged in full, reported vaguely.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	msg := userMessage(err)
	switch {
	case errors.Is(err, addresses.ErrNotFound):
		return errf(http.StatusNotFound, "not_found", "%s", msg)
	case errors.Is(err, addresses.ErrInvalid):
		return errf(http.StatusBadRequest, "invalid", "%s", msg)
	case errors.Is(err, addresses.ErrUnknownApex):
		return errf(http.StatusBadRequest, "unknown_apex", "%s", msg)
	case errors.Is(err, addresses.ErrReserved):
		return errf(http.StatusBadRequest, "reserved", "%s", msg)
	case errors.Is(err, addresses.ErrExists):
		return errf(http.StatusConflict, "exists", "%s", msg)
	case errors.Is(err, addresses.ErrUnknownUser):
		return errf(http.StatusNotFound, "unknown_user", "%s", msg)
	case errors.Is(err, addresses.ErrNotGranted):
		return errf(http.StatusForbidden, "not_granted", "%s", msg)
	case errors.Is(err, addresses.ErrForbidden):
		return errf(http.StatusForbidden, "forbidden", "%s", msg)
	case errors.Is(err, accounts.ErrInvalidName):
		return errf(http.StatusBadRequest, "invalid_name", "%s", msg)
	case errors.Is(err, accounts.ErrInvalidPassword):
		return errf(http.StatusBadRequest, "invalid_password", "%s", msg)
	case errors.Is(err, accounts.ErrExists):
		return errf(http.StatusConflict, "user_exists", "%s", msg)
	case errors.Is(err, accounts.ErrNotFound):
		return errf(http.StatusNotFound, "unknown_user", "%s", msg)
	case errors.Is(err, accounts.ErrWrongState):
		return errf(http.StatusConflict, "wrong_state", "%s", msg)
	case errors.Is(err, accounts.ErrBadCredentials):
		return errf(http.StatusUnauthorized, "bad_credentials", "wrong user name or password")
	case errors.Is(err, accounts.ErrPending):
		return errf(http.StatusForbidden, "pending", "your account is waiting for an admin's approval")
	case errors.Is(err, accounts.ErrDisabled):
		return errf(http.StatusForbidden, "disabled", "your account is disabled")
	case errors.Is(err, accounts.ErrBusy):
		return errf(http.StatusServiceUnavailable, "busy", "the server is checking too many passwords at once; try again in a moment")
	}
	return &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error; the server log has the details"}
}

// userMessage strips the package prefix of a domain error for display.
func userMessage(err error) string {
	m := err.Error()
	for _, p := range []string{"addresses: ", "accounts: "} {
		m = strings.TrimPrefix(m, p)
	}
	return m
}

// writeError sends err as the API's JSON error and logs internal ones.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	if ae.Status >= 500 {
		s.log.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	switch ae.Status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "60")
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, ae.Status, map[string]any{"error": map[string]string{"code": ae.Code, "message": ae.Message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v) // the client went away; nothing to do
}
