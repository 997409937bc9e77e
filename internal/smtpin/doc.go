// Package smtpin is the MX tier (DESIGN.md §2, role smtp-in): an ESMTP
// server for the hosted subdomains that accepts mail only for active
// addresses, stamps Received and Authentication-Results, and stores each
// message in the INBOX of every user who holds an addressed address before
// it answers 250.
//
// It is a thin adapter from github.com/emersion/go-smtp's Backend and
// Session to internal/addresses (the RCPT verdict, read from the store at
// RCPT time so a revoke or suspend applies to the very next transaction),
// internal/authres (observe-only SPF, DKIM and DMARC) and internal/mailbox
// (durable, group-committed delivery). It does not relay, authenticate, or
// queue: every answer is final when given.
//
// After the 250, a background bookkeeper bumps the per-address counters
// and stores an event per recipient (deliveries too, unless
// Options.SkipSentEvents) for `cabalmail diagnose`, in batches of one
// transaction every 100ms at most; the mail log
// (DESIGN.md §6) gets one line per recipient at once. SPF is checked from
// MAIL FROM on, while the client sends the rest.
//
// Our own trouble is never a 5xx (DESIGN.md §3): a store error, a timeout,
// a full disk or a panic while handling a transaction is answered 451 4.3.0.
// The operator's tempfail switch (SetTempfail, `cabalmail inbound tempfail
// on`) turns every 5xx this package would give into the matching 4xx.
//
// # Bare CR and bare LF
//
// RFC 5321 2.3.8 says CR and LF must only occur together as CRLF; accepting
// them alone is what SMTP smuggling exploits ("\n.\n", "\r.\r",
// "\n.\r\n" taken as end-of-data by one server and not by another).
// go-smtp's DATA reader ends the data only at CRLF.CRLF and passes bare CR
// and bare LF through untouched, so this package sees them and refuses the
// whole message with 550 5.5.2 once its real end has been read (see
// scanMessage). The one form the library hides is a line starting with "."
// then a CR that is not followed by LF: its dot-unstuffing drops both octets.
// That cannot end the data early and leaves no bare CR in what is stored,
// so it cannot smuggle a second message through us or past a later hop.
// BDAT chunks (RFC 3030) are checked the same way.
//
// Lines longer than 998 octets (RFC 5321 4.5.3.1.6) are refused: go-smtp's
// line limit covers commands and DATA, and scanMessage covers BDAT, where
// the library lifts it.
package smtpin
