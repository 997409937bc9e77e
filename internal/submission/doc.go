// Package submission is the front half of the smtp-out tier (DESIGN.md §2):
// authenticated message submission (RFC 6409) on port 587 with STARTTLS and
// on port 465 with implicit TLS (RFC 8314). It authenticates the user,
// checks that the envelope sender and every From address are addresses the
// user holds, applies the per-user limits, fixes the message up, DKIM-signs
// it and hands it to the durable outbound queue. It answers 250 only once
// the queue says the message is on stable storage.
//
// It is a thin adapter from github.com/emersion/go-smtp's Backend and
// Session to internal/accounts (passwords), the store's address rows (who
// holds which address), internal/domains and internal/dkim (which key signs
// and the signature) and the queue (the Queue interface, which
// internal/queue implements). It does not deliver anything: internal/delivery
// takes the queued message from there, to remote servers and to hosted
// mailboxes alike.
//
// # Authentication
//
// AUTH PLAIN (RFC 4616) and AUTH LOGIN are offered only over TLS, or on a
// loopback connection when the installation runs in development mode.
// SCRAM-SHA-256 is not offered: the store keeps argon2id hashes, from which
// the SCRAM verifier (RFC 5802 3) cannot be derived. Every failed login is
// counted (metric and program log) and answered 535 5.7.8 only after a delay
// that grows with the recent failures of the client's address; past a
// number of failures per address the client is told to come back later
// without its password being checked, and a connection that fails three
// times is closed.
//
// # What is done to a message
//
// RFC 6409 8 lets a submission server complete a message. We add Date
// (RFC 5322 3.6.1) and Message-ID (RFC 5322 3.6.4) when missing, add From
// from the envelope sender when missing, and remove every Bcc field (RFC
// 5322 3.6.3), since the message goes to every recipient alike, and put our
// Received field on top. The message is queued with its signing domain,
// the From domain, and DKIM-signed by internal/delivery when it is sent to
// a remote host (d= the From domain itself, s= its apex's selector,
// relaxed/relaxed, rsa-sha256, From oversigned): the 250 waits for the
// queue's fsync, not for an RSA signature, and mail to hosted recipients is
// not signed at all. That the From domain has a key and the header can be
// signed is checked before the 250. By default that Received
// field does not reveal the client's IP address or host name; the
// received_reveals_client_ip setting puts the address back.
//
// Lines must end with CRLF: a bare CR or LF (RFC 5321 2.3.8) and lines over
// 998 octets (RFC 5321 4.5.3.1.6) are refused with 550 5.5.2, so nothing we
// queue can be read differently by the next hop (SMTP smuggling).
//
// # Answers
//
// Our own trouble is never a 5xx (DESIGN.md §3): a store, queue, signing or
// internal error is answered 451 4.3.0. The definite refusals are 535 5.7.8
// (bad credentials), 550 5.7.1 naming the address the user does not hold,
// 452 4.5.3 (too many recipients), 552 5.3.4 (too big) and 450 4.7.1 (the
// daily message limit, which clears as the day's messages age out).
package submission
