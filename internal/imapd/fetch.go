package imapd

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapserver"
	"github.com/cabalmail/cabalmail/internal/mailbox"
)

// fetchBatch is how many messages are looked up in the store at once.
const fetchBatch = 256

// msgBufs holds the batch buffers of FETCH, shared by the sessions so an
// idle session keeps none.
var msgBufs = sync.Pool{New: func() any {
	b := make([]mailbox.Message, 0, fetchBatch)
	return &b
}}

func (ss *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	uids, err := ss.resolveShared(numSet)
	if err != nil {
		return err
	}
	if options.ModSeq || options.ChangedSince > 0 {
		ss.condstore = true // RFC 7162 3.1
	}
	_, byUID := numSet.(imap.UIDSet)

	// RFC 3501 6.4.5: BODY[...] (not BODY.PEEK) and BINARY[...] set \Seen,
	// except in a read-only mailbox.
	setSeen := false
	if !ss.readOnly {
		for _, s := range options.BodySection {
			setSeen = setSeen || !s.Peek
		}
		for _, s := range options.BinarySection {
			setSeen = setSeen || !s.Peek
		}
	}
	needParsed := options.Envelope || options.BodyStructure != nil || len(options.BinarySectionSize) > 0
	for _, s := range options.BodySection {
		needParsed = needParsed || len(s.Part) > 0 || s.Specifier != imap.PartSpecifierNone
	}
	for _, s := range options.BinarySection {
		needParsed = needParsed || len(s.Part) > 0
	}

	ctx, cancel := ss.ctx()
	defer cancel()
	buf := msgBufs.Get().(*[]mailbox.Message)
	defer func() {
		clear((*buf)[:cap(*buf)]) // drop keyword slices
		msgBufs.Put(buf)
	}()
	// Flags only (what a client syncing a large mailbox asks): each line
	// is built at once, from messages without sizes or dates.
	flagsOnly := !setSeen && !needParsed && !options.InternalDate && !options.RFC822Size &&
		len(options.BodySection) == 0 && len(options.BinarySection) == 0 && len(options.BinarySectionSize) == 0
	viewUIDs, pos := ss.view.UIDs(), 0
	for len(uids) > 0 {
		batch := uids[:min(fetchBatch, len(uids))]
		uids = uids[len(batch):]
		if flagsOnly {
			*buf = ss.view.AppendFlags((*buf)[:0], batch)
		} else {
			*buf = ss.view.AppendMessages((*buf)[:0], batch)
		}
		msgs := *buf
		if options.ChangedSince > 0 {
			// RFC 7162 3.1.4.1: only messages changed since the given mod-sequence.
			kept := msgs[:0]
			for _, m := range msgs {
				if m.ModSeq > options.ChangedSince {
					kept = append(kept, m)
				}
			}
			msgs = kept
		}
		seenChanged := map[uint32]bool{}
		if setSeen {
			var unseen []uint32
			for _, m := range msgs {
				if m.Flags.System&mailbox.FlagSeen == 0 {
					unseen = append(unseen, m.UID)
				}
			}
			if len(unseen) > 0 {
				updated, _, err := ss.view.StoreFlags(ctx, unseen, mailbox.FlagsAdd, mailbox.Flags{System: mailbox.FlagSeen}, mailbox.StoreOptions{})
				if err != nil {
					return ss.storeError("fetch", err)
				}
				byUIDUpdated := map[uint32]mailbox.Message{}
				for _, m := range updated {
					byUIDUpdated[m.UID] = m
					seenChanged[m.UID] = true
				}
				for i, m := range msgs {
					if u, ok := byUIDUpdated[m.UID]; ok {
						msgs[i] = u
					}
				}
			}
		}
		parsed := map[uint32]*mailbox.Parsed{}
		if needParsed && len(msgs) > 0 {
			want := make([]uint32, len(msgs))
			for i, m := range msgs {
				want[i] = m.UID
			}
			ps, err := ss.view.Parsed(ctx, want)
			if err != nil {
				return ss.storeError("fetch", err)
			}
			for i := range ps {
				parsed[ps[i].UID] = &ps[i]
			}
		}
		for _, m := range msgs {
			// msgs ascend, as the view's UIDs: walk them together.
			for pos < len(viewUIDs) && viewUIDs[pos] < m.UID {
				pos++
			}
			if pos == len(viewUIDs) || viewUIDs[pos] != m.UID {
				continue
			}
			seq := uint32(pos + 1)
			p := parsed[m.UID]
			if needParsed && p == nil {
				continue // expunged meanwhile
			}
			if flagsOnly {
				if err := ss.fetchFlags(w, seq, m, options, byUID); err != nil {
					return err
				}
				continue
			}
			if err := ss.fetchOne(ctx, w, seq, m, p, options, byUID, seenChanged[m.UID]); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetchFlags writes the FETCH response of one message for a FETCH of no
// more than UID, FLAGS and MODSEQ (not setting \Seen): what fetchOne
// would write, in one piece.
func (ss *session) fetchFlags(w *imapserver.FetchWriter, seq uint32, m mailbox.Message, options *imap.FetchOptions, byUID bool) error {
	var uid imap.UID
	if options.UID || byUID {
		uid = imap.UID(m.UID)
	}
	if options.Flags {
		ss.flagBuf = appendFlagsIMAP(ss.flagBuf[:0], m.Flags)
	}
	withModSeq := options.ModSeq || (ss.condstore && options.ChangedSince > 0)
	return w.WriteFlagsResponse(seq, uid, options.Flags, ss.flagBuf, withModSeq, m.ModSeq)
}

// fetchOne writes the FETCH response of one message.
func (ss *session) fetchOne(ctx context.Context, w *imapserver.FetchWriter, seq uint32, m mailbox.Message, p *mailbox.Parsed, options *imap.FetchOptions, byUID, seenChanged bool) error {
	var body io.ReadSeekCloser
	if len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0 {
		var err error
		body, err = ss.view.OpenBody(ctx, m.UID)
		if err != nil {
			return ss.storeError("fetch", err)
		}
		defer body.Close()
	}
	// Everything that can fail is read before the response starts, so a
	// failure never leaves a half-written FETCH line.
	type sectionData struct {
		data        []byte
		start, size int64 // when data is nil: stream this range from body
	}
	sections := make([]sectionData, len(options.BodySection))
	for i, sec := range options.BodySection {
		var r sectionRange
		ok := true
		if p != nil {
			r, ok = resolveSection(p.Structure, sec)
		} else {
			r = sectionRange{start: 0, end: m.Size} // BODY[] without a parse
		}
		if !ok {
			sections[i] = sectionData{data: []byte{}}
			continue
		}
		if r.fields != nil {
			h, err := readRange(body, r.start, r.end)
			if err != nil {
				return ss.storeError("fetch", err)
			}
			sections[i] = sectionData{data: applyPartial(filterHeader(h, r.fields, r.not), sec.Partial)}
			continue
		}
		s, e := partialRange(r.start, r.end, sec.Partial)
		sections[i] = sectionData{start: s, size: e - s}
	}
	binaries := make([][]byte, len(options.BinarySection))
	for i, sec := range options.BinarySection {
		data, err := ss.binary(body, m, p, sec.Part)
		if err != nil {
			return err
		}
		binaries[i] = applyPartial(data, sec.Partial)
	}
	binarySizes := make([]uint32, len(options.BinarySectionSize))
	for i, sec := range options.BinarySectionSize {
		data, err := ss.binary(body, m, p, sec.Part)
		if err != nil {
			return err
		}
		binarySizes[i] = uint32(len(data))
	}

	rw := w.CreateMessage(seq)
	if options.UID || byUID {
		rw.WriteUID(imap.UID(m.UID))
	}
	if options.Flags || seenChanged {
		ss.flagBuf = appendFlagsIMAP(ss.flagBuf[:0], m.Flags)
		rw.WriteFlags(ss.flagBuf)
	}
	if options.InternalDate {
		rw.WriteInternalDate(m.InternalDate)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(m.Size)
	}
	if options.ModSeq || (ss.condstore && options.ChangedSince > 0) || (ss.condstore && seenChanged) {
		rw.WriteModSeq(m.ModSeq)
	}
	if options.Envelope {
		rw.WriteEnvelope(envelopeToIMAP(p.Envelope))
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(bodyStructureToIMAP(p.Structure))
	}
	for i, sec := range options.BodySection {
		sd := sections[i]
		size := sd.size
		if sd.data != nil {
			size = int64(len(sd.data))
		}
		lw := rw.WriteBodySection(sec, size)
		var err error
		if sd.data != nil {
			_, err = lw.Write(sd.data)
		} else if size > 0 {
			if _, err = body.Seek(sd.start, io.SeekStart); err == nil {
				_, err = io.CopyN(lw, body, size)
			}
		}
		if cerr := lw.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			// The response is half written; the connection cannot go on.
			rw.Close()
			return fmt.Errorf("imapd: fetch uid %d section: %w", m.UID, err)
		}
	}
	for i, sec := range options.BinarySection {
		lw := rw.WriteBinarySection(sec, int64(len(binaries[i])))
		_, err := lw.Write(binaries[i])
		if cerr := lw.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			rw.Close()
			return err
		}
	}
	for i, sec := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(sec, binarySizes[i])
	}
	return rw.Close()
}

