package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// decodeJSON reads one JSON object of at most maxBodyBytes into v. Unknown
// fields, trailing data and a wrong content type are errors, so a typo in a
// script fails loudly instead of being ignored.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errf(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json, not %q", ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errf(http.StatusRequestEntityTooLarge, "too_large", "the request body is larger than %d bytes", maxBodyBytes)
	}
	if err != nil {
		return errf(http.StatusBadRequest, "bad_body", "could not read the request body")
	}
	if len(body) > maxBodyBytes {
		return errf(http.StatusRequestEntityTooLarge, "too_large", "the request body is larger than %d bytes", maxBodyBytes)
	}
	return decodeBody(body, v)
}

// decodeBody is the part of decodeJSON that parses; it is fuzzed.
func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errf(http.StatusBadRequest, "bad_json", "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errf(http.StatusBadRequest, "bad_json", "malformed JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			return errf(http.StatusBadRequest, "bad_json", "field %q must be %s, not %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return errf(http.StatusBadRequest, "unknown_field", "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return errf(http.StatusBadRequest, "bad_json", "malformed JSON: %v", err)
	}
	if dec.More() {
		return errf(http.StatusBadRequest, "bad_json", "trailing data after the JSON object")
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); err != io.EOF {
		return errf(http.StatusBadRequest, "bad_json", "trailing data after the JSON object")
	}
	return nil
}
