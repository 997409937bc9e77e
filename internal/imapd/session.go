package imapd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"

	"github.com/cabalmail/cabalmail/internal/accounts"
	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapserver"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/store"
)

// opTimeout bounds one store operation started by a command.
const opTimeout = 2 * time.Minute

// session is one IMAP connection's state: who is logged in and which
// mailbox is selected. The library calls its methods from the connection's
// goroutine, one command at a time (Idle runs beside a reader waiting for
// DONE).
type session struct {
	srv  *Server
	conn *imapserver.Conn
	ip   string

	user     *store.User // nil until logged in
	view     *mailbox.View
	readOnly bool
	// condstore is set once the client used a CONDSTORE feature
	// (RFC 7162 3.1): FETCH responses then carry MODSEQ.
	condstore bool
	// saved is the result of the last SEARCH RETURN (SAVE) (RFC 5182), as UIDs.
	saved []uint32
	// flagBuf is reused by FETCH to list each message's flags.
	flagBuf []imap.Flag
}

var (
	_ imapserver.SessionIMAP4rev2      = (*session)(nil)
	_ imapserver.SessionAppendLimit    = (*session)(nil)
	_ imapserver.SessionSASL           = (*session)(nil)
	_ imapserver.SessionUnauthenticate = (*session)(nil)
	_ imapserver.SessionExtensions     = (*session)(nil)
)

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	return &session{srv: s, conn: c, ip: peerIP(c.NetConn().RemoteAddr())}, nil, nil
}

func (ss *session) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

func (ss *session) Close() error {
	ss.closeView()
	ss.logout()
	return nil
}

func (ss *session) logout() {
	if ss.user != nil {
		ss.srv.releaseUser(ss.user.ID)
		ss.user = nil
	}
}

func (ss *session) closeView() {
	if ss.view != nil {
		if err := ss.view.Close(); err != nil {
			ss.srv.log.Warn("imap close view", "err", err)
		}
		ss.view = nil
	}
	ss.saved = nil
}

// authTimeout bounds a password check, waiting for a hashing slot
// included: a reconnect storm queues logins, and a client that waited this
// long is better told to retry.
const authTimeout = 30 * time.Second

// Login implements LOGIN and, through AUTHENTICATE PLAIN, SASL.
func (ss *session) Login(username, password string) error {
	ctx, cancel := context.WithTimeout(context.Background(), authTimeout)
	defer cancel()
	u, err := ss.srv.opts.Accounts.Authenticate(ctx, username, password)
	if err != nil {
		if !refused(err) {
			// The check itself failed (busy, store down): no answer about
			// the credentials, and nothing counted against the client.
			ss.srv.log.Warn("imap login: cannot check credentials", "user", username, "peer", ss.ip, "err", err)
			// RFC 5530 3: UNAVAILABLE, a temporary failure of the server.
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
				Text: "Cannot check credentials now; try again later"}
		}
		delay := ss.srv.loginFailed(ss.ip)
		ss.srv.log.Info("imap login failed", "user", username, "peer", ss.ip, "err", err, "delay", delay)
		time.Sleep(delay)
		return imapserver.ErrAuthFailed
	}
	if !ss.srv.acquireUser(u.ID) {
		ss.srv.log.Info("imap login refused: too many connections", "user", u.Name, "peer", ss.ip)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
			Text: "Too many connections for this user; close some and retry"}
	}
	ss.user = &u
	ss.srv.log.Info("imap login", "user", u.Name, "peer", ss.ip)
	// Most clients SELECT INBOX next: load its index and header cache now,
	// beside the network round trip. The load runs in the mailbox store,
	// which bounds it and waits for it when it closes.
	ss.srv.opts.Mailboxes.Warm(u.ID)
	return nil
}

// refused reports whether an Authenticate error is an answer about the
// credentials (wrong, or the account may not log in), as opposed to a
// failure to check them.
func refused(err error) bool {
	return errors.Is(err, accounts.ErrBadCredentials) || errors.Is(err, accounts.ErrDisabled) ||
		errors.Is(err, accounts.ErrPending)
}

