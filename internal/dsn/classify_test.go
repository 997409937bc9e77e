package dsn

import (
	"strings"
	"testing"
)

// replyCorpus holds replies as the large providers and the common MTAs
// send them (quoted from their published bounce texts and from logs), with
// the category each must get.
var replyCorpus = []struct {
	who, reply string
	want       Category
	permanent  bool
}{
	// Gmail
	{"gmail", "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser", RecipientUnknown, true},
	{"gmail", "550 5.2.1 The email account that you tried to reach is disabled.", MailboxDisabled, true},
	{"gmail", "552-5.2.2 The email account that you tried to reach is over quota. Please direct\r\n552 5.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaPerm", MailboxFull, true},
	{"gmail", "452-4.2.2 The email account that you tried to reach is over quota. Please direct\r\n452 4.2.2 the recipient to https://support.google.com/mail/?p=OverQuotaTemp", MailboxFull, false},
	{"gmail", "450-4.2.1 The user you are trying to contact is receiving mail at a rate that\r\n450 4.2.1 prevents additional messages from being delivered.", RateLimit, false},
	{"gmail", "552-5.3.4 Your message exceeded Google's message size limits.", MessageTooLarge, true},
	{"gmail", "550-5.7.26 This mail is unauthenticated, which poses a security risk to the\r\n550 5.7.26 sender and Gmail users, and has been blocked.", Authentication, true},
	{"gmail", "550-5.7.26 Unauthenticated email from example.com is not accepted due to\r\n550 5.7.26 domain's DMARC policy.", Authentication, true},
	{"gmail", "421-4.7.0 This message does not have authentication information or fails to\r\n421 4.7.0 pass authentication checks (SPF or DKIM).", Authentication, false},
	{"gmail", "550-5.7.1 Our system has detected that this message is likely unsolicited mail.\r\n550 5.7.1 To reduce the amount of spam sent to Gmail, this message has been blocked.", Policy, true},
	{"gmail", "421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating\r\n421 4.7.28 from your IP address.", Policy, false},
	{"gmail", "550-5.7.25 The IP address sending this message does not have a PTR record setup.", Policy, true},
	{"gmail", "421-4.7.0 TLS required for RCPT domain, closing connection.", TLS, false},
	{"gmail", "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time.", RateLimit, false},
	{"gmail", "451-4.3.0 Mail server temporarily rejected message.", Congestion, false},
	{"gmail", "421-4.3.0 Temporary System Problem. Try again later.", Congestion, false},
	{"gmail", "550-5.7.1 [192.0.2.7] The IP you're using to send mail is not authorized to\r\n550 5.7.1 send email directly to our servers.", Policy, true},
	{"gmail", "554 5.6.0 Mail message is malformed. Not accepted.", Other, true},
	// Microsoft (Outlook.com, Exchange Online)
	{"microsoft", "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302).", Other, true},
	{"microsoft", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", RecipientUnknown, true},
	{"microsoft", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [DM6NAM11FT046.eop-nam11.prod.protection.outlook.com]", RecipientUnknown, true},
	{"microsoft", "550 5.7.1 Unfortunately, messages from [192.0.2.7] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150).", Policy, true},
	{"microsoft", "451 4.7.500 Server busy. Please try again later from [192.0.2.7]. (S77714)", Congestion, false},
	{"microsoft", "550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.", Policy, true},
	{"microsoft", "550 5.7.509 Access denied, sending domain example.com does not pass DMARC verification and has a DMARC policy of reject.", Authentication, true},
	{"microsoft", "552 5.2.2 STOREDRV.Deliver; mailbox full", MailboxFull, true},
	{"microsoft", "550 5.4.310 DNS domain example.com does not exist [Message=InfoDomainNonexistent]", DNS, true},
	{"microsoft", "452 4.5.3 Too many recipients", RateLimit, false},
	{"microsoft", "550 5.2.1 Mailbox cannot be accessed [ExchangeStoreDisabled]", MailboxDisabled, true},
	{"microsoft", "421 4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel", Congestion, false},
	{"microsoft", "550 5.7.606 Access denied, banned sending IP [192.0.2.7].", Policy, true},
	// Yahoo / AOL
	{"yahoo", "554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1.mail.gq1.yahoo.com", RecipientUnknown, true},
	{"yahoo", "554 delivery error: dd Sorry your message to someone@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta1.mail.bf1.yahoo.com", MailboxDisabled, true},
	{"yahoo", "421 4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", Greylisting, false},
	{"yahoo", "553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.7, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", Policy, true},
	{"yahoo", "554 5.7.9 Message not accepted for policy reasons. See https://postmaster.yahooinc.com/error-codes", Policy, true},
	{"yahoo", "550 5.7.9 This mail has been blocked because the sender is unauthenticated. Yahoo requires all senders to authenticate with either SPF or DKIM.", Authentication, true},
	{"yahoo", "552 1 Requested mail action aborted, mailbox not found", RecipientUnknown, true},
	{"aol", "550 5.1.1 <someone@aol.com>: Recipient address rejected: aol.com", RecipientUnknown, true},
	// iCloud
	{"icloud", "550 5.1.1 <someone@icloud.com>: user does not exist", RecipientUnknown, true},
	{"icloud", "552 5.2.2 <someone@icloud.com>: user is over quota", MailboxFull, true},
	{"icloud", "554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137", Policy, true},
	{"icloud", "550 5.7.0 Blocked - see https://support.proofpoint.com/dnsbl-lookup.cgi?ip=192.0.2.7", Policy, true},
	{"icloud", "421 4.7.0 [HM08] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137", Policy, false},
	// Postfix
	{"postfix", "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table", RecipientUnknown, true},
	{"postfix", "550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table", RecipientUnknown, true},
	{"postfix", "450 4.2.0 <someone@example.org>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/example.org.html", Greylisting, false},
	{"postfix", "554 5.7.1 <someone@example.org>: Relay access denied", Policy, true},
	{"postfix", "554 5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org", Policy, true},
	{"postfix", "552 5.3.4 Message size exceeds fixed limit", MessageTooLarge, true},
	{"postfix", "452 4.3.1 Insufficient system storage", Congestion, false},
	{"postfix", "450 4.1.2 <someone@nxdomain.example>: Recipient address rejected: Domain not found", DNS, false},
	{"postfix", "421 4.3.2 Service currently unavailable", Congestion, false},
	{"postfix", "550 5.7.1 <someone@example.org>: Recipient address rejected: SPF fail - not authorized", Authentication, true},
	{"postfix", "451 4.3.5 Server configuration problem", Other, false},
	{"postfix", "452 4.5.3 Error: too many recipients", RateLimit, false},
	{"postfix", "550 5.1.0 <someone@example.org>: Sender address rejected: undeliverable address: host example.org[192.0.2.7] said: 550 5.1.1 user unknown", RecipientUnknown, true},
	{"postfix", "454 4.7.0 TLS not available due to local problem", TLS, false},
	{"postfix", "550 5.7.1 Message rejected because of unacceptable content", Policy, true},
	// Exim
	{"exim", "550 Unrouteable address", RecipientUnknown, true},
	{"exim", "550 No such user here", RecipientUnknown, true},
	{"exim", "451 Temporary local problem - please try later", Congestion, false},
	{"exim", "550 Administrative prohibition", Policy, true},
	{"exim", "552 Message size exceeds maximum permitted", MessageTooLarge, true},
	{"exim", "451-The server has reached its limit for processing requests from your host.\r\n451 Please try again later.", RateLimit, false},
	{"exim", "550-Verification failed for <someone@example.org>\r\n550-Unrouteable address\r\n550 Sender verify failed", RecipientUnknown, true},
	{"exim", "550 Mailbox quota exceeded", MailboxFull, true},
	{"exim", "451 4.7.1 Please try again later (greylisting)", Greylisting, false},
	{"exim", "550 rejected because 192.0.2.7 is in a black list at b.barracudacentral.org", Policy, true},
	// sendmail
	{"sendmail", "550 5.1.1 <someone@example.org>... User unknown", RecipientUnknown, true},
	{"sendmail", "553 5.3.0 <someone@example.org>... No such user", RecipientUnknown, true},
	{"sendmail", "452 4.4.5 Insufficient disk space; try again later", Congestion, false},
	{"sendmail", "554 5.7.1 <someone@example.org>... Relaying denied", Policy, true},
	{"sendmail", "421 4.3.2 Connection rate limit exceeded.", RateLimit, false},
	{"sendmail", "552 5.2.3 Message size exceeds maximum value", MessageTooLarge, true},
	{"sendmail", "550 5.7.1 Rejected: 192.0.2.7 listed at dnsbl.sorbs.net", Policy, true},
	{"sendmail", "550 User unknown", RecipientUnknown, true},
	{"sendmail", "552 Quota exceeded", MailboxFull, true},
	// mox
	{"mox", "550 5.1.1 no such user", RecipientUnknown, true},
	{"mox", "451 4.7.1 greylisted, try again later", Greylisting, false},
	{"mox", "452 4.5.3 too many recipients", RateLimit, false},
	{"mox", "550 5.7.1 rejected by junk filter", Policy, true},
	{"mox", "554 5.7.30 requiretls unsupported", TLS, true},
	{"mox", "451 4.3.0 error processing", Other, false},
	{"mox", "552 5.2.2 account storage quota exceeded", MailboxFull, true},
	{"mox", "550 5.7.0 rejecting dmarc reject policy", Authentication, true},
	// Our own reasons (delivery runner), classified from the text.
	{"local", "connect to mx.example.com [192.0.2.7:25]: dial tcp 192.0.2.7:25: connect: connection refused", Connectivity, false},
	{"local", "MX lookup for example.org failed: read udp 127.0.0.1:53: i/o timeout", DNS, false},
	{"local", "556 5.1.10 domain example.org accepts no mail (null MX)", DNS, true},
	{"local", "domain example.org does not exist", DNS, false},
	{"local", "STARTTLS with mx.example.com: tls: handshake failure", TLS, false},
	{"local", "connection lost: EOF", Connectivity, false},
	{"local", "mx.example.com greeted with: 421 4.3.2 busy", Connectivity, false},
}

func TestClassifyCorpus(t *testing.T) {
	if len(replyCorpus) < 60 {
		t.Fatalf("corpus has %d cases, want at least 60", len(replyCorpus))
	}
	seen := map[Category]bool{}
	for _, c := range replyCorpus {
		got := Classify(c.reply)
		seen[got.Category] = true
		if got.Category != c.want {
			t.Errorf("%s: %q: category %s, want %s", c.who, c.reply, got.Category, c.want)
		}
		if got.Permanent != c.permanent {
			t.Errorf("%s: %q: permanent %v, want %v", c.who, c.reply, got.Permanent, c.permanent)
		}
	}
	for _, cat := range Categories {
		if !seen[cat] {
			t.Errorf("no corpus case is classified %s", cat)
		}
	}
}

func TestParseReply(t *testing.T) {
	cases := []struct {
		in   string
		want Reply
	}{
		{"550 5.1.1 <a@b>: user unknown", Reply{550, "5.1.1", "<a@b>: user unknown"}},
		{"550-5.1.1 first line\r\n550 5.1.1 second line", Reply{550, "5.1.1", "first line second line"}},
		{"550 User unknown", Reply{550, "", "User unknown"}},
		{"421", Reply{421, "", ""}},
		{"250 2.0.0 Ok: queued as 4BzWmk", Reply{250, "2.0.0", "Ok: queued as 4BzWmk"}},
		{"452 4.5.3 too   many\trecipients", Reply{452, "4.5.3", "too many recipients"}},
		{"550 5.4.310 DNS domain x does not exist", Reply{550, "5.4.310", "DNS domain x does not exist"}},
		{"connect to x: refused", Reply{0, "", "connect to x: refused"}},
		{"552 1 Requested mail action aborted", Reply{552, "", "1 Requested mail action aborted"}},
	}
	for _, c := range cases {
		got, err := ParseReply(c.in)
		if err != nil {
			t.Errorf("ParseReply(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("ParseReply(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseReplyErrors(t *testing.T) {
	for _, in := range []string{
		"999 5.1.1 out of range",
		"150 starting",
		"550 4.1.1 class differs from the reply code",
		"450 5.1.1 class differs",
		"550 5.1234.1 subject too long",
		"550 5.1.1.1 four parts",
		"5500 four digits",
	} {
		if r, err := ParseReply(in); err == nil {
			t.Errorf("ParseReply(%q) = %+v, want an error", in, r)
		}
	}
}

func TestClassifyStatus(t *testing.T) {
	cases := []struct {
		status, reply string
		want          Category
		permanent     bool
	}{
		// The runner's own reasons carry their status separately.
		{"4.4.1", "no MX host answered", Connectivity, false},
		{"4.4.3", "address lookup for mx.example.com failed: no such host", DNS, false},
		{"5.1.2", "domain nx.example does not exist", DNS, true},
		{"4.7.0", "AUTH at relay.example.com: 535 5.7.8 bad credentials", Authentication, false},
		// A status of its own says more than a generic text.
		{"4.3.0", "message body unreadable: disk error", Other, false},
		{"4.4.7", "gave up after 96h0m0s: connect to mx: connection refused", Connectivity, false},
		// The code inside the reply wins.
		{"5.0.0", "550 5.1.1 no such user", RecipientUnknown, true},
	}
	for _, c := range cases {
		got := ClassifyStatus(c.status, c.reply)
		if got.Category != c.want || got.Permanent != c.permanent {
			t.Errorf("ClassifyStatus(%q, %q) = %s permanent %v, want %s permanent %v", c.status, c.reply, got.Category, got.Permanent, c.want, c.permanent)
		}
	}
}

func TestHardBounce(t *testing.T) {
	for reply, want := range map[string]bool{
		"550 5.1.1 user unknown":            true,
		"550 5.2.1 mailbox disabled":        true,
		"450 4.1.1 user unknown, try again": false,
		"552 5.2.2 mailbox full":            false,
		"554 5.7.1 blocked using spamhaus":  false,
		"550 No such user here":             true,
	} {
		if got := Classify(reply).HardBounce(); got != want {
			t.Errorf("HardBounce(%q) = %v, want %v", reply, got, want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, c := range replyCorpus {
		f.Add(c.reply)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReply(s)
		if err == nil {
			if r.Code != 0 && (r.Code < 200 || r.Code > 599) {
				t.Fatalf("code %d accepted", r.Code)
			}
			if r.Enhanced != "" && !statusRE.MatchString(r.Enhanced) {
				t.Fatalf("enhanced code %q accepted", r.Enhanced)
			}
			if strings.ContainsAny(r.Text, "\r\n") {
				t.Fatalf("line break in text %q", r.Text)
			}
		}
		c := Classify(s)
		known := false
		for _, cat := range Categories {
			known = known || cat == c.Category
		}
		if !known {
			t.Fatalf("Classify(%q) gave unknown category %q", s, c.Category)
		}
	})
}
