package imapwire

import (
	"github.com/emersion/go-imap/v2"

	"github.com/cabalmail/cabalmail/internal/imapd/internal/imapnum"
)

type NumKind int

const (
	NumKindSeq NumKind = iota + 1
	NumKindUID
)

// The upstream library converts with unsafe.Pointer; the fork copies the
// ranges instead, since its imapnum.Set is a distinct type.
func seqSetFromNumSet(s imapnum.Set) imap.SeqSet {
	if s == nil {
		return nil
	}
	out := make(imap.SeqSet, len(s))
	for i, r := range s {
		out[i] = imap.SeqRange{Start: r.Start, Stop: r.Stop}
	}
	return out
}

func uidSetFromNumSet(s imapnum.Set) imap.UIDSet {
	if s == nil {
		return nil
	}
	out := make(imap.UIDSet, len(s))
	for i, r := range s {
		out[i] = imap.UIDRange{Start: imap.UID(r.Start), Stop: imap.UID(r.Stop)}
	}
	return out
}

func NumSetKind(numSet imap.NumSet) NumKind {
	switch numSet.(type) {
	case imap.SeqSet:
		return NumKindSeq
	case imap.UIDSet:
		return NumKindUID
	default:
		panic("imap: invalid NumSet type")
	}
}

func ParseSeqSet(s string) (imap.SeqSet, error) {
	numSet, err := imapnum.ParseSet(s)
	return seqSetFromNumSet(numSet), err
}