// binary returns the decoded content of a part for BINARY[...] (RFC 3516).
func (ss *session) binary(body io.ReadSeeker, m mailbox.Message, p *mailbox.Parsed, path []int) ([]byte, error) {
	if len(path) == 0 {
		data, err := readRange(body, 0, m.Size)
		if err != nil {
			return nil, ss.storeError("fetch", err)
		}
		return data, nil
	}
	part := findPart(p.Structure, path)
	if part == nil {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such body part"}
	}
	if part.Type == "multipart" {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "BINARY of a multipart is undefined"}
	}
	raw, err := readRange(body, part.BodyStart, part.End)
	if err != nil {
		return nil, ss.storeError("fetch", err)
	}
	data, ok := decodeTransfer(raw, part.Encoding)
	if !ok {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnknownCTE, Text: "Unknown Content-Transfer-Encoding " + part.Encoding}
	}
	return data, nil
}

func readRange(r io.ReadSeeker, start, end int64) ([]byte, error) {
	if end <= start {
		return []byte{}, nil
	}
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return nil, err
	}
	buf := make([]byte, end-start)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// nstr is an nstring: "" is NIL.
func nstr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func envelopeToIMAP(e *mailbox.Envelope) *imapserver.Envelope {
	if e == nil {
		return &imapserver.Envelope{}
	}
	return &imapserver.Envelope{
		Date: nstr(e.Date), Subject: nstr(e.Subject),
		From: addressesToIMAP(e.From), Sender: addressesToIMAP(e.Sender), ReplyTo: addressesToIMAP(e.ReplyTo),
		To: addressesToIMAP(e.To), Cc: addressesToIMAP(e.Cc), Bcc: addressesToIMAP(e.Bcc),
		InReplyTo: nstr(e.InReplyTo), MessageID: nstr(e.MessageID),
	}
}

