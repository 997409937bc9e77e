package authres

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/mail"
	"strings"
	"time"

	"blitiri.com.ar/go/spf"
	msgauth "github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// Options configure a Checker.
type Options struct {
	// AuthServID names us in the header (RFC 8601 2.5): the control domain.
	AuthServID string
	// Resolver is the host:port of the DNS server to ask; empty means the
	// system resolver.
	Resolver string
	// Timeout bounds all look-ups for one message; 0 means 5 seconds.
	Timeout time.Duration
	// MaxSignatures bounds the DKIM signatures verified per message; 0
	// means 5.
	MaxSignatures int
}

// Checker computes Authentication-Results. It is safe for concurrent use.
type Checker struct {
	opts     Options
	resolver *resolver
}

// New returns a Checker.
func New(opts Options) *Checker {
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.MaxSignatures <= 0 {
		opts.MaxSignatures = 5
	}
	return &Checker{opts: opts, resolver: newResolver(opts.Resolver)}
}

// Envelope is what the SMTP session knows of a message's origin.
type Envelope struct {
	RemoteIP net.IP
	Helo     string
	MailFrom string // the reverse-path, "" for the null sender
}

// Results are the verdicts for one message, as RFC 8601 result values
// (pass, fail, softfail, neutral, none, temperror, permerror, policy).
type Results struct {
	SPF         string
	SPFDomain   string // the domain SPF was checked for
	DKIM        []DKIMResult
	DMARC       string
	DMARCDomain string // the RFC5322.From domain
}

// DKIMResult is the verdict of one signature.
type DKIMResult struct {
	Value  string
	Domain string // d=
}

// SPFVerdict is the SPF result for an envelope, available as soon as MAIL
// FROM is known.
type SPFVerdict struct {
	Result string
	Domain string
}

// Check verifies message (the whole message as received, CRLF line ends)
// and returns the verdicts. It never fails: DNS trouble is a temperror, a
// malformed input a permerror or none.
func (c *Checker) Check(ctx context.Context, env Envelope, message []byte) Results {
	return c.CheckMessage(ctx, env, c.CheckSPF(ctx, env), message)
}

// CheckSPF runs the SPF check alone, so a session can start it at MAIL
// FROM and have it ready by the end of the data.
func (c *Checker) CheckSPF(ctx context.Context, env Envelope) SPFVerdict {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	r, d := c.checkSPF(ctx, env)
	return SPFVerdict{Result: r, Domain: d}
}

// CheckMessage completes Check with an SPF verdict already known.
func (c *Checker) CheckMessage(ctx context.Context, env Envelope, spfVerdict SPFVerdict, message []byte) Results {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	res := Results{SPF: spfVerdict.Result, SPFDomain: spfVerdict.Domain}
	res.DKIM = c.checkDKIM(ctx, message)
	res.DMARC, res.DMARCDomain = c.checkDMARC(ctx, message, res)
	return res
}

// checkSPF runs RFC 7208 check_host for the MAIL FROM domain, or for the
// HELO identity when the reverse-path is null (RFC 7208 2.4).
func (c *Checker) checkSPF(ctx context.Context, env Envelope) (string, string) {
	sender := env.MailFrom
	if sender == "" {
		sender = "postmaster@" + env.Helo
	}
	_, domain := splitAddress(sender)
	if env.RemoteIP == nil || domain == "" {
		return string(spf.None), domain
	}
	r, _ := spf.CheckHostWithSender(env.RemoteIP, env.Helo, sender,
		spf.WithContext(ctx), spf.WithResolver(c.resolver))
	if r == "" {
		r = spf.TempError
	}
	return string(r), domain
}

// checkDKIM verifies every signature (RFC 6376 6).
func (c *Checker) checkDKIM(ctx context.Context, message []byte) []DKIMResult {
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(message), &dkim.VerifyOptions{
		LookupTXT:        lookupTXT(ctx, c.resolver),
		MaxVerifications: c.opts.MaxSignatures,
	})
	if err != nil && len(vs) == 0 {
		if errors.Is(err, dkim.ErrTooManySignatures) {
			return []DKIMResult{{Value: "permerror"}}
		}
		return []DKIMResult{{Value: "permerror"}}
	}
	var out []DKIMResult
	for _, v := range vs {
		r := DKIMResult{Value: "pass", Domain: v.Domain}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			r.Value = "temperror"
		case dkim.IsPermFail(v.Err):
			r.Value = "permerror"
		default:
			r.Value = "fail"
		}
		out = append(out, r)
	}
	return out
}

