package config

import (
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// staticTypes are the record types an operator may define.
var staticTypes = map[string]bool{"A": true, "AAAA": true, "CNAME": true, "TXT": true, "MX": true, "SRV": true, "CAA": true}

// checkDNSRecord validates one [[dns.record]] table; key is its prefix
// ("dns.record[0]").
func checkDNSRecord(key string, r DNSRecord) error {
	name := strings.TrimSuffix(r.Name, ".")
	if name == "" {
		return keyErr(key+".name", "is required")
	}
	if len(name) > 253 {
		return keyErr(key+".name", "%q is longer than 253 octets", r.Name)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return keyErr(key+".name", "%q is not a fully qualified name", r.Name)
	}
	for _, l := range labels {
		if err := checkRecordLabel(l); err != nil {
			return keyErr(key+".name", "%q: %v", r.Name, err)
		}
	}
	typ := strings.ToUpper(r.Type)
	if !staticTypes[typ] {
		return keyErr(key+".type", "must be one of A, AAAA, CNAME, TXT, MX, SRV, CAA, not %q", r.Type)
	}
	if r.Value == "" {
		return keyErr(key+".value", "is required")
	}
	if typ == "TXT" {
		// Served as character-strings of at most 255 octets each; keep the
		// whole record well inside a 64 KiB message.
		if len(r.Value) > 4000 {
			return keyErr(key+".value", "a TXT value longer than 4000 octets is not supported")
		}
		return nil
	}
	rr, err := dns.NewRR(name + ". 3600 IN " + typ + " " + r.Value)
	if err != nil || rr == nil {
		msg := "no value"
		if err != nil {
			msg = err.Error()
		}
		return keyErr(key+".value", "%q is not a valid %s value: %s", r.Value, typ, msg)
	}
	if rr.Header().Rrtype != dns.StringToType[typ] {
		return keyErr(key+".value", "%q is not a valid %s value", r.Value, typ)
	}
	return nil
}

// checkRecordLabel allows what host names allow plus underscores, which
// service labels use (_sip._tcp, _mta-sts), in either case.
func checkRecordLabel(l string) error {
	if l == "" || len(l) > 63 {
		return fmt.Errorf("label %q must be 1 to 63 octets", l)
	}
	for i := 0; i < len(l); i++ {
		ch := l[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_':
		case ch == '-' && i > 0 && i < len(l)-1:
		default:
			return fmt.Errorf("label %q may hold only letters, digits, underscores and inner hyphens", l)
		}
	}
	return nil
}