func addressesToIMAP(l []mailbox.Address) []imapserver.Address {
	if len(l) == 0 {
		return nil
	}
	out := make([]imapserver.Address, len(l))
	for i, a := range l {
		// RFC 3501 7.4.2: group start (NIL NIL "name" NIL), group end all NIL.
		out[i] = imapserver.Address{Name: nstr(a.Name), Mailbox: nstr(a.Mailbox)}
		if !a.IsGroupStart() && !a.IsGroupEnd() {
			host := a.Host
			out[i].Host = &host
		}
	}
	return out
}

func bodyStructureToIMAP(p *mailbox.Part) *imapserver.BodyStructure {
	bs := &imapserver.BodyStructure{
		Type: p.Type, Subtype: p.Subtype, Params: sortedParams(p.Params),
		ID: nstr(p.ID), Description: nstr(p.Description), Encoding: p.Encoding,
		Size: p.Size, Lines: p.Lines, MD5: nstr(p.MD5),
		DispositionParams: sortedParams(p.DispositionParams),
		Language:          p.Language, Location: nstr(p.Location),
	}
	if p.Disposition != "" {
		d := p.Disposition
		bs.Disposition = &d
	}
	for _, c := range p.Parts {
		bs.Children = append(bs.Children, bodyStructureToIMAP(c))
	}
	if p.Type == "multipart" && len(bs.Children) == 0 {
		// RFC 3501 body-type-mpart needs at least one body.
		bs.Children = []*imapserver.BodyStructure{{Type: "text", Subtype: "plain", Params: []string{"charset", "us-ascii"}}}
	}
	if p.Message != nil {
		bs.Envelope = envelopeToIMAP(p.Envelope)
		bs.Message = bodyStructureToIMAP(p.Message)
	}
	return bs
}

// sortedParams flattens parameters into name, value pairs in name order.
func sortedParams(params map[string]string) []string {
	if len(params) == 0 {
		return nil
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]string, 0, 2*len(names))
	for _, k := range names {
		out = append(out, k, params[k])
	}
	return out
}
