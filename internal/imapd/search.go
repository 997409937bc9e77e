package imapd

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapserver"
	"github.com/cabalmail/cabalmail/internal/mailbox"
)

// Search evaluates SEARCH criteria (RFC 3501 6.4.4, RFC 9051 6.4.4) over the
// selected mailbox. Keys on flags, dates, sizes, sequence numbers and UIDs
// are answered from the in-memory index; header and body keys are passed
// to the store, on the messages still in question only.
func (ss *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	ctx, cancel := ss.ctx()
	defer cancel()
	all := ss.view.Messages(ss.view.UIDs())
	matched, err := ss.evalSearch(ctx, criteria, all)
	if err != nil {
		return nil, err
	}
	uids := make([]uint32, len(matched))
	var highest uint64
	for i, m := range matched {
		uids[i] = m.UID
		highest = max(highest, m.ModSeq)
	}
	if options.ReturnSave {
		ss.saved = uids // RFC 5182: saved as UIDs whatever the command's kind
	}
	data := &imap.SearchData{Count: uint32(len(uids))}
	if criteria.ModSeq != nil || hasModSeq(criteria) {
		// RFC 7162 3.1.5: the highest mod-sequence of the matches.
		data.ModSeq = highest
	}
	if kind == imapserver.NumKindUID {
		var set imap.UIDSet
		for _, uid := range uids {
			set.AddNum(imap.UID(uid))
		}
		data.All = set
		if len(uids) > 0 {
			data.Min, data.Max = uids[0], uids[len(uids)-1]
		}
	} else {
		var set imap.SeqSet
		var seqs []uint32
		for _, uid := range uids {
			if seq := ss.view.SeqNum(uid); seq != 0 {
				seqs = append(seqs, seq)
			}
		}
		slices.Sort(seqs)
		set.AddNum(seqs...)
		data.All = set
		if len(seqs) > 0 {
			data.Min, data.Max = seqs[0], seqs[len(seqs)-1]
		}
	}
	return data, nil
}

func hasModSeq(c *imap.SearchCriteria) bool {
	if c.ModSeq != nil {
		return true
	}
	for i := range c.Not {
		if hasModSeq(&c.Not[i]) {
			return true
		}
	}
	for i := range c.Or {
		if hasModSeq(&c.Or[i][0]) || hasModSeq(&c.Or[i][1]) {
			return true
		}
	}
	return false
}

// evalSearch returns the messages of cand (in UID order) that match c.
func (ss *session) evalSearch(ctx context.Context, c *imap.SearchCriteria, cand []mailbox.Message) ([]mailbox.Message, error) {
	if c.ModSeq != nil {
		ss.condstore = true
	}
	// Cheap keys first, on the in-memory metadata.
	var out []mailbox.Message
	for _, m := range cand {
		ok, err := ss.matchMeta(c, m)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, m)
		}
	}
	// Then the keys that need the store, each on what is left.
	for _, h := range c.Header {
		if len(out) == 0 {
			return out, nil
		}
		uids, err := ss.view.SearchHeader(ctx, uidsOf(out), h.Key, h.Value)
		if err != nil {
			return nil, ss.storeError("search", err)
		}
		out = keepUIDs(out, uids)
	}
	for _, term := range c.Body {
		if len(out) == 0 {
			return out, nil
		}
		uids, err := ss.view.SearchBody(ctx, uidsOf(out), term)
		if err != nil {
			return nil, ss.storeError("search", err)
		}
		out = keepUIDs(out, uids)
	}
	for _, term := range c.Text {
		if len(out) == 0 {
			return out, nil
		}
		uids, err := ss.view.SearchText(ctx, uidsOf(out), term)
		if err != nil {
			return nil, ss.storeError("search", err)
		}
		out = keepUIDs(out, uids)
	}
	for i := range c.Not {
		if len(out) == 0 {
			return out, nil
		}
		not, err := ss.evalSearch(ctx, &c.Not[i], out)
		if err != nil {
			return nil, err
		}
		out = dropUIDs(out, uidsOf(not))
	}
	for i := range c.Or {
		if len(out) == 0 {
			return out, nil
		}
		a, err := ss.evalSearch(ctx, &c.Or[i][0], out)
		if err != nil {
			return nil, err
		}
		// Only what the first branch missed needs the second.
		rest := dropUIDs(slices.Clone(out), uidsOf(a))
		b, err := ss.evalSearch(ctx, &c.Or[i][1], rest)
		if err != nil {
			return nil, err
		}
		union := append(uidsOf(a), uidsOf(b)...)
		slices.Sort(union)
		out = keepUIDs(out, union)
	}
	return out, nil
}

