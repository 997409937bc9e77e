package dsn

import (
	"fmt"
	"strconv"
	"strings"
)

// Category is what a remote reply (or our own reason for a failed attempt)
// says about a delivery, in the terms an operator and the delivery policy
// care about. Classify maps every reply to exactly one.
type Category string

const (
	RecipientUnknown Category = "recipient-unknown" // no such mailbox (X.1.1)
	MailboxFull      Category = "mailbox-full"      // over quota (X.2.2)
	MailboxDisabled  Category = "mailbox-disabled"  // exists but takes no mail (X.2.1)
	MessageTooLarge  Category = "message-too-large" // X.3.4, X.2.3
	Policy           Category = "policy"            // blocklist, spam, reputation, relay denied
	Authentication   Category = "authentication"    // SPF, DKIM, DMARC, ARC
	Greylisting      Category = "greylisting"       // "try again later" on first contact
	RateLimit        Category = "rate-limit"        // too many messages, recipients or connections
	Congestion       Category = "congestion"        // the remote system is busy or short of resources
	Connectivity     Category = "connectivity"      // no connection, lost connection, time-outs
	DNS              Category = "dns"               // no such domain, failed look-ups, null MX
	TLS              Category = "tls"               // handshake failures, encryption required
	Other            Category = "other"
)

// Categories lists every category, in a stable order for reports.
var Categories = []Category{RecipientUnknown, MailboxFull, MailboxDisabled, MessageTooLarge, Policy, Authentication,
	Greylisting, RateLimit, Congestion, Connectivity, DNS, TLS, Other}

// Reply is one SMTP reply taken apart (RFC 5321 4.2): the basic code, the
// enhanced status code of RFC 3463 when the server gave one, and the text
// (the lines of a multi-line reply joined by spaces, with the repeated
// codes removed).
type Reply struct {
	Code     int    // 0 when the text is our own reason rather than a reply
	Enhanced string // "5.1.1"; "" when absent
	Text     string
}

// Classification is a reply with its category.
type Classification struct {
	Reply
	Category Category
	// Permanent is true for a 5xx reply (or a 5.x.x status): the server
	// says retrying will not help.
	Permanent bool
}

// maxReply bounds the reply text kept by ParseReply.
const maxReply = 4096

// ParseReply reads a reply as servers send it and as the delivery runner
// records it: "550 5.1.1 <x@example.com>: user unknown", or a multi-line
// reply "550-5.7.1 first\r\n550 5.7.1 last". Text without a code (our own
// reasons: "connect to mx.example.com: connection refused") is returned
// with Code 0 and no error; a line that starts like a code but is not one
// (a code outside 200-599, a broken enhanced code) is an error.
func ParseReply(s string) (Reply, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxReply {
		s = s[:maxReply]
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	var r Reply
	var texts []string
	for i, line := range lines {
		code, rest, ok := replyCode(line)
		if !ok {
			if i == 0 {
				if startsWithDigits(line, 3) {
					return Reply{}, fmt.Errorf("dsn: parse reply: bad reply code in %q", short(line))
				}
				// Our own reason, not a reply.
				return Reply{Text: oneSpace(s)}, nil
			}
			texts = append(texts, strings.TrimSpace(line))
			continue
		}
		if code < 200 || code > 599 {
			return Reply{}, fmt.Errorf("dsn: parse reply: reply code %d out of range", code)
		}
		if r.Code == 0 {
			r.Code = code
		}
		// RFC 3463 2: the enhanced code follows the basic code, its class
		// matching the basic code's first digit.
		if enh, text, ok := enhancedCode(rest); ok {
			if enh[0] != byte('0'+code/100) {
				return Reply{}, fmt.Errorf("dsn: parse reply: enhanced code %s does not match reply code %d", enh, code)
			}
			if r.Enhanced == "" {
				r.Enhanced = enh
			}
			rest = text
		} else if f := firstField(rest); looksEnhanced(f) {
			return Reply{}, fmt.Errorf("dsn: parse reply: bad enhanced code %q", short(f))
		}
		if t := strings.TrimSpace(rest); t != "" {
			texts = append(texts, t)
		}
	}
	r.Text = oneSpace(strings.Join(texts, " "))
	return r, nil
}

// replyCode splits "550-text" or "550 text" or "550" (RFC 5321 4.2).
func replyCode(line string) (int, string, bool) {
	if len(line) < 3 || !startsWithDigits(line, 3) {
		return 0, "", false
	}
	if len(line) > 3 && line[3] != ' ' && line[3] != '-' {
		return 0, "", false
	}
	code, _ := strconv.Atoi(line[:3])
	if len(line) == 3 {
		return code, "", true
	}
	return code, line[4:], true
}

// enhancedCode splits "5.1.1 text" (RFC 3463 2: class "." subject "."
// detail, subject and detail of one to three digits).
func enhancedCode(s string) (string, string, bool) {
	s = strings.TrimLeft(s, " ")
	f := firstField(s)
	parts := strings.Split(f, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return "", "", false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || !startsWithDigits(p, len(p)) {
			return "", "", false
		}
	}
	return f, s[len(f):], true
}

// looksEnhanced tells whether f was meant as an enhanced code (digit, dot,
// digit...) so a broken one is reported instead of taken as text.
func looksEnhanced(f string) bool {
	return len(f) >= 3 && f[0] >= '0' && f[0] <= '9' && f[1] == '.' && f[2] >= '0' && f[2] <= '9' && strings.Count(f, ".") >= 2 &&
		strings.Trim(f, "0123456789.") == ""
}

func firstField(s string) string {
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		return s[:i]
	}
	return s
}

