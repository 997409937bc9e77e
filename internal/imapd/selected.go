package imapd

import (
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapserver"
	"github.com/cabalmail/cabalmail/internal/mailbox"
)

var errReadOnly = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "Mailbox is read-only (EXAMINE)"}

// SelectReplaces marks Select as closing the selected mailbox itself
// (imapserver.SessionSelectReplaces).
func (ss *session) SelectReplaces() {}

// Select implements SELECT and EXAMINE. A mailbox already selected is
// closed (RFC 3501 6.3.1: even if this selection fails) once the new one
// is open: selecting the same mailbox again then keeps its index's caches
// (search filters), which the last view's close would drop.
func (ss *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	old := ss.view
	ss.view = nil
	ss.closeView() // the saved search result
	if old != nil {
		defer func() {
			if err := old.Close(); err != nil {
				ss.srv.log.Warn("imap close view", "err", err)
			}
		}()
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	v, err := ss.srv.opts.Mailboxes.Select(ctx, ss.user.ID, canonicalName(name))
	if err != nil {
		return nil, ss.storeError("select", err)
	}
	ss.view = v
	ss.readOnly = options.ReadOnly
	if options.CondStore {
		ss.condstore = true
	}
	st := v.Status()
	flags := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}
	for _, k := range v.Keywords() {
		flags = append(flags, imap.Flag(k))
	}
	permanent := append(slices.Clone(flags), imap.FlagWildcard)
	if ss.readOnly {
		permanent = nil // RFC 3501 6.3.2: nothing can be changed
	}
	return &imap.SelectData{
		Flags:             flags,
		PermanentFlags:    permanent,
		NumMessages:       uint32(len(v.UIDs())),
		FirstUnseenSeqNum: v.FirstUnseen(),
		UIDNext:           imap.UID(st.UIDNext),
		UIDValidity:       st.UIDValidity,
		HighestModSeq:     st.HighestModSeq,
	}, nil
}

func (ss *session) Unselect() error {
	ss.closeView()
	return nil
}

// Poll reports what changed in the selected mailbox since the last report
// (RFC 3501 7: untagged EXISTS, EXPUNGE, FETCH FLAGS). EXPUNGE is held
// back during FETCH, STORE and SEARCH (RFC 3501 7.4.1).
func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if ss.view == nil {
		return nil
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	ch, err := ss.view.Sync(ctx, allowExpunge)
	if err != nil {
		return ss.storeError("sync", err)
	}
	return ss.writeChanges(w, ch)
}

func (ss *session) writeChanges(w *imapserver.UpdateWriter, ch mailbox.Changes) error {
	if ch.Gone {
		// The mailbox was deleted or renamed by another session: nothing
		// sensible can be reported any more (RFC 3501 leaves this to us).
		ss.closeView()
		return &imap.Error{Type: imap.StatusResponseTypeBye, Text: "Selected mailbox was deleted or renamed"}
	}
	for _, seq := range ch.Expunged {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	if ch.NewKeywords {
		flags := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}
		for _, k := range ch.Keywords {
			flags = append(flags, imap.Flag(k))
		}
		if err := w.WriteMailboxFlags(flags); err != nil {
			return err
		}
	}
	if ch.NewExists {
		if err := w.WriteNumMessages(ch.Exists); err != nil {
			return err
		}
	}
	for _, m := range ch.Updated {
		seq := ss.view.SeqNum(m.UID)
		if seq == 0 {
			continue
		}
		var modseq uint64
		if ss.condstore {
			modseq = m.ModSeq
		}
		if err := w.WriteMessageFlagsModSeq(seq, imap.UID(m.UID), flagsToIMAP(m.Flags), modseq); err != nil {
			return err
		}
	}
	return nil
}

// Idle waits for changes and reports them until the client ends IDLE
// (RFC 2177). The store signals changes made by this process at once and
// by other processes within its poll interval.
func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if ss.view == nil {
		<-stop
		return nil
	}
	updated := ss.view.Updated()
	for {
		select {
		case <-stop:
			return nil
		case <-updated:
			if err := ss.Poll(w, true); err != nil {
				return err
			}
		}
	}
}