// checkDMARC looks up the From domain's policy (RFC 7489 6.6.3) and checks
// that SPF or DKIM passed for an aligned domain (RFC 7489 3.1).
func (c *Checker) checkDMARC(ctx context.Context, message []byte, res Results) (string, string) {
	from, err := fromDomain(message)
	if err != nil {
		// RFC 7489 6.6.1: no single From domain, no DMARC evaluation.
		return "permerror", ""
	}
	opts := &dmarc.LookupOptions{LookupTXT: lookupTXT(ctx, c.resolver)}
	rec, err := dmarc.LookupWithOptions(from, opts)
	org := organizationalDomain(from)
	if errors.Is(err, dmarc.ErrNoPolicy) && org != from {
		rec, err = dmarc.LookupWithOptions(org, opts)
	}
	switch {
	case errors.Is(err, dmarc.ErrNoPolicy):
		return "none", from
	case err != nil && (dmarc.IsTempFail(err) || ctx.Err() != nil || isDNSTemp(err)):
		return "temperror", from
	case err != nil:
		return "permerror", from
	}
	if res.SPF == string(spf.Pass) && aligned(res.SPFDomain, from, rec.SPFAlignment) {
		return "pass", from
	}
	for _, d := range res.DKIM {
		if d.Value == "pass" && aligned(d.Domain, from, rec.DKIMAlignment) {
			return "pass", from
		}
	}
	return "fail", from
}

// isDNSTemp recognises the library's wrapped look-up failures that are not
// a definite "no record".
func isDNSTemp(err error) bool {
	return strings.Contains(err.Error(), "failed to lookup TXT record")
}

// aligned implements RFC 7489 3.1.1 and 3.1.2: strict needs the same
// domain, relaxed the same organizational domain.
func aligned(domain, from string, mode dmarc.AlignmentMode) bool {
	domain, from = strings.ToLower(strings.TrimSuffix(domain, ".")), strings.ToLower(from)
	if domain == "" {
		return false
	}
	if mode == dmarc.AlignmentStrict {
		return domain == from
	}
	return organizationalDomain(domain) == organizationalDomain(from)
}

// organizationalDomain is RFC 7489 3.2 with the public suffix list.
func organizationalDomain(d string) string {
	org, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return org
}

// fromDomain returns the domain of the single RFC5322.From address.
func fromDomain(message []byte) (string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(headerOf(message)))
	if err != nil {
		return "", err
	}
	froms := m.Header["From"]
	if len(froms) != 1 {
		return "", errors.New("authres: not exactly one From field")
	}
	list, err := mail.ParseAddressList(froms[0])
	if err != nil || len(list) != 1 {
		return "", errors.New("authres: not exactly one From address")
	}
	_, d := splitAddress(list[0].Address)
	if d == "" {
		return "", errors.New("authres: From address without a domain")
	}
	return strings.ToLower(d), nil
}

func splitAddress(a string) (string, string) {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return a, ""
	}
	return a[:i], a[i+1:]
}

// Field returns the Authentication-Results field (name, value and CRLF,
// folded) for res.
func (c *Checker) Field(env Envelope, res Results) string {
	var rs []msgauth.Result
	spfRes := &msgauth.SPFResult{Value: msgauth.ResultValue(res.SPF), From: env.MailFrom}
	if env.MailFrom == "" {
		spfRes.Helo = env.Helo
	}
	rs = append(rs, spfRes)
	if len(res.DKIM) == 0 {
		rs = append(rs, &msgauth.DKIMResult{Value: msgauth.ResultNone})
	}
	for _, d := range res.DKIM {
		rs = append(rs, &msgauth.DKIMResult{Value: msgauth.ResultValue(d.Value), Domain: d.Domain})
	}
	rs = append(rs, &msgauth.DMARCResult{Value: msgauth.ResultValue(res.DMARC), From: res.DMARCDomain})
	parts := strings.Split(msgauth.Format(c.opts.AuthServID, rs), "; ")
	for i := range parts {
		parts[i] = strings.TrimRight(parts[i], " ")
	}
	return "Authentication-Results: " + strings.Join(parts, ";\r\n\t") + "\r\n"
}

// AuthServID returns the authserv-id the Checker stamps.
func (c *Checker) AuthServID() string { return c.opts.AuthServID }
