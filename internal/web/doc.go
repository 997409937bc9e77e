// Package web is the web role: the address-management web app and the JSON
// API under /api/v1 (DESIGN.md §2 and §5).
//
// It is in charge of HTTP: routing, authentication (password, TOTP second
// factor, browser sessions, API bearer tokens), CSRF protection, rate
// limits, security headers, the JSON error format and the server-rendered
// pages with their embedded assets. Every request is authorized from the
// stored user and address rows.
//
// It is not in charge of address or account policy: who may create which
// address, what a valid name is and what revocation means belong to
// internal/addresses and internal/accounts, which this package only calls.
// It never talks to the database except through the store interface.
package web
