// Package authres computes the Authentication-Results header field
// (RFC 8601) the MX tier stamps on every message it accepts: the SPF
// verdict for the envelope sender (RFC 7208), the DKIM verdict of each
// signature (RFC 6376) and the DMARC verdict for the From domain
// (RFC 7489).
//
// It only observes: nothing here rejects a message. DNS look-ups go to the
// configured resolver under a short deadline, so a slow or dead resolver
// yields "temperror" in the header and never stalls the SMTP session.
//
// It also removes, before stamping, any incoming Authentication-Results
// field that claims our authserv-id (RFC 8601 5), so a sender cannot forge
// our verdicts.
//
// The SPF, DKIM and DMARC mechanics are the libraries'
// (blitiri.com.ar/go/spf, github.com/emersion/go-msgauth); this package
// wires them to one resolver and one deadline, evaluates DMARC alignment
// (RFC 7489 3.1), and formats the result.
package authres
