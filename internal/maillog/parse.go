package maillog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Parse reads one line written by Format (a trailing newline is allowed) back
// into an Entry. It accepts only the exact form Format writes, so for any
// line it accepts, Format of the result gives the line again.
func Parse(line string) (Entry, error) {
	e, err := parse(strings.TrimSuffix(line, "\n"))
	if err != nil {
		return Entry{}, fmt.Errorf("maillog: parse: %w", err)
	}
	return e, nil
}

func parse(s string) (Entry, error) {
	var e Entry
	var err error

	field, s, ok := strings.Cut(s, " ")
	if !ok {
		return Entry{}, errors.New("missing tier after time")
	}
	if e.Time, err = time.Parse(timeLayout, field); err != nil {
		return Entry{}, fmt.Errorf("time: %w", err)
	}
	if e.Time.Location() != time.UTC || e.Time.Format(timeLayout) != field {
		return Entry{}, fmt.Errorf("time %q: want RFC 3339 in UTC to the second", field)
	}

	if field, s, ok = strings.Cut(s, " "); !ok {
		return Entry{}, errors.New("missing queue ID after tier")
	}
	if e.Tier, err = unescape(field, tierSpecial); err != nil {
		return Entry{}, fmt.Errorf("tier: %w", err)
	}

	if field, s, ok = strings.Cut(s, ": to=<"); !ok {
		return Entry{}, errors.New(`missing ": to=<" after queue ID`)
	}
	if e.QueueID, err = unescape(field, queueIDSpecial); err != nil {
		return Entry{}, fmt.Errorf("queue ID: %w", err)
	}

	if field, s, ok = strings.Cut(s, ">, delay="); !ok {
		return Entry{}, errors.New(`missing ">, delay=" after recipient`)
	}
	if e.Rcpt, err = unescape(field, rcptSpecial); err != nil {
		return Entry{}, fmt.Errorf("recipient: %w", err)
	}

	if field, s, ok = strings.Cut(s, ", "); !ok {
		return Entry{}, errors.New("missing stat after delay")
	}
	if e.Delay, err = parseDelay(field); err != nil {
		return Entry{}, err
	}

	if rest, found := strings.CutPrefix(s, "relay="); found {
		if field, s, ok = strings.Cut(rest, ", "); !ok {
			return Entry{}, errors.New("missing stat after relay")
		}
		if e.Relay, e.RelayIP, err = parseRelay(field); err != nil {
			return Entry{}, err
		}
	}

	if rest, found := strings.CutPrefix(s, "dsn="); found {
		if field, s, ok = strings.Cut(rest, ", "); !ok {
			return Entry{}, errors.New("missing stat after dsn")
		}
		if field == "" {
			return Entry{}, errors.New("empty dsn")
		}
		if e.DSN, err = unescape(field, dsnSpecial); err != nil {
			return Entry{}, fmt.Errorf("dsn: %w", err)
		}
	}

	s, ok = strings.CutPrefix(s, "stat=")
	if !ok {
		return Entry{}, fmt.Errorf("unexpected field at %.20q: want relay=, dsn= or stat=", s)
	}
	if e.Stat, e.Detail, err = parseStat(s); err != nil {
		return Entry{}, err
	}
	return e, nil
}

// parseDelay reads [D+]HH:MM:SS.
func parseDelay(s string) (time.Duration, error) {
	bad := fmt.Errorf("delay %q: want [D+]HH:MM:SS", s)
	var days int64
	if ds, hms, ok := strings.Cut(s, "+"); ok {
		n, err := strconv.ParseInt(ds, 10, 64)
		if err != nil || n <= 0 || n > int64(maxDelay/(24*time.Hour)) || ds[0] == '0' {
			return 0, bad
		}
		days, s = n, hms
	}
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return 0, bad
	}
	var parts [3]int64
	for i := range parts {
		a, b := s[i*3], s[i*3+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, bad
		}
		parts[i] = int64(a-'0')*10 + int64(b-'0')
	}
	if parts[0] > 23 || parts[1] > 59 || parts[2] > 59 {
		return 0, bad
	}
	secs := days*86400 + parts[0]*3600 + parts[1]*60 + parts[2]
	if secs > int64(maxDelay/time.Second) {
		return 0, bad
	}
	return time.Duration(secs) * time.Second, nil
}

// maxDelay is the largest delay that survives a round trip: whole seconds
// that fit a time.Duration.
const maxDelay = time.Duration(1<<63-1) / time.Second * time.Second

// parseRelay reads "host [ip]", "host" or "[ip]".
func parseRelay(s string) (host, ip string, err error) {
	if s == "" {
		return "", "", errors.New("empty relay")
	}
	if i := strings.IndexByte(s, '['); i >= 0 {
		if !strings.HasSuffix(s, "]") || i > 0 && (i < 2 || s[i-1] != ' ') {
			return "", "", fmt.Errorf("relay %q: want \"host [ip]\", \"host\" or \"[ip]\"", s)
		}
		if ip, err = unescape(s[i+1:len(s)-1], ipSpecial); err != nil {
			return "", "", fmt.Errorf("relay IP: %w", err)
		}
		if ip == "" {
			return "", "", errors.New("relay: empty IP in brackets")
		}
		if i == 0 {
			return "", ip, nil
		}
		s = s[:i-1]
	}
	if host, err = unescape(s, hostSpecial); err != nil {
		return "", "", fmt.Errorf("relay host: %w", err)
	}
	return host, ip, nil
}

// parseStat reads "Deferred: detail", "Stat (detail)" or "Stat". The status
// phrase never holds a raw ':' or '(' (Format escapes them), so the first of
// ": " and " (" ends it.
func parseStat(s string) (stat, detail string, err error) {
	end, form := len(s), byte(0)
	if i := strings.Index(s, ": "); i >= 0 {
		end, form = i, ':'
	}
	if i := strings.Index(s, " ("); i >= 0 && i < end {
		end, form = i, '('
	}
	if stat, err = unescape(s[:end], statSpecial); err != nil {
		return "", "", fmt.Errorf("stat: %w", err)
	}
	switch form {
	case ':':
		if stat != statDeferred {
			return "", "", fmt.Errorf("stat %q: only %s takes a detail after a colon", stat, statDeferred)
		}
		detail = s[end+2:]
	case '(':
		if stat == statDeferred {
			return "", "", fmt.Errorf("stat %s: detail goes after a colon, not in parentheses", statDeferred)
		}
		if !strings.HasSuffix(s, ")") || len(s) < end+3 {
			return "", "", errors.New("stat: detail in parentheses lacks its closing ')'")
		}
		detail = s[end+2 : len(s)-1]
	}
	if form != 0 {
		if detail == "" {
			return "", "", errors.New("stat: empty detail")
		}
		if detail, err = unescape(detail, detailSpecial); err != nil {
			return "", "", fmt.Errorf("stat detail: %w", err)
		}
		if foldLineBreaks(detail) != detail {
			return "", "", errors.New("stat detail: raw line break")
		}
	}
	return stat, detail, nil
}
