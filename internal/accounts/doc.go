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
// The 19 MiB arrays are kept and reused rather than made for each
// computation (internal/argon2 is a fork of x/crypto's argon2 for that), so
// a login leaves no garbage for the collector to chase during the next
// command. Memory is bounded by the same slots: the process-wide bound keeps
// one array per computation that has run alongside others, so its steady
// state is at most max(GOMAXPROCS, 2) × 19 MiB (38 MiB on two cores) and
// 19 MiB on a server that checks one password at a time; a Service with a
// bound of its own keeps up to that many arrays besides. A stored hash with
// a larger memory cost is checked in an array of its own that is dropped
// afterwards.
//
// Who may hold which address is not decided here; see internal/addresses.
package accounts
