package dkim

import (
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// signedFields are the header fields signed when present, in the order they
// go into h=. They are those RFC 6376 5.4.1 recommends that a sending MTA
// does not rewrite; Received and list headers are left out because relays
// add them.
var signedFields = []string{
	"From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding",
}

// Sign reads a message (header and body, CRLF line endings as on the wire)
// from r and writes it to w with a DKIM-Signature field in front, signed for
// domain and selector with key: rsa-sha256 (or ed25519-sha256 for an Ed25519
// key), relaxed/relaxed canonicalization.
//
// Each field of signedFields is signed as many times as it occurs. From is
// signed once more than it occurs (oversigned, RFC 6376 8.15), so a From
// field added on the way breaks the signature instead of being displayed.
// The message must have exactly one From field (RFC 5322 3.6).
//
// The message is held in memory while signing, since the signature goes
// before it. Nothing is written to w if signing fails. Signature signs a
// message that can be read twice without holding it.
func Sign(w io.Writer, r io.Reader, domain, selector string, key crypto.Signer) error {
	var msg bytes.Buffer
	if _, err := msg.ReadFrom(r); err != nil {
		return fmt.Errorf("dkim: sign: read message: %w", err)
	}
	sig, err := Signature(bytes.NewReader(msg.Bytes()), domain, selector, key)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, sig); err != nil {
		return fmt.Errorf("dkim: sign: write: %w", err)
	}
	if _, err := msg.WriteTo(w); err != nil {
		return fmt.Errorf("dkim: sign: write: %w", err)
	}
	return nil
}

// maxHeader bounds the header section Signature holds in memory.
const maxHeader = 1 << 20

// Signature reads a message from r as Sign does and returns the
// DKIM-Signature field to put in front of it, CRLF-terminated. Only the
// header section is held in memory; the body is hashed as it is read.
func Signature(r io.Reader, domain, selector string, key crypto.Signer) (string, error) {
	if domain == "" || selector == "" {
		return "", errors.New("dkim: sign: domain and selector are required")
	}
	if key == nil {
		return "", errors.New("dkim: sign: no key")
	}
	br := bufio.NewReaderSize(r, 8<<10)
	var header []byte
	for partial := false; ; {
		line, err := br.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
			return "", fmt.Errorf("dkim: sign: read message: %w", err)
		}
		header = append(header, line...)
		if len(header) > maxHeader {
			return "", fmt.Errorf("dkim: sign: header section longer than %d octets", maxHeader)
		}
		if err == io.EOF || (err == nil && !partial && (string(line) == "\r\n" || string(line) == "\n")) {
			break
		}
		partial = err == bufio.ErrBufferFull
	}
	keys, err := headerKeys(header)
	if err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	signer, err := msgauth.NewSigner(&msgauth.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 key,
		Hash:                   crypto.SHA256, // RFC 8301 3.1: sha256, never sha1
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	})
	if err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	if _, err := signer.Write(header); err != nil {
		_ = signer.Close() // reports the same error
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	if _, err := br.WriteTo(signer); err != nil {
		_ = signer.Close()
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	if err := signer.Close(); err != nil {
		return "", fmt.Errorf("dkim: sign: %w", err)
	}
	return signer.Signature(), nil
}

// CheckHeader reports whether the message in msg (or its header section
// alone) can be signed: exactly one From field, no continuation line
// first, a colon in every field. Signature would fail on the same
// messages with the same error.
func CheckHeader(msg []byte) error {
	if _, err := headerKeys(msg); err != nil {
		return fmt.Errorf("dkim: sign: %w", err)
	}
	return nil
}

// headerKeys returns the h= list for the message's header: every field of
// signedFields, once per occurrence, and From once more.
func headerKeys(msg []byte) ([]string, error) {
	counts, err := countFields(msg)
	if err != nil {
		return nil, err
	}
	if n := counts["from"]; n != 1 {
		return nil, fmt.Errorf("message has %d From fields, want exactly 1 (RFC 5322 3.6)", n)
	}
	var keys []string
	for _, name := range signedFields {
		for range counts[strings.ToLower(name)] {
			keys = append(keys, name)
		}
	}
	return append(keys, "From"), nil // RFC 6376 8.15: oversign From
}

// countFields counts the header fields of msg by lower-case name.
func countFields(msg []byte) (map[string]int, error) {
	tr := textproto.NewReader(bufio.NewReader(bytes.NewReader(msg)))
	counts := map[string]int{}
	for {
		line, err := tr.ReadLine()
		if err == io.EOF {
			return nil, errors.New("message ends inside its header (no blank line before the body)")
		}
		if err != nil {
			return nil, fmt.Errorf("read header: %w", err)
		}
		if line == "" {
			return counts, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(counts) == 0 {
				// It would continue the DKIM-Signature field put in front.
				return nil, errors.New("header starts with a continuation line")
			}
			continue // RFC 5322 2.2.3: continuation of the previous field
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("header line %.40q has no colon", line)
		}
		counts[strings.ToLower(strings.TrimRight(name, " \t"))]++
	}
}
