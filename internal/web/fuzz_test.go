package web

import (
	"errors"
	"net/http"
	"testing"
)

// FuzzDecodeBody feeds arbitrary bodies to the JSON request decoder: it
// must never panic, and every refusal must be a 4xx API error.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"address":"shop@x1.example.test","comment":"c"}`,
		`{"random":true,"apex":"example.test"}`,
		`{"address":1}`, `{"x":1}`, `{} {}`, `[]`, ``, `{"comment":"\u0000"}`, `{"random":tru`,
		`{"users":["a","b"],"address":"a@b.c.d"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req struct {
			createRequest
			Users []string `json:"users"`
		}
		err := decodeBody(body, &req)
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 || ae.Code == "" || ae.Message == "" {
			t.Fatalf("decodeBody(%q) = %v: want a 4xx API error", body, err)
		}
		if ae.Status != http.StatusBadRequest {
			t.Fatalf("decodeBody(%q): status %d, want 400", body, ae.Status)
		}
	})
}
