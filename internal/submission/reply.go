package submission

import (
	"fmt"

	"github.com/emersion/go-smtp"
)

// reply is an SMTP answer. Codes follow RFC 5321 4.2 and RFC 3463.
type reply struct {
	code int
	enh  smtp.EnhancedCode
	text string
}

func (r reply) err() *smtp.SMTPError {
	return &smtp.SMTPError{Code: r.code, EnhancedCode: r.enh, Message: r.text}
}

func (r reply) dsn() string {
	return fmt.Sprintf("%d.%d.%d", r.enh[0], r.enh[1], r.enh[2])
}

// The fixed answers; those naming an address or a limit are built where
// they are given.
var (
	replyLocalError   = reply{451, smtp.EnhancedCode{4, 3, 0}, "local error, try again later"}
	replyAuthRequired = reply{530, smtp.EnhancedCode{5, 7, 0}, "authentication required (AUTH PLAIN or LOGIN, after STARTTLS)"}
	// RFC 4954 6: 535 5.7.8 for credentials that are not accepted.
	replyBadCredentials = reply{535, smtp.EnhancedCode{5, 7, 8}, "authentication credentials invalid"}
	// RFC 4954 6: 538 5.7.11 when the mechanism needs an encrypted session.
	replyEncryptionRequired = reply{538, smtp.EnhancedCode{5, 7, 11}, "encryption required for authentication: use STARTTLS first"}
	// RFC 4954 6: 454 4.7.0 temporary authentication failure.
	replyAuthTempFail    = reply{454, smtp.EnhancedCode{4, 7, 0}, "temporary authentication failure, try again later"}
	replyAuthThrottled   = reply{454, smtp.EnhancedCode{4, 7, 0}, "too many failed logins from your address, try again later"}
	replyTooManyFailures = reply{421, smtp.EnhancedCode{4, 7, 0}, "too many failed logins, closing connection"}
	replyUnknownMech     = reply{504, smtp.EnhancedCode{5, 5, 4}, "unrecognized authentication mechanism (use PLAIN or LOGIN)"}
	replyAuthMalformed   = reply{501, smtp.EnhancedCode{5, 5, 2}, "malformed authentication response"}
	replyNullSender      = reply{550, smtp.EnhancedCode{5, 7, 1}, "the null sender <> cannot be used for submission; send from one of your addresses"}
	replyBadRecipient    = reply{501, smtp.EnhancedCode{5, 1, 3}, "bad recipient address syntax, want local@domain"}
	replyNoRecipients    = reply{554, smtp.EnhancedCode{5, 5, 1}, "no valid recipients"}
	replyTooBig          = reply{552, smtp.EnhancedCode{5, 3, 4}, "message too big"}
	replyBareNewline     = reply{550, smtp.EnhancedCode{5, 5, 2}, "bare CR or LF in message; lines must end with CRLF (RFC 5321 2.3.8)"}
	replyLongLine        = reply{550, smtp.EnhancedCode{5, 5, 2}, "line longer than 998 octets (RFC 5321 4.5.3.1.6)"}
	replyTooManyCommands = reply{421, smtp.EnhancedCode{4, 7, 0}, "too many commands, closing connection"}
)

// replyNotHeld refuses an address the user does not hold.
func replyNotHeld(what, addr string) reply {
	return reply{550, smtp.EnhancedCode{5, 7, 1}, fmt.Sprintf("%s <%s> is not one of your addresses", what, addr)}
}

// replyTooManyRecipients is RFC 5321 4.5.3.1.10's answer past the limit.
func replyTooManyRecipients(limit int) reply {
	return reply{452, smtp.EnhancedCode{4, 5, 3}, fmt.Sprintf("too many recipients: at most %d per message", limit)}
}

func replyDailyLimit(limit int) reply {
	return reply{450, smtp.EnhancedCode{4, 7, 1}, fmt.Sprintf("daily limit of %d messages reached, try again later", limit)}
}

// replyBadHeader refuses a message whose header we cannot read or that
// breaks RFC 5322 in a way we cannot fix (RFC 3463 5.6.0).
func replyBadHeader(why string) reply {
	return reply{550, smtp.EnhancedCode{5, 6, 0}, "bad message header: " + why}
}
