// Package imapd is the IMAP server (the imap tier): IMAP4rev1 (RFC 3501)
// and IMAP4rev2 (RFC 9051) over the mailbox store, on implicit TLS (993)
// and STARTTLS (143) listeners.
//
// It is in charge of the protocol only: connections and their limits (per
// peer address and per user, read deadlines, the APPEND size limit, which
// is refused before the literal is read), authentication (LOGIN and
// AUTHENTICATE PLAIN only over TLS, or from loopback in development mode;
// failed logins are slowed per address and counted), and turning commands
// into calls on internal/mailbox: sequence numbers, untagged responses,
// response codes, FETCH sections and SEARCH evaluation. Mailboxes,
// messages, flags, UIDs, mod-sequences, message parsing and change
// notification belong to internal/mailbox; passwords to internal/accounts.
//
// The protocol layer is a fork of the server of
// github.com/emersion/go-imap/v2 v2.0.0-beta.8 (imapserver and the
// internal packages it needs, MIT licence, in internal/), because that
// version falls short in ways that cannot be fixed from outside:
//
//   - no CONDSTORE (RFC 7162): the fork parses SELECT (CONDSTORE), FETCH
//     MODSEQ and (CHANGEDSINCE), STORE (UNCHANGEDSINCE) with the MODIFIED
//     code, SEARCH MODSEQ, STATUS HIGHESTMODSEQ and ENABLE CONDSTORE, and
//     sends HIGHESTMODSEQ on SELECT;
//   - no ID (RFC 2971) and no QUOTA (RFC 9208) commands: added;
//   - ENVELOPE and BODYSTRUCTURE were rebuilt from parsed values (dates
//     re-formatted, names re-encoded, groups lost): the fork writes the
//     header texts as the store kept them, groups and NIL included;
//   - a refused non-synchronizing literal (LITERAL+, RFC 7888) was left in
//     the stream and its data read as commands: the fork skips it, or
//     closes the connection when it cannot;
//   - the LIST pattern matcher was exponential in the number of wildcards:
//     LIST here uses a linear-time matcher;
//   - the loopback-only insecure login needs a per-connection decision.
//
// Metrics (Prometheus, in the process registry with tier="imap"):
// cabalmail_imap_login_failures_total, cabalmail_imap_connections (a gauge)
// and cabalmail_imap_commands_total{command}. The collectors are created and
// registered once per process, on the first New, and shared by every Server
// of the process (tests start many), so registering never fails.
//
// Capabilities: IMAP4rev1, IMAP4rev2, IDLE, UIDPLUS, MOVE, SPECIAL-USE,
// CREATE-SPECIAL-USE, NAMESPACE, LITERAL+, UNSELECT, ENABLE, SASL-IR,
// ESEARCH, SEARCHRES, ID, APPENDLIMIT, STATUS=SIZE, CONDSTORE, QUOTA,
// BINARY, CHILDREN, LIST-EXTENDED, LIST-STATUS, UNAUTHENTICATE. \Recent is
// not kept (RFC 9051 dropped it): it is never set, and RECENT counts are 0.
package imapd
