// Package accounts is in charge of users: their names, their passwords
// (argon2id, PHC string format), their lifecycle (pending, active,
// disabled, deleted) and their API tokens.
//
// The command line adds users that are active at once; the web app lets
// people sign up as pending users for an admin to approve. Authenticate and
// UserByToken are the only ways in: they answer the same ErrBadCredentials
// for an unknown user and a wrong secret, and spend the same hashing time
// on both, so that neither the error nor the timing tells whether a name
// exists.
//
// Each argon2id computation holds about 19 MiB and a core, so the process
// runs at most GOMAXPROCS of them at once (two on a single core; Options
// can set another bound); the rest wait for a slot as long as their
// context lets them, and give up with ErrBusy, a temporary failure.
//
// Who may hold which address is not decided here; see internal/addresses.
package accounts