func (ss *session) AuthenticateMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Authenticate(mech string) (sasl.Server, error) {
	if !strings.EqualFold(mech, sasl.Plain) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported SASL mechanism; use PLAIN"}
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthorizationFailed,
				Text: "Acting as another user is not supported"}
		}
		return ss.Login(username, password)
	}), nil
}

func (ss *session) Unauthenticate() error {
	ss.closeView()
	ss.logout()
	return nil
}

func (ss *session) AppendLimit() uint32 { return uint32(ss.srv.opts.AppendLimit) }

func (ss *session) Namespace() (*imap.NamespaceData, error) {
	// RFC 2342 5: one personal namespace with an empty prefix.
	return &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: mailbox.Delimiter}},
	}, nil
}

// ID answers RFC 2971 ID with the server's name; the client's values are
// only logged.
func (ss *session) ID(client map[string]string) map[string]string {
	if len(client) > 0 {
		ss.srv.log.Debug("imap client id", "peer", ss.ip, "id", client)
	}
	return map[string]string{"name": "cabalmail"}
}

// EnableCondStore records that the client asked for CONDSTORE (ENABLE
// CONDSTORE, SELECT (CONDSTORE), or a CONDSTORE modifier; RFC 7162 3.1).
func (ss *session) EnableCondStore() { ss.condstore = true }

// Quota implements GETQUOTA and GETQUOTAROOT (RFC 9208): one root, "",
// holding every mailbox of the user, with the STORAGE resource in KiB.
func (ss *session) Quota(root string) (*imapserver.QuotaData, error) {
	if root != "" {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such quota root"}
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	q, err := ss.srv.opts.Mailboxes.Quota(ctx, ss.user.ID)
	if err != nil {
		return nil, ss.storeError("quota", err)
	}
	d := &imapserver.QuotaData{Root: ""}
	if q.Limit > 0 {
		d.Resources = append(d.Resources, imapserver.QuotaResource{
			Name: "STORAGE", Usage: (q.Used + 1023) / 1024, Limit: q.Limit / 1024,
		})
	}
	return d, nil
}

func (ss *session) QuotaRoots(name string) ([]string, error) {
	ctx, cancel := ss.ctx()
	defer cancel()
	if _, err := ss.srv.opts.Mailboxes.Status(ctx, ss.user.ID, name); err != nil {
		return nil, ss.storeError("getquotaroot", err)
	}
	return []string{""}, nil
}

// storeError turns a mailbox store error into the IMAP response for it
// (response codes from RFC 5530, RFC 9051 7.1).
func (ss *session) storeError(op string, err error) error {
	var code imap.ResponseCode
	text := ""
	switch {
	case errors.Is(err, mailbox.ErrNoMailbox):
		code, text = imap.ResponseCodeNonExistent, "No such mailbox"
	case errors.Is(err, mailbox.ErrExists):
		code, text = imap.ResponseCodeAlreadyExists, "Mailbox already exists"
	case errors.Is(err, mailbox.ErrOverQuota):
		code, text = imap.ResponseCodeOverQuota, "Over quota"
	case errors.Is(err, mailbox.ErrInvalidName):
		code, text = imap.ResponseCodeCannot, "Invalid mailbox name"
	case errors.Is(err, mailbox.ErrNotAllowed):
		code, text = imap.ResponseCodeCannot, "Not allowed on this mailbox"
	case errors.Is(err, mailbox.ErrInvalidFlag):
		code, text = imap.ResponseCodeCannot, "Invalid flag"
	case errors.Is(err, mailbox.ErrTooBig):
		code, text = imap.ResponseCodeTooBig, "Message too big"
	case errors.Is(err, mailbox.ErrNoMessage):
		code, text = imap.ResponseCode("EXPUNGEISSUED"), "Message was expunged"
	default:
		// Our fault, not the client's: a temporary failure (RFC 5530 UNAVAILABLE).
		ss.srv.log.Error("imap store error", "op", op, "user", ss.userName(), "err", err)
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
			Text: fmt.Sprintf("Temporary failure in %s; try again", op)}
	}
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: text}
}

func (ss *session) userName() string {
	if ss.user == nil {
		return ""
	}
	return ss.user.Name
}
