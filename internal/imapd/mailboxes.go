package imapd

import (
	"errors"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapserver"
	"github.com/cabalmail/cabalmail/internal/mailbox"
)

// canonicalName spells INBOX (and INBOX/... children) the one way the store
// knows it: INBOX is case-insensitive (RFC 3501 5.1).
func canonicalName(name string) string {
	if len(name) >= 5 && strings.EqualFold(name[:5], mailbox.Inbox) && (len(name) == 5 || name[5] == mailbox.Delimiter) {
		return mailbox.Inbox + name[5:]
	}
	return name
}

func (ss *session) Create(name string, options *imap.CreateOptions) error {
	name = strings.TrimSuffix(canonicalName(name), string(mailbox.Delimiter)) // RFC 3501 6.3.3: trailing delimiter
	use := mailbox.UseNone
	if options != nil {
		switch len(options.SpecialUse) {
		case 0:
		case 1:
			use = mailbox.SpecialUse(options.SpecialUse[0])
			switch use {
			case mailbox.UseArchive, mailbox.UseDrafts, mailbox.UseJunk, mailbox.UseSent, mailbox.UseTrash:
			default:
				// RFC 6154 3: USEATTR for a special use we do not support.
				return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"), Text: "Unsupported special-use attribute"}
			}
		default:
			return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCode("USEATTR"), Text: "Only one special-use attribute per mailbox"}
		}
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	if err := ss.srv.opts.Mailboxes.Create(ctx, ss.user.ID, name, use); err != nil {
		return ss.storeError("create", err)
	}
	return nil
}

func (ss *session) Delete(name string) error {
	ctx, cancel := ss.ctx()
	defer cancel()
	if err := ss.srv.opts.Mailboxes.Delete(ctx, ss.user.ID, canonicalName(name)); err != nil {
		return ss.storeError("delete", err)
	}
	return nil
}

func (ss *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	ctx, cancel := ss.ctx()
	defer cancel()
	err := ss.srv.opts.Mailboxes.Rename(ctx, ss.user.ID, canonicalName(oldName), canonicalName(newName))
	if err != nil {
		return ss.storeError("rename", err)
	}
	return nil
}

func (ss *session) Subscribe(name string) error {
	ctx, cancel := ss.ctx()
	defer cancel()
	if err := ss.srv.opts.Mailboxes.Subscribe(ctx, ss.user.ID, canonicalName(name)); err != nil {
		return ss.storeError("subscribe", err)
	}
	return nil
}

func (ss *session) Unsubscribe(name string) error {
	ctx, cancel := ss.ctx()
	defer cancel()
	if err := ss.srv.opts.Mailboxes.Unsubscribe(ctx, ss.user.ID, canonicalName(name)); err != nil {
		return ss.storeError("unsubscribe", err)
	}
	return nil
}

func (ss *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	ctx, cancel := ss.ctx()
	defer cancel()
	name = canonicalName(name)
	st, err := ss.srv.opts.Mailboxes.Status(ctx, ss.user.ID, name)
	if err != nil {
		return nil, ss.storeError("status", err)
	}
	if options.HighestModSeq {
		ss.condstore = true
	}
	return ss.statusData(name, st), nil
}

func (ss *session) statusData(name string, st mailbox.Status) *imap.StatusData {
	limit := uint32(ss.srv.opts.AppendLimit)
	return &imap.StatusData{
		Mailbox:       name,
		NumMessages:   &st.Messages,
		NumRecent:     &st.Recent,
		UIDNext:       imap.UID(st.UIDNext),
		UIDValidity:   st.UIDValidity,
		NumUnseen:     &st.Unseen,
		NumDeleted:    &st.Deleted,
		Size:          &st.Size,
		AppendLimit:   &limit,
		HighestModSeq: st.HighestModSeq,
	}
}

