package mailbox

import (
	"slices"
	"testing"
)

// TestAppendFlags checks that AppendFlags answers what AppendMessages
// does for UID, ModSeq and Flags, skips what the view does not hold, and
// leaves the other fields zero.
func TestAppendFlags(t *testing.T) {
	e := newEnv(t, nil)
	u := e.user(t, "alice")
	e.append(t, u, "INBOX", msg("one", "a"), Flags{System: FlagSeen})
	e.append(t, u, "INBOX", msg("two", "b"), Flags{Keywords: []string{"$Label1"}})
	e.append(t, u, "INBOX", msg("three", "c"), Flags{System: FlagFlagged | FlagDraft})
	v := e.selectBox(t, u, "INBOX")
	uids := append(slices.Clone(v.UIDs()), v.UIDs()[len(v.UIDs())-1]+10) // one that does not exist
	full := v.AppendMessages(nil, uids)
	got := v.AppendFlags(make([]Message, 0, 1), uids)
	if len(full) != 3 || len(got) != 3 {
		t.Fatalf("got %d and %d messages, want 3", len(full), len(got))
	}
	for i, m := range got {
		f := full[i]
		if m.UID != f.UID || m.ModSeq != f.ModSeq || m.Flags.System != f.Flags.System || !slices.Equal(m.Flags.Keywords, f.Flags.Keywords) {
			t.Errorf("message %d: AppendFlags %+v, AppendMessages %+v", i, m, f)
		}
		if m.Size != 0 || !m.InternalDate.IsZero() || !m.SentDate.IsZero() {
			t.Errorf("message %d: AppendFlags filled more than UID, ModSeq, Flags: %+v", i, m)
		}
		if f.Size == 0 || f.InternalDate.IsZero() {
			t.Errorf("message %d: AppendMessages left Size or InternalDate zero: %+v", i, f)
		}
	}
	if got[1].Flags.Keywords[0] != "$Label1" || got[0].Flags.System != FlagSeen {
		t.Errorf("flags: %+v", got)
	}
}
