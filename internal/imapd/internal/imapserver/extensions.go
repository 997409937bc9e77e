package imapserver

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapwire"
)

// This file is not in the upstream library (v2.0.0-beta.8), whose server
// has no ID (RFC 2971), QUOTA (RFC 9208) or CONDSTORE (RFC 7162) support.

// SessionExtensions is a session that supports ID, QUOTA and CONDSTORE.
type SessionExtensions interface {
	Session
	// ID returns the server's identification, given the client's.
	ID(client map[string]string) map[string]string
	// EnableCondStore is called when the client enables CONDSTORE
	// (ENABLE CONDSTORE or SELECT/EXAMINE (CONDSTORE)).
	EnableCondStore()
	// Quota returns a quota root's resources (GETQUOTA).
	Quota(root string) (*QuotaData, error)
	// QuotaRoots returns the quota roots of a mailbox (GETQUOTAROOT).
	QuotaRoots(mailbox string) ([]string, error)
}

// QuotaData is one quota root with its resources (RFC 9208 5.1).
type QuotaData struct {
	Root      string
	Resources []QuotaResource
}

// QuotaResource is a resource's usage and limit, in its units (KiB for
// STORAGE).
type QuotaResource struct {
	Name         string
	Usage, Limit int64
}

// ModifiedError is the outcome of a conditional STORE that left some
// messages alone (RFC 7162 3.1.3): the command still completes with OK.
func ModifiedError(set imap.NumSet) error {
	return &imap.Error{
		Type: imap.StatusResponseTypeOK,
		Code: imap.ResponseCode("MODIFIED " + set.String()),
		Text: "Conditional STORE failed for some messages",
	}
}

func (c *Conn) extensions() (SessionExtensions, error) {
	ext, ok := c.session.(SessionExtensions)
	if !ok {
		return nil, newClientBugError("Command not supported")
	}
	return ext, nil
}

// handleID implements ID (RFC 2971 3.1): "ID" SP ( "(" field value ... ")" / NIL ).
func (c *Conn) handleID(dec *imapwire.Decoder) error {
	if !dec.ExpectSP() {
		return dec.Err()
	}
	client := map[string]string{}
	var key string
	n := 0
	err := dec.ExpectNList(func() error {
		var s string
		if n%2 == 0 {
			if !dec.ExpectString(&key) {
				return dec.Err()
			}
		} else {
			if !dec.ExpectNString(&s) {
				return dec.Err()
			}
			if len(client) < 30 { // RFC 2971 3.3: at most 30 pairs
				client[key] = s
			}
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n%2 != 0 {
		return newClientBugError("ID field without a value")
	}
	if !dec.ExpectCRLF() {
		return dec.Err()
	}
	ext, err := c.extensions()
	if err != nil {
		return err
	}
	server := ext.ID(client)
	keys := make([]string, 0, len(server))
	for k := range server {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("ID").SP()
	if len(keys) == 0 {
		enc.NIL()
	} else {
		enc.List(len(keys), func(i int) {
			enc.String(keys[i]).SP().String(server[keys[i]])
		})
	}
	return enc.CRLF()
}

// handleGetQuota implements GETQUOTA (RFC 9208 4.2).
func (c *Conn) handleGetQuota(dec *imapwire.Decoder) error {
	var root string
	if !dec.ExpectSP() || !dec.ExpectAString(&root) || !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	ext, err := c.extensions()
	if err != nil {
		return err
	}
	q, err := ext.Quota(root)
	if err != nil {
		return err
	}
	return c.writeQuota(q)
}

// handleGetQuotaRoot implements GETQUOTAROOT (RFC 9208 4.3).
func (c *Conn) handleGetQuotaRoot(dec *imapwire.Decoder) error {
	var name string
	if !dec.ExpectSP() || !dec.ExpectMailbox(&name) || !dec.ExpectCRLF() {
		return dec.Err()
	}
	if err := c.checkState(imap.ConnStateAuthenticated); err != nil {
		return err
	}
	ext, err := c.extensions()
	if err != nil {
		return err
	}
	roots, err := ext.QuotaRoots(name)
	if err != nil {
		return err
	}
	enc := newResponseEncoder(c)
	enc.Atom("*").SP().Atom("QUOTAROOT").SP().Mailbox(name)
	for _, r := range roots {
		enc.SP().String(r)
	}
	err = enc.CRLF()
	enc.end()
	if err != nil {
		return err
	}
	for _, r := range roots {
		q, err := ext.Quota(r)
		if err != nil {
			return err
		}
		if err := c.writeQuota(q); err != nil {
			return err
		}
	}
	return nil
}

func (c *Conn) writeQuota(q *QuotaData) error {
	enc := newResponseEncoder(c)
	defer enc.end()
	enc.Atom("*").SP().Atom("QUOTA").SP().String(q.Root).SP()
	enc.List(len(q.Resources), func(i int) {
		r := q.Resources[i]
		enc.Atom(strings.ToUpper(r.Name)).SP().Number64(r.Usage).SP().Number64(r.Limit)
	})
	return enc.CRLF()
}

// readCondStoreParams reads the optional "(CONDSTORE)" select parameter
// (RFC 7162 3.1.8).
func readSelectParams(dec *imapwire.Decoder, options *imap.SelectOptions) error {
	if !dec.SP() {
		return nil
	}
	return dec.ExpectList(func() error {
		var name string
		if !dec.ExpectAtom(&name) {
			return dec.Err()
		}
		switch strings.ToUpper(name) {
		case "CONDSTORE":
			options.CondStore = true
		default:
			return newClientBugError("Unknown SELECT parameter")
		}
		return nil
	})
}

// WriteModSeq writes the message's mod-sequence (RFC 7162 3.1.4).
func (w *FetchResponseWriter) WriteModSeq(modSeq uint64) {
	w.writeItemSep()
	w.enc.Atom("MODSEQ").SP().Special('(').ModSeq(modSeq).Special(')')
}

// WriteMessageFlagsModSeq writes an unsolicited FETCH with FLAGS and, if
// modSeq is not 0, MODSEQ (RFC 7162 3.2).
func (w *UpdateWriter) WriteMessageFlagsModSeq(seqNum uint32, uid imap.UID, flags []imap.Flag, modSeq uint64) error {
	fetchWriter := &FetchWriter{conn: w.conn}
	respWriter := fetchWriter.CreateMessage(seqNum)
	if uid != 0 {
		respWriter.WriteUID(uid)
	}
	respWriter.WriteFlags(flags)
	if modSeq != 0 {
		respWriter.WriteModSeq(modSeq)
	}
	return respWriter.Close()
}

// UpdateWriter returns a writer for the other updates a command reports
// along with its expunges.
// It is nil for CLOSE, which reports nothing (RFC 3501 6.4.2).
func (w *ExpungeWriter) UpdateWriter() *UpdateWriter {
	if w.conn == nil {
		return nil
	}
	return &UpdateWriter{conn: w.conn, allowExpunge: true}
}

// Silent reports whether this is the implicit expunge of CLOSE, which
// sends no responses and, in a read-only mailbox, does nothing without
// error (RFC 3501 6.4.2).
func (w *ExpungeWriter) Silent() bool { return w.conn == nil }

// UpdateWriter returns a writer for the other updates MOVE reports.
func (w *MoveWriter) UpdateWriter() *UpdateWriter {
	return &UpdateWriter{conn: w.conn, allowExpunge: true}
}