// resolve turns a sequence or UID set into the UIDs of the view it names,
// ascending. Static sequence numbers beyond the mailbox are an error
// (RFC 9051 6.4.4 says such sets are invalid); a UID set simply skips UIDs
// that do not exist (RFC 3501 6.4.8).
func (ss *session) resolve(numSet imap.NumSet) ([]uint32, error) {
	uids, err := ss.resolveShared(numSet)
	if err != nil {
		return nil, err
	}
	if set, ok := numSet.(imap.UIDSet); ok && len(set) == 1 && !imap.IsSearchRes(set) {
		uids = slices.Clone(uids)
	}
	return uids, nil
}

// resolveShared is resolve for a caller that only reads the result before
// the view's next Sync (FETCH): a single UID range is then a part of the
// view's own UID slice, not a copy of it (400 KB for 1:* over 100,000
// messages).
func (ss *session) resolveShared(numSet imap.NumSet) ([]uint32, error) {
	uids := ss.view.UIDs()
	switch set := numSet.(type) {
	case imap.SeqSet:
		n := uint32(len(uids))
		var out []uint32
		for _, r := range set {
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = n
			}
			if hi == 0 {
				hi = n
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if n == 0 && (r.Start == 0 || r.Stop == 0) {
				continue // "*" in an empty mailbox names nothing
			}
			if hi > n {
				return nil, &imap.Error{Type: imap.StatusResponseTypeBad, Code: imap.ResponseCodeClientBug, Text: "Message sequence number out of range"}
			}
			for s := lo; s <= hi; s++ {
				out = append(out, uids[s-1])
			}
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	case imap.UIDSet:
		if imap.IsSearchRes(set) {
			return ss.savedUIDs(), nil
		}
		if len(uids) == 0 {
			return nil, nil
		}
		maxUID := uids[len(uids)-1]
		if len(set) == 1 {
			// One range (1:* and the like): part of the view, already
			// sorted (capped: an append copies).
			lo, hi := uidRange(set[0], maxUID)
			i, _ := slices.BinarySearch(uids, lo)
			j, found := slices.BinarySearch(uids[i:], hi)
			if found {
				j++
			}
			return uids[i : i+j : i+j], nil
		}
		var out []uint32
		for _, r := range set {
			lo, hi := uidRange(r, maxUID)
			i, _ := slices.BinarySearch(uids, lo)
			for ; i < len(uids) && uids[i] <= hi; i++ {
				out = append(out, uids[i])
			}
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	return nil, nil
}

// savedUIDs is the saved SEARCH result ($, RFC 5182) less expunged messages.
// uidRange returns the bounds of r, lowest first, with "*" as maxUID.
func uidRange(r imap.UIDRange, maxUID uint32) (lo, hi uint32) {
	lo, hi = uint32(r.Start), uint32(r.Stop)
	if lo == 0 {
		lo = maxUID
	}
	if hi == 0 {
		// RFC 3501 6.4.8: "n:*" includes the last message even when n is
		// above every UID.
		hi = maxUID
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

func (ss *session) savedUIDs() []uint32 {
	var out []uint32
	for _, uid := range ss.saved {
		if ss.view.SeqNum(uid) != 0 {
			out = append(out, uid)
		}
	}
	return out
}

func (ss *session) Expunge(w *imapserver.ExpungeWriter, uidSet *imap.UIDSet) error {
	if ss.readOnly {
		if w.Silent() {
			return nil // CLOSE of an EXAMINEd mailbox removes nothing (RFC 3501 6.4.2)
		}
		return errReadOnly
	}
	var uids []uint32
	if uidSet != nil {
		var err error
		if uids, err = ss.resolve(*uidSet); err != nil {
			return err
		}
		if len(uids) == 0 {
			return nil
		}
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	if _, err := ss.view.Expunge(ctx, uids); err != nil {
		return ss.storeError("expunge", err)
	}
	if w.Silent() {
		return nil
	}
	ch, err := ss.view.Sync(ctx, true)
	if err != nil {
		return ss.storeError("expunge", err)
	}
	for _, seq := range ch.Expunged {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	// Other changes (new messages, flags) go out with the command's poll.
	ch.Expunged = nil
	return ss.writeChanges(w.UpdateWriter(), ch)
}

func (ss *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if ss.readOnly {
		return errReadOnly
	}
	uids, err := ss.resolve(numSet)
	if err != nil {
		return err
	}
	f, err := flagsFromIMAP(flags.Flags)
	if err != nil {
		return err
	}
	op := mailbox.FlagsReplace
	switch flags.Op {
	case imap.StoreFlagsAdd:
		op = mailbox.FlagsAdd
	case imap.StoreFlagsDel:
		op = mailbox.FlagsRemove
	}
	if options.UnchangedSince != 0 {
		ss.condstore = true
	}
	_, byUID := numSet.(imap.UIDSet)
	ctx, cancel := ss.ctx()
	defer cancel()
	updated, modified, err := ss.view.StoreFlags(ctx, uids, op, f, mailbox.StoreOptions{UnchangedSince: options.UnchangedSince})
	if err != nil {
		return ss.storeError("store", err)
	}
	// RFC 3501 6.4.6: each message's new flags, unless .SILENT; RFC 7162
	// 3.1.3: with CONDSTORE, MODSEQ too, even with .SILENT.
	if !flags.Silent || ss.condstore {
		for _, m := range updated {
			seq := ss.view.SeqNum(m.UID)
			if seq == 0 {
				continue
			}
			rw := w.CreateMessage(seq)
			if byUID {
				rw.WriteUID(imap.UID(m.UID))
			}
			if !flags.Silent {
				rw.WriteFlags(flagsToIMAP(m.Flags))
			}
			if ss.condstore {
				rw.WriteModSeq(m.ModSeq)
			}
			if err := rw.Close(); err != nil {
				return err
			}
		}
	}
	if len(modified) > 0 {
		var set imap.NumSet
		if byUID {
			var us imap.UIDSet
			for _, uid := range modified {
				us.AddNum(imap.UID(uid))
			}
			set = us
		} else {
			var ss2 imap.SeqSet
			for _, uid := range modified {
				if seq := ss.view.SeqNum(uid); seq != 0 {
					ss2.AddNum(seq)
				}
			}
			set = ss2
		}
		return imapserver.ModifiedError(set)
	}
	return nil
}

func (ss *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	uids, err := ss.resolve(numSet)
	if err != nil {
		return nil, err
	}
	if len(uids) == 0 {
		return nil, nil
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	res, err := ss.view.Copy(ctx, uids, canonicalName(dest))
	if err != nil {
		return nil, ss.destError("copy", err)
	}
	return copyData(res), nil
}

func copyData(res mailbox.CopyResult) *imap.CopyData {
	if len(res.Source) == 0 {
		return nil
	}
	var src, dst imap.UIDSet
	for i := range res.Source {
		src.AddNum(imap.UID(res.Source[i]))
		dst.AddNum(imap.UID(res.Dest[i]))
	}
	return &imap.CopyData{UIDValidity: res.UIDValidity, SourceUIDs: src, DestUIDs: dst}
}

// Move implements MOVE (RFC 6851): COPYUID first, then the expunges.
func (ss *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if ss.readOnly {
		return errReadOnly
	}
	uids, err := ss.resolve(numSet)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	ctx, cancel := ss.ctx()
	defer cancel()
	res, err := ss.view.Move(ctx, uids, canonicalName(dest))
	if err != nil {
		return ss.destError("move", err)
	}
	if data := copyData(res); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	ch, err := ss.view.Sync(ctx, true)
	if err != nil {
		return ss.storeError("move", err)
	}
	for _, seq := range ch.Expunged {
		if err := w.WriteExpunge(seq); err != nil {
			return err
		}
	}
	ch.Expunged = nil
	return ss.writeChanges(w.UpdateWriter(), ch)
}
