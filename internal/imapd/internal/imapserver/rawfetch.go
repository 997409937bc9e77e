package imapserver

import (
	"strings"

	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapwire"
)

// This file is not in the upstream library. Upstream builds ENVELOPE and
// BODYSTRUCTURE from parsed values (a time.Time for the date, decoded and
// re-encoded names), which cannot reproduce the header text that RFC 3501
// 7.4.2 asks for, nor groups or missing fields. Here the backend supplies the
// fields as they are, and NIL is a nil pointer.

// Envelope is the ENVELOPE of a message (RFC 3501 7.4.2, RFC 9051 7.5.2).
// A nil address list is written NIL.
type Envelope struct {
	Date, Subject                      *string
	From, Sender, ReplyTo, To, Cc, Bcc []Address
	InReplyTo, MessageID               *string
}

// Address is one address structure: a mailbox, or the start (Mailbox set,
// Host nil) or end (all nil) of a group (RFC 3501 7.4.2).
type Address struct {
	Name, ADL, Mailbox, Host *string
}

// BodyStructure is one body of a BODY or BODYSTRUCTURE response
// (RFC 3501 7.4.2 body, RFC 9051 7.5.2).
type BodyStructure struct {
	Type, Subtype string   // lower case
	Params        []string // name, value, name, value...

	// Multipart bodies.
	Children []*BodyStructure

	// Single-part bodies.
	ID, Description *string
	Encoding        string
	Size            int64
	Lines           int64          // text/* and message/rfc822
	Envelope        *Envelope      // message/rfc822
	Message         *BodyStructure // message/rfc822
	MD5             *string

	// Extension data (BODYSTRUCTURE only).
	Disposition       *string
	DispositionParams []string
	Language          []string
	Location          *string
}

// WriteEnvelope writes the message's envelope.
func (w *FetchResponseWriter) WriteEnvelope(env *Envelope) {
	w.writeItemSep()
	enc := w.enc.Encoder
	enc.Atom("ENVELOPE").SP()
	writeEnvelope(enc, env)
}

// WriteBodyStructure writes BODY, BODYSTRUCTURE or both, as requested.
func (w *FetchResponseWriter) WriteBodyStructure(bs *BodyStructure) {
	if w.options.bodyStructure.nonExtended {
		w.writeItemSep()
		w.enc.Atom("BODY").SP()
		writeBody(w.enc.Encoder, bs, false)
	}
	if w.options.bodyStructure.extended {
		w.writeItemSep()
		w.enc.Atom("BODYSTRUCTURE").SP()
		writeBody(w.enc.Encoder, bs, true)
	}
}

func writeNStringPtr(enc *imapwire.Encoder, s *string) {
	if s == nil {
		enc.NIL()
	} else {
		enc.String(*s)
	}
}

func writeEnvelope(enc *imapwire.Encoder, env *Envelope) {
	enc.Special('(')
	writeNStringPtr(enc, env.Date)
	enc.SP()
	writeNStringPtr(enc, env.Subject)
	for _, l := range [][]Address{env.From, env.Sender, env.ReplyTo, env.To, env.Cc, env.Bcc} {
		enc.SP()
		if l == nil {
			enc.NIL()
			continue
		}
		enc.Special('(')
		for _, a := range l {
			// RFC 3501 7.4.2: no space between the address structures.
			enc.Special('(')
			writeNStringPtr(enc, a.Name)
			enc.SP()
			writeNStringPtr(enc, a.ADL)
			enc.SP()
			writeNStringPtr(enc, a.Mailbox)
			enc.SP()
			writeNStringPtr(enc, a.Host)
			enc.Special(')')
		}
		enc.Special(')')
	}
	enc.SP()
	writeNStringPtr(enc, env.InReplyTo)
	enc.SP()
	writeNStringPtr(enc, env.MessageID)
	enc.Special(')')
}

func writeBody(enc *imapwire.Encoder, bs *BodyStructure, extended bool) {
	enc.Special('(')
	if len(bs.Children) > 0 {
		// RFC 3501 body-type-mpart: 1*body SP media-subtype, no space
		// between the bodies.
		for _, child := range bs.Children {
			writeBody(enc, child, extended)
		}
		enc.SP().String(bs.Subtype)
		if extended {
			enc.SP()
			writeBodyFldParam(enc, bs.Params)
			writeBodyExtTail(enc, bs)
		}
		enc.Special(')')
		return
	}

	enc.String(bs.Type).SP().String(bs.Subtype).SP()
	writeBodyFldParam(enc, bs.Params)
	enc.SP()
	writeNStringPtr(enc, bs.ID)
	enc.SP()
	writeNStringPtr(enc, bs.Description)
	enc.SP()
	encoding := strings.ToLower(bs.Encoding)
	if encoding == "" {
		encoding = "7bit"
	}
	enc.String(encoding)
	enc.SP().Number64(bs.Size)
	switch {
	case bs.Message != nil:
		enc.SP()
		writeEnvelope(enc, bs.Envelope)
		enc.SP()
		writeBody(enc, bs.Message, extended)
		enc.SP().Number64(bs.Lines)
	case bs.Type == "text":
		enc.SP().Number64(bs.Lines)
	}
	if extended {
		enc.SP()
		writeNStringPtr(enc, bs.MD5)
		writeBodyExtTail(enc, bs)
	}
	enc.Special(')')
}

// writeBodyExtTail writes body-fld-dsp, body-fld-lang and body-fld-loc.
func writeBodyExtTail(enc *imapwire.Encoder, bs *BodyStructure) {
	enc.SP()
	if bs.Disposition == nil {
		enc.NIL()
	} else {
		enc.Special('(').String(*bs.Disposition).SP()
		writeBodyFldParam(enc, bs.DispositionParams)
		enc.Special(')')
	}
	enc.SP()
	if len(bs.Language) == 0 {
		enc.NIL()
	} else {
		enc.List(len(bs.Language), func(i int) { enc.String(bs.Language[i]) })
	}
	enc.SP()
	writeNStringPtr(enc, bs.Location)
}