// List implements LIST and LSUB, with the LIST-EXTENDED selection and
// return options (RFC 5258), SPECIAL-USE (RFC 6154) and LIST-STATUS
// (RFC 5819).
func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// RFC 3501 6.3.8: an empty name asks for the delimiter and root.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: mailbox.Delimiter, Mailbox: ""})
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	all, err := ss.srv.opts.Mailboxes.List(ctx, ss.user.ID)
	if err != nil {
		return ss.storeError("list", err)
	}
	subs, err := ss.srv.opts.Mailboxes.Subscriptions(ctx, ss.user.ID)
	if err != nil {
		return ss.storeError("list", err)
	}
	subscribed := map[string]bool{}
	for _, n := range subs {
		subscribed[n] = true
	}
	byName := map[string]mailbox.MailboxInfo{}
	for _, mb := range all {
		byName[mb.Name] = mb
	}

	// The names to consider: every mailbox, or with SUBSCRIBED (and LSUB)
	// every subscription, existing or not (RFC 5258 3.1).
	var names []string
	if options.SelectSubscribed {
		names = subs
	} else {
		for _, mb := range all {
			names = append(names, mb.Name)
		}
	}
	for _, name := range names {
		if !matchAny(name, ref, patterns) {
			continue
		}
		mb, exists := byName[name]
		if options.SelectSpecialUse && (!exists || mb.SpecialUse == mailbox.UseNone) {
			continue
		}
		data := &imap.ListData{Delim: mailbox.Delimiter, Mailbox: name}
		switch {
		case !exists || mb.NonExistent:
			data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent, imap.MailboxAttrNoSelect)
		case mb.HasChildren:
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		default:
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if exists && mb.SpecialUse != mailbox.UseNone {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(mb.SpecialUse))
		}
		if subscribed[name] && (options.SelectSubscribed || options.ReturnSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if options.ReturnStatus != nil && exists && !mb.NonExistent {
			st, err := ss.srv.opts.Mailboxes.Status(ctx, ss.user.ID, name)
			if err != nil && !errors.Is(err, mailbox.ErrNoMailbox) {
				return ss.storeError("list", err)
			}
			if err == nil {
				data.Status = ss.statusData(name, st)
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if matchMailboxPattern(name, canonicalName(ref+p)) {
			return true
		}
	}
	return false
}

// matchMailboxPattern matches a mailbox name against a LIST pattern
// (RFC 3501 6.3.8): '*' matches anything, '%' anything but the hierarchy
// delimiter. It runs in O(len(name)*len(pattern)) whatever the pattern, so
// a pattern full of wildcards cannot make it spin.
func matchMailboxPattern(name, pattern string) bool {
	// prev[j]: pattern[:i] matches name[:j].
	prev := make([]bool, len(name)+1)
	cur := make([]bool, len(name)+1)
	prev[0] = true
	for i := 0; i < len(pattern); i++ {
		pc := pattern[i]
		switch pc {
		case '*', '%':
			// cur[j] = prev[j] || (cur[j-1] && name[j-1] may be eaten)
			cur[0] = prev[0]
			for j := 1; j <= len(name); j++ {
				cur[j] = prev[j] || (cur[j-1] && (pc == '*' || name[j-1] != mailbox.Delimiter))
			}
		default:
			cur[0] = false
			for j := 1; j <= len(name); j++ {
				cur[j] = prev[j-1] && name[j-1] == pc
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(name)]
}

func (ss *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	flags, err := flagsFromIMAP(options.Flags)
	if err != nil {
		return nil, err
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	res, err := ss.srv.opts.Mailboxes.Append(ctx, ss.user.ID, canonicalName(name), r, mailbox.AppendOptions{
		Flags:        flags,
		InternalDate: options.Time,
	})
	if err != nil {
		return nil, ss.destError("append", err)
	}
	return &imap.AppendData{UID: imap.UID(res.UID), UIDValidity: res.UIDValidity}, nil
}

// destError is storeError for the destination of APPEND, COPY and MOVE,
// where a missing mailbox earns TRYCREATE (RFC 3501 6.3.11, 6.4.7).
func (ss *session) destError(op string, err error) error {
	if errors.Is(err, mailbox.ErrNoMailbox) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate, Text: "No such mailbox; create it first"}
	}
	return ss.storeError(op, err)
}

// flagsFromIMAP converts flags from a command (APPEND, STORE). \Recent
// cannot be set by a client (RFC 3501 2.3.2) and is ignored; other system
// flags we do not know are refused.
func flagsFromIMAP(in []imap.Flag) (mailbox.Flags, error) {
	var f mailbox.Flags
	for _, fl := range in {
		switch strings.ToLower(string(fl)) {
		case `\seen`:
			f.System |= mailbox.FlagSeen
		case `\answered`:
			f.System |= mailbox.FlagAnswered
		case `\flagged`:
			f.System |= mailbox.FlagFlagged
		case `\deleted`:
			f.System |= mailbox.FlagDeleted
		case `\draft`:
			f.System |= mailbox.FlagDraft
		case `\recent`:
		default:
			if strings.HasPrefix(string(fl), `\`) {
				return f, &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Unknown system flag " + string(fl)}
			}
			f.Keywords = append(f.Keywords, string(fl))
		}
	}
	return f, nil
}

// flagsToIMAP lists a message's flags for FETCH FLAGS.
func flagsToIMAP(f mailbox.Flags) []imap.Flag {
	return appendFlagsIMAP(make([]imap.Flag, 0, 5+len(f.Keywords)), f)
}

// appendFlagsIMAP appends f's flags to out (FETCH reuses one slice for
// every message).
func appendFlagsIMAP(out []imap.Flag, f mailbox.Flags) []imap.Flag {
	for _, sf := range []struct {
		bit  mailbox.SystemFlags
		flag imap.Flag
	}{
		{mailbox.FlagSeen, imap.FlagSeen}, {mailbox.FlagAnswered, imap.FlagAnswered},
		{mailbox.FlagFlagged, imap.FlagFlagged}, {mailbox.FlagDeleted, imap.FlagDeleted},
		{mailbox.FlagDraft, imap.FlagDraft},
	} {
		if f.System&sf.bit != 0 {
			out = append(out, sf.flag)
		}
	}
	for _, k := range f.Keywords {
		out = append(out, imap.Flag(k))
	}
	return out
}
