package smtpin

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// reply is an SMTP answer with its mail-log status phrase.
type reply struct {
	code int
	enh  smtp.EnhancedCode
	text string
	stat string // sendmail's status phrase for the mail log
}

// The answers this package gives. Codes follow RFC 5321 4.2 and RFC 3463.
var (
	replyRelayDenied = reply{550, smtp.EnhancedCode{5, 7, 1}, "relaying denied: we are not a relay for that domain", "Relaying denied"}
	replyUnknown     = reply{550, smtp.EnhancedCode{5, 1, 1}, "no such user here", "User unknown"}
	replySuspended   = reply{550, smtp.EnhancedCode{5, 2, 1}, "mailbox disabled", "Mailbox disabled"}
	replyOverQuota   = reply{452, smtp.EnhancedCode{4, 2, 2}, "mailbox full, try again later", "Deferred"}
	replyTooBig      = reply{552, smtp.EnhancedCode{5, 3, 4}, "message too big", "Message too big"}
	replyBareNewline = reply{550, smtp.EnhancedCode{5, 5, 2}, "bare CR or LF in message; lines must end with CRLF (RFC 5321 2.3.8)", "Rejected"}
	replyLongLine    = reply{550, smtp.EnhancedCode{5, 5, 2}, "line longer than 998 octets (RFC 5321 4.5.3.1.6)", "Rejected"}
	replyLocalError  = reply{451, smtp.EnhancedCode{4, 3, 0}, "local error, try again later", "Deferred"}
	replyTooMany     = reply{421, smtp.EnhancedCode{4, 7, 0}, "too many commands, closing connection", "Deferred"}
)

// tempfailed returns the 4xx twin of a 5xx reply (the operator's tempfail
// switch); other replies are returned unchanged.
func (r reply) tempfailed() reply {
	if r.code/100 != 5 {
		return r
	}
	r.code -= 100
	r.enh[0] = 4
	r.text += " (temporarily deferred by the operator)"
	r.stat = "Deferred"
	return r
}

func (r reply) err() *smtp.SMTPError {
	return &smtp.SMTPError{Code: r.code, EnhancedCode: r.enh, Message: r.text}
}

// dsn is the enhanced status code as the mail log writes it.
func (r reply) dsn() string {
	return fmt.Sprintf("%d.%d.%d", r.enh[0], r.enh[1], r.enh[2])
}

// line is the reply as the client sees it.
func (r reply) line() string {
	return fmt.Sprintf("%d %s %s", r.code, r.dsn(), r.text)
}