// matchMeta checks the keys answered from message metadata.
func (ss *session) matchMeta(c *imap.SearchCriteria, m mailbox.Message) (bool, error) {
	for _, set := range c.SeqNum {
		seq := ss.view.SeqNum(m.UID)
		if !seqSetContains(set, seq, uint32(len(ss.view.UIDs()))) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			if !slices.Contains(ss.savedUIDs(), m.UID) {
				return false, nil
			}
			continue
		}
		if !uidSetContains(set, m.UID, ss.maxUID()) {
			return false, nil
		}
	}
	// RFC 3501 6.4.4: dates compare by day, disregarding time and timezone.
	if !c.Since.IsZero() && dayOf(m.InternalDate).Before(dayOf(c.Since)) {
		return false, nil
	}
	if !c.Before.IsZero() && !dayOf(m.InternalDate).Before(dayOf(c.Before)) {
		return false, nil
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		if m.SentDate.IsZero() {
			return false, nil // no usable Date header: no sent date matches
		}
		if !c.SentSince.IsZero() && dayOf(m.SentDate).Before(dayOf(c.SentSince)) {
			return false, nil
		}
		if !c.SentBefore.IsZero() && !dayOf(m.SentDate).Before(dayOf(c.SentBefore)) {
			return false, nil
		}
	}
	if c.Larger > 0 && m.Size <= c.Larger {
		return false, nil
	}
	if c.Smaller > 0 && m.Size >= c.Smaller {
		return false, nil
	}
	for _, f := range c.Flag {
		if !hasFlag(m.Flags, f) {
			return false, nil
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(m.Flags, f) {
			return false, nil
		}
	}
	if c.ModSeq != nil && m.ModSeq < c.ModSeq.ModSeq {
		return false, nil // RFC 7162 3.1.5: MODSEQ n matches mod-sequence >= n
	}
	return true, nil
}

func (ss *session) maxUID() uint32 {
	uids := ss.view.UIDs()
	if len(uids) == 0 {
		return 0
	}
	return uids[len(uids)-1]
}

// dayOf is the calendar date of t in its own zone, as a UTC midnight.
func dayOf(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

// hasFlag tests a flag; \Recent is never set (the store does not keep it).
func hasFlag(f mailbox.Flags, flag imap.Flag) bool {
	switch strings.ToLower(string(flag)) {
	case `\seen`:
		return f.System&mailbox.FlagSeen != 0
	case `\answered`:
		return f.System&mailbox.FlagAnswered != 0
	case `\flagged`:
		return f.System&mailbox.FlagFlagged != 0
	case `\deleted`:
		return f.System&mailbox.FlagDeleted != 0
	case `\draft`:
		return f.System&mailbox.FlagDraft != 0
	case `\recent`:
		return false
	}
	for _, k := range f.Keywords {
		if strings.EqualFold(k, string(flag)) {
			return true
		}
	}
	return false
}

func seqSetContains(set imap.SeqSet, seq, n uint32) bool {
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
		if seq >= lo && seq <= hi {
			return true
		}
	}
	return false
}

func uidSetContains(set imap.UIDSet, uid, maxUID uint32) bool {
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		if lo == 0 {
			lo = maxUID
		}
		if hi == 0 {
			hi = maxUID
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if uid >= lo && uid <= hi {
			return true
		}
	}
	return false
}

func uidsOf(ms []mailbox.Message) []uint32 {
	out := make([]uint32, len(ms))
	for i, m := range ms {
		out[i] = m.UID
	}
	return out
}

// keepUIDs keeps the messages whose UID is in uids (sorted).
func keepUIDs(ms []mailbox.Message, uids []uint32) []mailbox.Message {
	out := ms[:0]
	for _, m := range ms {
		if _, ok := slices.BinarySearch(uids, m.UID); ok {
			out = append(out, m)
		}
	}
	return out
}

// dropUIDs removes the messages whose UID is in uids (sorted).
func dropUIDs(ms []mailbox.Message, uids []uint32) []mailbox.Message {
	out := ms[:0]
	for _, m := range ms {
		if _, ok := slices.BinarySearch(uids, m.UID); !ok {
			out = append(out, m)
		}
	}
	return out
}
