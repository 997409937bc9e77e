package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/cabalmail/cabalmail/internal/accounts"
)

// TestClassifyLoginErrors: only an answer about the credentials is a 401;
// a password check that could not run is a temporary 503 or a 500, never
// "wrong user name or password".
func TestClassifyLoginErrors(t *testing.T) {
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("x: %w", accounts.ErrBadCredentials), http.StatusUnauthorized, "bad_credentials"},
		{fmt.Errorf("x: %w", errors.Join(accounts.ErrBusy, context.DeadlineExceeded)), http.StatusServiceUnavailable, "busy"},
		{fmt.Errorf("accounts: authenticate: %w", context.Canceled), http.StatusInternalServerError, "internal"},
	}
	for _, tt := range tests {
		ae := classify(tt.err)
		if ae.Status != tt.status || ae.Code != tt.code {
			t.Errorf("classify(%v) = %d %s, want %d %s", tt.err, ae.Status, ae.Code, tt.status, tt.code)
		}
	}
}
