// Package addresses is in charge of the hosted addresses of DESIGN.md §4:
// what a valid address looks like, which subdomain labels are reserved, who
// may create, share, suspend, reinstate or revoke an address, and what the
// MX tier answers for a recipient.
//
// Every caller goes through this package: the command line (which acts as
// the operator), the web app and the JSON API (which act as the logged-in
// user), and the mail tiers (which ask Recipient at RCPT time). The store
// below it keeps rows and enforces uniqueness; it knows no policy.
//
// Shape. An address is local@sub.apex: exactly one subdomain label in front
// of a configured apex. Apex addresses and catch-alls do not exist. The
// canonical form is lower-case; input is never silently trimmed.
//
// Authorization. Every decision is made from the stored row, never from what
// the request claims. A plain user sees and acts on only the addresses they
// hold; an address that exists but is held by someone else answers ErrNotFound,
// exactly like one that does not exist, so that existence does not leak.
// Admins and the operator may act on any address; their changes are written
// to the audit log.
//
// Sharing and revocation. An address may have several holders (delivery fans
// out to each). When a plain user revokes a shared address only their own
// hold is dropped; the address itself is revoked when its last holder leaves.
// A revoke by an admin or the operator removes the address outright.
//
// This package does not publish DNS records (internal/dnsd derives them from
// the address table) and does not deliver mail.
package addresses
