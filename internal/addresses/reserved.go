package addresses

import "strings"

// The reserved subdomain labels, all in one place (DESIGN.md §4).
var (
	// reservedEverywhere can never be a subdomain on any apex: the address
	// management host and the client auto-configuration names that mail
	// clients probe on every domain.
	reservedEverywhere = map[string]bool{
		"mail-admin":   true,
		"autodiscover": true,
	}
	// reservedOnControl are the service names the product publishes under
	// its control domain; on that apex they can never be a subdomain.
	reservedOnControl = map[string]bool{
		"admin":      true,
		"www":        true,
		"imap":       true,
		"ns":         true, // the name server of the DNS role
		"smtp":       true,
		"smtp-in":    true,
		"smtp-out":   true,
		"mta-sts":    true,
		"autoconfig": true,
		"_dmarc":     true,
		"_domainkey": true,
	}
)

// isReserved reports whether label may never be a subdomain of apex, given
// the control domain. All three must be lower-case.
func isReserved(control, apex, label string) bool {
	if reservedEverywhere[label] {
		return true
	}
	if control == "" {
		return false
	}
	if apex == control && reservedOnControl[label] {
		return true
	}
	// label.apex must not be the control domain itself nor one of the names
	// on its way up to the apex: with control domain mail.example.test,
	// "mail" is reserved on example.test.
	name := label + "." + apex
	return name == control || strings.HasSuffix(control, "."+name)
}

// Reserved reports whether label can never be used as a subdomain on apex.
func (s *Service) Reserved(apex, label string) bool {
	return isReserved(s.control, canonicalDomain(apex), strings.ToLower(label))
}

// canonicalDomain lower-cases a configured domain name and drops a trailing
// dot, so that configuration written either way compares equal.
func canonicalDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(d), ".")
}
