package maillog

import (
	"strconv"
	"strings"
	"time"
)

// timeLayout is RFC 3339 to the second; times are always rendered in UTC, so
// the zone is always "Z".
const timeLayout = "2006-01-02T15:04:05Z07:00"

// statDeferred is the status whose detail follows a colon, as sendmail writes
// it: "stat=Deferred: 451 4.7.1 greylisted". Every other status puts the
// detail in parentheses: "stat=Sent (250 ok)".
const statDeferred = "Deferred"

// Characters escaped in each field, on top of the control characters and
// backslash escaped everywhere. They are the separators Parse relies on, so
// a hostile address or reply cannot forge a field.
const (
	tierSpecial    = " :"
	queueIDSpecial = " :,"
	rcptSpecial    = ">"
	hostSpecial    = " ,[]"
	ipSpecial      = " ,[]"
	dsnSpecial     = " ,"
	statSpecial    = ",:()"
	detailSpecial  = ""
)

// Format returns e as one log line, without the trailing newline.
func Format(e Entry) string {
	return string(appendEntry(nil, e))
}

func appendEntry(b []byte, e Entry) []byte {
	b = e.Time.UTC().AppendFormat(b, timeLayout)
	b = append(b, ' ')
	b = appendEscaped(b, e.Tier, tierSpecial)
	b = append(b, ' ')
	b = appendEscaped(b, e.QueueID, queueIDSpecial)
	b = append(b, ": to=<"...)
	b = appendEscaped(b, e.Rcpt, rcptSpecial)
	b = append(b, ">, delay="...)
	b = appendDelay(b, e.Delay)
	if e.Relay != "" || e.RelayIP != "" {
		b = append(b, ", relay="...)
		b = appendEscaped(b, e.Relay, hostSpecial)
		if e.RelayIP != "" {
			if e.Relay != "" {
				b = append(b, ' ')
			}
			b = append(b, '[')
			b = appendEscaped(b, e.RelayIP, ipSpecial)
			b = append(b, ']')
		}
	}
	if e.DSN != "" {
		b = append(b, ", dsn="...)
		b = appendEscaped(b, e.DSN, dsnSpecial)
	}
	b = append(b, ", stat="...)
	b = appendEscaped(b, e.Stat, statSpecial)
	detail := foldLineBreaks(e.Detail)
	switch {
	case detail == "":
	case e.Stat == statDeferred:
		b = append(b, ": "...)
		b = appendEscaped(b, detail, detailSpecial)
	default:
		b = append(b, " ("...)
		b = appendEscaped(b, detail, detailSpecial)
		b = append(b, ')')
	}
	return b
}

// appendDelay renders d as sendmail does: HH:MM:SS, with a "D+" day count in
// front from 24 hours on. Sub-second parts are dropped; a negative delay
// (clock steps) is logged as zero.
func appendDelay(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	days := s / 86400
	s %= 86400
	if days > 0 {
		b = strconv.AppendInt(b, days, 10)
		b = append(b, '+')
	}
	b = appendTwo(b, s/3600)
	b = append(b, ':')
	b = appendTwo(b, s/60%60)
	b = append(b, ':')
	return appendTwo(b, s%60)
}

func appendTwo(b []byte, n int64) []byte {
	return append(b, byte('0'+n/10), byte('0'+n%10))
}

// foldLineBreaks turns each run of CR and LF in a remote reply into one
// space: a multi-line SMTP reply (RFC 5321 4.2.1) then reads as one line
// instead of a row of escapes.
func foldLineBreaks(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s))
	inBreak := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			if !inBreak {
				sb.WriteByte(' ')
			}
			inBreak = true
			continue
		}
		inBreak = false
		sb.WriteByte(c)
	}
	return sb.String()
}