func startsWithDigits(s string, n int) bool {
	if len(s) < n {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func oneSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// Classify parses reply (see ParseReply) and classifies it. A reply that
// does not parse is classified from its text alone.
func Classify(reply string) Classification {
	r, err := ParseReply(reply)
	if err != nil {
		r = Reply{Text: oneSpace(reply)}
	}
	return ClassifyReply(r)
}

// ClassifyStatus classifies an attempt as the delivery runner records it:
// the enhanced status code it settled on ("5.1.1", or "4.4.1" for a
// connection it could not make) and the reply or reason. A code inside the
// reply wins over status.
func ClassifyStatus(status, reply string) Classification {
	r, err := ParseReply(reply)
	if err != nil {
		r = Reply{Text: oneSpace(reply)}
	}
	if r.Enhanced == "" && statusRE.MatchString(status) && !strings.HasSuffix(status, ".0.0") {
		r.Enhanced = status
	}
	c := ClassifyReply(r)
	if r.Code == 0 && strings.HasPrefix(status, "5.") {
		c.Permanent = true
	}
	return c
}

// ClassifyReply maps a parsed reply to its category. Specific enhanced
// codes decide first; then the text, because servers put generic codes
// (5.0.0, 5.7.1, 4.2.1) on replies whose text is precise; then the rest of
// the enhanced code; then the basic code.
func ClassifyReply(r Reply) Classification {
	c := Classification{Reply: r, Permanent: r.Code/100 == 5 || (r.Code == 0 && strings.HasPrefix(r.Enhanced, "5."))}
	if cat, ok := specificCodes[subjectDetail(r.Enhanced)]; ok {
		c.Category = cat
		return c
	}
	if cat, ok := classifyText(r.Text); ok {
		c.Category = cat
		return c
	}
	if cat, ok := classifyEnhanced(r.Enhanced); ok {
		c.Category = cat
		return c
	}
	c.Category = classifyBasic(r.Code)
	return c
}

// subjectDetail drops the class: "5.1.1" -> "1.1".
func subjectDetail(enh string) string {
	if len(enh) < 2 {
		return ""
	}
	return enh[2:]
}

// specificCodes are enhanced codes precise enough to trust over the text.
var specificCodes = map[string]Category{
	"1.1":  RecipientUnknown, // RFC 3463 3.2: bad destination mailbox address
	"2.2":  MailboxFull,      // RFC 3463 3.3: mailbox full
	"3.4":  MessageTooLarge,  // RFC 3463 3.4: message too big for system
	"7.20": Authentication,   // RFC 7372 3.1: no passing DKIM signature
	"7.21": Authentication,   // RFC 7372 3.1: no acceptable DKIM signature
	"7.22": Authentication,   // RFC 7372 3.1: no valid author-matched DKIM signature
	"7.23": Authentication,   // RFC 7372 3.2: SPF validation failed
	"7.24": Authentication,   // RFC 7372 3.2: SPF validation error
	"7.25": Policy,           // RFC 7372 3.3: reverse DNS validation failed
	"7.26": Authentication,   // RFC 7372 3.4: multiple authentication checks failed
	"7.27": DNS,              // RFC 7505 4.2: sender address has null MX
	"7.28": Policy,           // RFC 8098-era registry: mail flood / spam
	"7.29": Authentication,   // RFC 8617 (ARC) validation failure
	"7.10": TLS,              // RFC 5248: encryption needed
	"7.11": TLS,              // RFC 5248: encryption required for requested authentication mechanism
	"7.30": TLS,              // RFC 8689 5: REQUIRETLS support required
	"7.13": MailboxDisabled,  // RFC 5248: user account disabled
}

// classifyEnhanced maps the remaining enhanced codes by subject and
// detail (RFC 3463 3.1-3.8).
func classifyEnhanced(enh string) (Category, bool) {
	sd := subjectDetail(enh)
	if sd == "" {
		return "", false
	}
	switch sd {
	case "1.0", "1.3", "1.6": // other address status, bad syntax, moved
		return RecipientUnknown, true
	case "1.2": // bad destination system address
		return DNS, true
	case "1.10": // RFC 7505 3: null MX
		return DNS, true
	case "2.1":
		return MailboxDisabled, true
	case "2.3":
		return MessageTooLarge, true
	case "3.1", "3.2": // mail system full, not accepting messages
		return Congestion, true
	case "4.1", "4.2", "4.7": // no answer, bad connection, delivery time expired
		return Connectivity, true
	case "4.3", "4.4": // directory server failure, unable to route
		return DNS, true
	case "4.5": // system congestion
		return Congestion, true
	case "6.0", "6.1", "6.2", "6.3", "6.4", "6.5", "6.6": // media and content conversion
		return Other, true
	case "5.3": // too many recipients
		return RateLimit, true
	case "7.0", "7.1", "7.2", "7.3", "7.9", "7.12", "7.14", "7.15", "7.16", "7.17", "7.18", "7.19":
		return Policy, true
	case "7.5", "7.6", "7.7": // cryptographic failures
		return TLS, true
	case "7.4", "7.8": // security features not supported, credentials invalid
		return Authentication, true
	}
	return "", false
}

// classifyBasic is the last resort: the basic code alone (RFC 5321 4.2.2,
// 4.2.3).
func classifyBasic(code int) Category {
	switch code {
	case 421:
		return Congestion // service not available, closing channel
	case 450, 550:
		return Other // mailbox unavailable: says too little on its own
	case 452:
		return Congestion // insufficient system storage
	case 552:
		return MailboxFull // exceeded storage allocation
	case 554:
		return Policy // transaction failed: most often a refusal
	case 551:
		return RecipientUnknown // user not local
	case 553:
		return RecipientUnknown // mailbox name not allowed
	}
	return Other
}

// textRule is one text pattern: every word group must match (any of its
// alternatives), case-insensitively.
type textRule struct {
	cat Category
	all [][]string
}

func oneOf(alts ...string) []string { return alts }

// textRules are tried in order; the first match decides. The order
// matters: "rate limited due to spam" is a rate limit, "user unknown (SPF
// fail)" is authentication, "Recipient address rejected: Access denied"
// (Microsoft's directory check) is an unknown recipient, not a policy.
var textRules = []textRule{
	{Greylisting, [][]string{oneOf("greylist", "grey-list", "graylist", "gray-list", "greylisted", "try again later, please", "temporarily deferred due to unexpected volume")}},
	{RecipientUnknown, [][]string{oneOf("recipientnotfound", "recipient not found")}},
	{DNS, [][]string{oneOf("mx lookup", "address lookup", "null mx", "nxdomain", "servfail", "host or domain name not found", "name service error")}},
	{DNS, [][]string{oneOf("domain"), oneOf("does not exist", "doesn't exist", "not found", "no such", "unresolvable", "has no mx", "accepts no mail")}},
	{TLS, [][]string{oneOf("starttls", "tls handshake", "tls with", "tls required", "tls not available", "must issue a starttls", "encryption required", "x509", "certificate")}},
	{Connectivity, [][]string{oneOf("connection refused", "connection reset", "connection timed out", "timed out", "timeout", "no route to host", "network is unreachable", "connection lost", "connect to", "no mx host answered", "broken pipe", "lost connection", "unexpected eof", "i/o timeout", "greeted with")}},
	{Authentication, [][]string{oneOf("dmarc", "dkim", "spf ", "spf:", "spf)", "spf-", "sender policy framework", "unauthenticated", "authentication checks", "not pass authentication", "arc validation", "credentials", "auth at")}},
	{RateLimit, [][]string{oneOf("rate limit", "rate-limit", "ratelimit", "rate that prevents", "too many messages", "too many recipients", "too many connections", "too many concurrent", "sending rate", "exceeded the rate", "message rate", "throttl", "try again later, closing connection", "frequency", "daily sending quota", "hourly", "receiving mail at a rate", "too quickly", "reached its limit", "limit for processing")}},
	{RecipientUnknown, [][]string{oneOf("recipient address rejected: access denied", "doesn't have a", "user unknown", "unknown user", "no such user", "no such recipient", "no such mailbox", "unknown recipient", "recipient unknown", "mailbox not found", "mailbox does not exist", "does not exist", "doesn't exist", "not exist", "invalid recipient", "invalid mailbox", "unrouteable address", "unroutable address", "address rejected", "no mailbox here", "user not found", "unknown mailbox", "mailbox unknown", "not a valid recipient", "addressee unknown", "no longer available", "not our customer", "unknown or illegal alias", "unknown local part", "undeliverable address")}},
	{MailboxDisabled, [][]string{oneOf("disabled", "inactive", "deactivated", "suspended", "mailbox unavailable: account", "account has been", "is locked", "not accepting mail", "mailbox is frozen", "blocked by the user")}},
	{MailboxFull, [][]string{oneOf("quota", "mailbox full", "mailbox is full", "over quota", "overquota", "insufficient storage for", "out of storage", "exceeded storage", "mailbox size limit", "storage allocation", "full mailbox", "inbox is full", "mailbox has exceeded")}},
	{MessageTooLarge, [][]string{oneOf("too large", "too big", "size limit", "message size exceeds", "exceeds size", "exceeds the maximum size", "maximum message size", "message length exceeds", "size exceeds")}},
	{Policy, [][]string{oneOf("blocklist", "blacklist", "block list", "black list", "blocked", "spamhaus", "spamcop", "barracuda", "sorbs", "dnsbl", "rbl", "spam", "junk", "reputation", "unsolicited", "poor reputation", "policy", "relay access denied", "relaying denied", "relay not permitted", "not permitted to relay", "access denied", "rejected by", "content rejected", "banned", "prohibited", "prohibition", "virus", "malware", "phish", "refused", "not authorized", "denied", "bulk mail", "suspicious")}},
	{DNS, [][]string{oneOf("dns", "host not found", "unresolvable", "no mx")}},
	{Congestion, [][]string{oneOf("try again later", "temporarily unavailable", "temporary failure", "service unavailable", "server busy", "system busy", "too busy", "resources temporarily", "insufficient system storage", "system resources", "temporarily rejected", "try later", "local error in processing", "temporary local problem", "congestion", "overloaded")}},
}

func classifyText(text string) (Category, bool) {
	if text == "" {
		return "", false
	}
	t := strings.ToLower(text)
	for _, rule := range textRules {
		if matchAll(t, rule.all) {
			return rule.cat, true
		}
	}
	return "", false
}

func matchAll(t string, groups [][]string) bool {
	for _, alts := range groups {
		ok := false
		for _, a := range alts {
			if strings.Contains(t, a) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// HardBounce reports whether c is a definite statement that the recipient
// does not take mail: a permanent unknown or disabled mailbox. These are
// the replies that put a recipient on a suppression list, and that a
// provider in trouble sometimes sends for everyone.
func (c Classification) HardBounce() bool {
	return c.Permanent && (c.Category == RecipientUnknown || c.Category == MailboxDisabled)
}
