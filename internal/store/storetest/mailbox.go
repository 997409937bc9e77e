package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// runMailboxes runs the subtests of the Mailboxes part of the store.
func runMailboxes(t *testing.T, open opener) {
	t.Run("Mailboxes", func(t *testing.T) { testMailboxes(t, open) })
	t.Run("MailboxRename", func(t *testing.T) { testMailboxRename(t, open) })
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, open) })
	t.Run("AddMessages", func(t *testing.T) { testAddMessages(t, open) })
	t.Run("MessageFlags", func(t *testing.T) { testMessageFlags(t, open) })
	t.Run("ExpungeCopyMove", func(t *testing.T) { testExpungeCopyMove(t, open) })
	t.Run("BlobGarbage", func(t *testing.T) { testBlobGarbage(t, open) })
	t.Run("SparseUIDs", func(t *testing.T) { testSparseUIDs(t, open) })
}

func mustMailbox(t *testing.T, s store.Store, userID int64, name string) store.Mailbox {
	t.Helper()
	m := store.Mailbox{UserID: userID, Name: name}
	noErr(t, "create mailbox "+name, s.CreateMailbox(ctx(t), &m))
	return m
}

// newMsg is a message row for tests; its blob key is made up (the store
// keeps keys, not bodies).
func newMsg(userID, mailboxID int64, key string, size int64, flags store.SystemFlags, kw ...string) store.NewMessage {
	return store.NewMessage{
		UserID: userID, MailboxID: mailboxID, BlobKey: key,
		MessageMeta: store.MessageMeta{Flags: flags, Keywords: kw, Size: size,
			InternalDate: time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC)},
		Envelope: []byte(`{"s":"` + key + `"}`), Structure: []byte(`{}`), Header: []byte("Subject: " + key + "\r\n\r\n"),
		Search: []byte("s\x00" + key),
	}
}

func mustAdd(t *testing.T, s store.Store, msgs ...store.NewMessage) []store.Added {
	t.Helper()
	added, err := s.AddMessages(ctx(t), msgs)
	noErr(t, "add messages", err)
	for i, a := range added {
		if a.Err != nil {
			t.Fatalf("add message %d: %v", i, a.Err)
		}
	}
	return added
}

func testMailboxes(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	alice, bob := mustUser(t, s, "alice"), mustUser(t, s, "bob")

	in := store.Mailbox{UserID: alice.ID, Name: "INBOX", SpecialUse: `\Junk`}
	noErr(t, "create INBOX", s.CreateMailbox(c, &in))
	if in.ID == 0 || in.UIDValidity == 0 || in.UIDNext != 1 || in.HighestModSeq == 0 {
		t.Errorf("created mailbox %+v", in)
	}
	wantRecent(t, "mailbox created", in.CreatedAt)
	dup := store.Mailbox{UserID: alice.ID, Name: "INBOX"}
	wantErr(t, "duplicate mailbox", s.CreateMailbox(c, &dup), store.ErrExists)
	ghost := store.Mailbox{UserID: 987654, Name: "INBOX"}
	wantErr(t, "mailbox of unknown user", s.CreateMailbox(c, &ghost), store.ErrNotFound)
	wantInvalid(t, "empty name", s.CreateMailbox(c, &store.Mailbox{UserID: alice.ID}))
	binbox := mustMailbox(t, s, bob.ID, "INBOX") // names are per user
	a2 := mustMailbox(t, s, alice.ID, "Archive/2024")

	got, err := s.MailboxByName(c, alice.ID, "INBOX")
	noErr(t, "mailbox by name", err)
	if got.ID != in.ID || got.SpecialUse != `\Junk` || got.UIDValidity != in.UIDValidity {
		t.Errorf("MailboxByName = %+v, want %+v", got, in)
	}
	_, err = s.MailboxByName(c, alice.ID, "inbox")
	wantErr(t, "names compare exactly", err, store.ErrNotFound)
	// A user can never reach another user's mailbox, by name or by ID.
	_, err = s.MailboxByID(c, bob.ID, in.ID)
	wantErr(t, "other user's mailbox by ID", err, store.ErrNotFound)
	wantErr(t, "delete other user's mailbox", s.DeleteMailbox(c, bob.ID, in.ID), store.ErrNotFound)
	wantErr(t, "rename other user's mailbox", s.RenameMailbox(c, bob.ID, in.ID, "mine"), store.ErrNotFound)
	_, err = s.MessageChanges(c, bob.ID, in.ID, 0)
	wantErr(t, "other user's messages", err, store.ErrNotFound)

	list, err := s.ListMailboxes(c, alice.ID)
	noErr(t, "list", err)
	if len(list) != 2 || list[0].Name != "Archive/2024" || list[1].Name != "INBOX" {
		t.Errorf("ListMailboxes = %+v", list)
	}

	// UIDVALIDITY is never reused for a name (RFC 3501 2.3.1.1).
	noErr(t, "delete", s.DeleteMailbox(c, alice.ID, a2.ID))
	wantErr(t, "delete again", s.DeleteMailbox(c, alice.ID, a2.ID), store.ErrNotFound)
	again := mustMailbox(t, s, alice.ID, "Archive/2024")
	if again.UIDValidity == a2.UIDValidity || again.ID == a2.ID {
		t.Errorf("recreated mailbox reuses UIDVALIDITY %d or ID %d", a2.UIDValidity, a2.ID)
	}
	if binbox.UIDValidity == in.UIDValidity && binbox.ID == in.ID {
		t.Error("two mailboxes share an ID")
	}

	// Deleting a user deletes their mailboxes.
	_, err = s.DeleteUser(c, alice.ID)
	noErr(t, "delete user", err)
	_, err = s.MailboxByID(c, alice.ID, in.ID)
	wantErr(t, "mailbox of deleted user", err, store.ErrNotFound)
	if l, _ := s.ListMailboxes(c, alice.ID); len(l) != 0 {
		t.Errorf("deleted user keeps %d mailboxes", len(l))
	}
}

func testMailboxRename(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	u := mustUser(t, s, "alice")
	var boxes = map[string]store.Mailbox{}
	for _, n := range []string{"a", "a/b", "a/b/c", "ab", "a%", "x"} {
		boxes[n] = mustMailbox(t, s, u.ID, n)
	}
	noErr(t, "rename a", s.RenameMailbox(c, u.ID, boxes["a"].ID, "z/new"))
	list, _ := s.ListMailboxes(c, u.ID)
	var got []string
	for _, m := range list {
		got = append(got, m.Name)
	}
	wantStrings(t, "after rename", got, []string{"a%", "ab", "x", "z/new", "z/new/b", "z/new/b/c"})
	if m, _ := s.MailboxByName(c, u.ID, "z/new/b"); m.ID != boxes["a/b"].ID || m.UIDValidity != boxes["a/b"].UIDValidity {
		t.Errorf("renamed child %+v, was %+v", m, boxes["a/b"])
	}
	wantErr(t, "rename onto existing", s.RenameMailbox(c, u.ID, boxes["x"].ID, "ab"), store.ErrExists)
	// A clash of a child rolls the whole rename back.
	mustMailbox(t, s, u.ID, "y/b")
	wantErr(t, "rename with clashing child", s.RenameMailbox(c, u.ID, boxes["a"].ID, "y"), store.ErrExists)
	if m, err := s.MailboxByName(c, u.ID, "z/new"); err != nil || m.ID != boxes["a"].ID {
		t.Errorf("failed rename changed the mailbox: %+v %v", m, err)
	}
	wantInvalid(t, "rename to empty", s.RenameMailbox(c, u.ID, boxes["x"].ID, ""))

	// Moving every message, as renaming INBOX does.
	src := boxes["x"]
	added := mustAdd(t, s, newMsg(u.ID, src.ID, "k1", 10, store.FlagSeen, "$a"), newMsg(u.ID, src.ID, "k2", 20, 0))
	dst := mustMailbox(t, s, u.ID, "moved")
	noErr(t, "move all", s.MoveAllMessages(c, u.ID, src.ID, dst.ID))
	ms, err := s.MailboxByID(c, u.ID, src.ID)
	noErr(t, "source", err)
	md, err := s.MailboxByID(c, u.ID, dst.ID)
	noErr(t, "destination", err)
	if ms.Messages != 0 || ms.Size != 0 || ms.UIDNext != 3 || ms.HighestModSeq <= added[1].ModSeq {
		t.Errorf("source after move %+v", ms)
	}
	if md.Messages != 2 || md.Size != 30 || md.Unseen != 1 || md.UIDNext != 3 || !reflect.DeepEqual(md.Keywords, []string{"$a"}) {
		t.Errorf("destination after move %+v", md)
	}
	ts, err := s.Expunged(c, u.ID, src.ID, added[1].ModSeq)
	noErr(t, "tombstones", err)
	if len(ts) != 2 || ts[0].UID != 1 || ts[1].ModSeq != ms.HighestModSeq {
		t.Errorf("tombstones after move %+v", ts)
	}
	wantErr(t, "move into a mailbox that is not new", s.MoveAllMessages(c, u.ID, dst.ID, dst.ID), store.ErrConflict)
}

func testSubscriptions(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	u, v := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	noErr(t, "subscribe", s.Subscribe(c, u.ID, "b"))
	noErr(t, "subscribe again", s.Subscribe(c, u.ID, "b"))
	noErr(t, "subscribe", s.Subscribe(c, u.ID, "a/nonexistent"))
	noErr(t, "subscribe bob", s.Subscribe(c, v.ID, "c"))
	noErr(t, "unsubscribe absent", s.Unsubscribe(c, u.ID, "zzz"))
	subs, err := s.Subscriptions(c, u.ID)
	noErr(t, "subscriptions", err)
	wantStrings(t, "subscriptions", subs, []string{"a/nonexistent", "b"})
	noErr(t, "unsubscribe", s.Unsubscribe(c, u.ID, "b"))
	subs, _ = s.Subscriptions(c, u.ID)
	wantStrings(t, "after unsubscribe", subs, []string{"a/nonexistent"})
	wantErr(t, "subscribe for unknown user", s.Subscribe(c, 987654, "x"), store.ErrNotFound)
}

func testAddMessages(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	u, v := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	in := mustMailbox(t, s, u.ID, "INBOX")
	other := mustMailbox(t, s, u.ID, "other")
	vin := mustMailbox(t, s, v.ID, "INBOX")

	msgs := []store.NewMessage{
		newMsg(u.ID, in.ID, "k1", 100, store.FlagSeen),
		newMsg(u.ID, in.ID, "k2", 200, store.FlagDeleted, "$Label1", "work"),
		newMsg(u.ID, other.ID, "k3", 300, 0),
		newMsg(u.ID, vin.ID, "k4", 1, 0),   // not alice's mailbox
		newMsg(u.ID, 987654, "k5", 1, 0),   // no such mailbox
		newMsg(v.ID, vin.ID, "k1", 100, 0), // the same body for another user
	}
	msgs[1].SentDate = time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	added, err := s.AddMessages(c, msgs)
	noErr(t, "add", err)
	if len(added) != len(msgs) {
		t.Fatalf("%d results for %d messages", len(added), len(msgs))
	}
	for i, want := range []uint32{1, 2, 1, 0, 0, 1} {
		if added[i].UID != want {
			t.Errorf("message %d: UID %d, want %d (%v)", i, added[i].UID, want, added[i].Err)
		}
	}
	wantErr(t, "other user's mailbox", added[3].Err, store.ErrNotFound)
	wantErr(t, "missing mailbox", added[4].Err, store.ErrNotFound)
	if added[0].UIDValidity != in.UIDValidity || added[0].ModSeq <= in.HighestModSeq || added[1].ModSeq < added[0].ModSeq {
		t.Errorf("added %+v, mailbox %+v", added[:2], in)
	}
	m, _ := s.MailboxByID(c, u.ID, in.ID)
	if m.Messages != 2 || m.Unseen != 1 || m.Deleted != 1 || m.Size != 300 || m.UIDNext != 3 ||
		m.HighestModSeq != added[1].ModSeq || !reflect.DeepEqual(m.Keywords, []string{"$Label1", "work"}) {
		t.Errorf("INBOX counters %+v", m)
	}
	usage, err := s.UsageBytes(c, u.ID)
	noErr(t, "usage", err)
	if usage != 600 {
		t.Errorf("usage %d, want 600", usage)
	}

	ch, err := s.MessageChanges(c, u.ID, in.ID, 0)
	noErr(t, "all messages", err)
	if len(ch.Changed) != 2 || ch.Mailbox.ID != in.ID || len(ch.Expunged) != 0 {
		t.Fatalf("changes %+v", ch)
	}
	m1 := ch.Changed[1]
	if m1.UID != 2 || m1.Size != 200 || m1.Flags != store.FlagDeleted || !reflect.DeepEqual(m1.Keywords, []string{"$Label1", "work"}) ||
		!m1.InternalDate.Equal(msgs[1].InternalDate) || !m1.SentDate.Equal(msgs[1].SentDate) || !ch.Changed[0].SentDate.IsZero() {
		t.Errorf("stored message %+v", m1)
	}
	wantUTC(t, "internal date", m1.InternalDate)
	ch, err = s.MessageChanges(c, u.ID, in.ID, added[0].ModSeq)
	noErr(t, "changes since", err)
	if added[0].ModSeq < added[1].ModSeq && (len(ch.Changed) != 1 || ch.Changed[0].UID != 2) {
		t.Errorf("changes since %d: %+v", added[0].ModSeq, ch.Changed)
	}

	var rows []store.MessageRow
	noErr(t, "scan", s.ScanMessageData(c, u.ID, in.ID, []uint32{2, 7}, store.DataBlobKey|store.DataEnvelope|store.DataHeader|store.DataSearch|store.DataStructure,
		func(r store.MessageRow) error { rows = append(rows, r); return nil }))
	if len(rows) != 1 || rows[0].UID != 2 || rows[0].BlobKey != "k2" || string(rows[0].Envelope) != `{"s":"k2"}` ||
		string(rows[0].Header) != "Subject: k2\r\n\r\n" || string(rows[0].Search) != "s\x00k2" || string(rows[0].Structure) != "{}" {
		t.Errorf("scanned %+v", rows)
	}
	rows = nil
	noErr(t, "scan all keys", s.ScanMessageData(c, u.ID, in.ID, nil, store.DataBlobKey, func(r store.MessageRow) error {
		rows = append(rows, r)
		return nil
	}))
	if len(rows) != 2 || rows[0].BlobKey != "k1" || rows[0].Envelope != nil {
		t.Errorf("scanned all %+v", rows)
	}
	wantInvalid(t, "unsorted UIDs", s.ScanMessageData(c, u.ID, in.ID, []uint32{2, 1}, store.DataBlobKey, func(store.MessageRow) error { return nil }))
	for _, k := range []string{"k1", "k3"} {
		if ok, err := s.BlobReferenced(c, k); err != nil || !ok {
			t.Errorf("blob %s referenced: %v %v", k, ok, err)
		}
	}
	if ok, _ := s.BlobReferenced(c, "k4"); ok {
		t.Error("the body of a refused message is referenced")
	}

	// Quota: checked per message against the user's total, batch included.
	q := []store.NewMessage{newMsg(u.ID, in.ID, "q1", 300, 0), newMsg(u.ID, other.ID, "q2", 150, 0), newMsg(u.ID, in.ID, "q3", 50, 0)}
	for i := range q {
		q[i].QuotaLimit = 1000
	}
	added, err = s.AddMessages(c, q)
	noErr(t, "add with quota", err)
	if added[0].Err != nil || added[2].Err != nil {
		t.Errorf("within quota refused: %+v", added)
	}
	wantErr(t, "over quota", added[1].Err, store.ErrOverQuota)
	if usage, _ := s.UsageBytes(c, u.ID); usage != 950 {
		t.Errorf("usage %d, want 950", usage)
	}
	if added[2].UID != added[0].UID+1 {
		t.Errorf("a refused message used a UID: %+v", added)
	}
}

func testMessageFlags(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	u := mustUser(t, s, "alice")
	in := mustMailbox(t, s, u.ID, "INBOX")
	var msgs []store.NewMessage
	for i := 0; i < 5; i++ {
		msgs = append(msgs, newMsg(u.ID, in.ID, fmt.Sprintf("k%d", i), 10, 0))
	}
	added := mustAdd(t, s, msgs...)
	base := added[4].ModSeq

	res, err := s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: []uint32{1, 2, 3, 9}, Op: 0, Flags: store.FlagSeen, Keywords: []string{"$A"}})
	noErr(t, "add flags", err)
	if len(res.Updated) != 3 || res.Updated[0].ModSeq <= base || res.Updated[0].Flags != store.FlagSeen ||
		!reflect.DeepEqual(res.Updated[2].Keywords, []string{"$A"}) || res.Mailbox.Unseen != 2 {
		t.Errorf("add flags %+v", res)
	}
	m1 := res.Updated[0].ModSeq
	// No change, no new mod-sequence.
	res, err = s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: []uint32{1}, Op: 0, Flags: store.FlagSeen, Keywords: []string{"$a"}})
	noErr(t, "no-op", err)
	if len(res.Updated) != 0 || res.Mailbox.HighestModSeq != m1 {
		t.Errorf("no-op store %+v", res)
	}
	res, err = s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: []uint32{1, 2}, Op: 1, Flags: store.FlagSeen, Keywords: []string{"$a"}})
	noErr(t, "remove flags", err)
	if len(res.Updated) != 2 || res.Updated[0].Flags != 0 || len(res.Updated[0].Keywords) != 0 || res.Mailbox.Unseen != 4 {
		t.Errorf("remove flags %+v", res)
	}
	res, err = s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: nil, Op: 2, Flags: store.FlagDeleted | store.FlagDraft, Keywords: []string{"x", "X", "y"}})
	noErr(t, "replace all", err)
	if len(res.Updated) != 5 || res.Mailbox.Deleted != 5 || !reflect.DeepEqual(res.Updated[4].Keywords, []string{"x", "y"}) {
		t.Errorf("replace %+v", res)
	}
	all := res.Updated[0].ModSeq
	// CONDSTORE UNCHANGEDSINCE.
	res, err = s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: []uint32{1, 2}, Op: 0, Flags: store.FlagFlagged, UnchangedSince: all - 1})
	noErr(t, "unchangedsince", err)
	if len(res.Updated) != 0 || !reflect.DeepEqual(res.Modified, []uint32{1, 2}) {
		t.Errorf("unchangedsince refused nothing: %+v", res)
	}
	res, err = s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: []uint32{1}, Op: 0, Flags: store.FlagFlagged, UnchangedSince: all})
	noErr(t, "unchangedsince ok", err)
	if len(res.Updated) != 1 || len(res.Modified) != 0 {
		t.Errorf("unchangedsince %+v", res)
	}
	ch, err := s.MessageChanges(c, u.ID, in.ID, all)
	noErr(t, "changes", err)
	if len(ch.Changed) != 1 || ch.Changed[0].UID != 1 || ch.Changed[0].Flags != store.FlagDeleted|store.FlagDraft|store.FlagFlagged {
		t.Errorf("changes after %d: %+v", all, ch.Changed)
	}
	_, err = s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: []uint32{1}, Op: 7})
	wantInvalid(t, "unknown operation", err)
	_, err = s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: []uint32{3, 3}, Op: 0})
	wantInvalid(t, "duplicate UIDs", err)
}

func testExpungeCopyMove(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	u := mustUser(t, s, "alice")
	in := mustMailbox(t, s, u.ID, "INBOX")
	arch := mustMailbox(t, s, u.ID, "Archive")
	mustAdd(t, s, newMsg(u.ID, in.ID, "k1", 10, store.FlagDeleted), newMsg(u.ID, in.ID, "k2", 20, store.FlagSeen),
		newMsg(u.ID, in.ID, "k3", 30, store.FlagDeleted), newMsg(u.ID, in.ID, "k4", 40, store.FlagDeleted))

	gone, err := s.ExpungeMessages(c, u.ID, in.ID, []uint32{2, 3})
	noErr(t, "UID expunge", err)
	if !reflect.DeepEqual(gone, []uint32{3}) {
		t.Errorf("UID expunge removed %v, want [3]", gone)
	}
	m, _ := s.MailboxByID(c, u.ID, in.ID)
	gone, err = s.ExpungeMessages(c, u.ID, in.ID, nil)
	noErr(t, "expunge", err)
	if !reflect.DeepEqual(gone, []uint32{1, 4}) {
		t.Errorf("expunge removed %v, want [1 4]", gone)
	}
	ts, err := s.Expunged(c, u.ID, in.ID, 0)
	noErr(t, "tombstones", err)
	if len(ts) != 3 || ts[0].UID != 1 || ts[1].UID != 3 || ts[1].ModSeq != m.HighestModSeq {
		t.Errorf("tombstones %+v", ts)
	}
	ch, err := s.MessageChanges(c, u.ID, in.ID, m.HighestModSeq)
	noErr(t, "changes", err)
	if len(ch.Changed) != 0 || len(ch.Expunged) != 2 || ch.Mailbox.Messages != 1 || ch.Mailbox.Deleted != 0 || ch.Mailbox.Size != 20 {
		t.Errorf("changes after expunge %+v", ch)
	}
	if gone, _ := s.ExpungeMessages(c, u.ID, in.ID, nil); len(gone) != 0 {
		t.Errorf("second expunge removed %v", gone)
	}

	mustAdd(t, s, newMsg(u.ID, in.ID, "k5", 50, 0, "$x"))
	src, dst, err := s.CopyMessages(c, u.ID, in.ID, []uint32{2, 4, 5}, arch.ID, false, 0)
	noErr(t, "copy", err)
	if !reflect.DeepEqual(src, []uint32{2, 5}) || !reflect.DeepEqual(dst, []uint32{1, 2}) {
		t.Errorf("copy %v -> %v", src, dst)
	}
	a, _ := s.MailboxByID(c, u.ID, arch.ID)
	if a.Messages != 2 || a.Size != 70 || a.Unseen != 1 || !reflect.DeepEqual(a.Keywords, []string{"$x"}) {
		t.Errorf("archive after copy %+v", a)
	}
	var keys []string
	noErr(t, "scan", s.ScanMessageData(c, u.ID, arch.ID, nil, store.DataBlobKey, func(r store.MessageRow) error {
		keys = append(keys, r.BlobKey)
		return nil
	}))
	wantStrings(t, "copied bodies", keys, []string{"k2", "k5"})
	usage, _ := s.UsageBytes(c, u.ID)
	_, _, err = s.CopyMessages(c, u.ID, in.ID, []uint32{2}, arch.ID, false, usage+10)
	wantErr(t, "copy over quota", err, store.ErrOverQuota)
	_, _, err = s.CopyMessages(c, u.ID, in.ID, []uint32{2}, arch.ID, true, usage)
	noErr(t, "move at quota", err)
	src, dst, err = s.CopyMessages(c, u.ID, in.ID, []uint32{5}, arch.ID, true, 0)
	noErr(t, "move", err)
	if !reflect.DeepEqual(src, []uint32{5}) || !reflect.DeepEqual(dst, []uint32{4}) {
		t.Errorf("move %v -> %v", src, dst)
	}
	m, _ = s.MailboxByID(c, u.ID, in.ID)
	if m.Messages != 0 || m.Size != 0 {
		t.Errorf("source after moves %+v", m)
	}
	_, _, err = s.CopyMessages(c, u.ID, arch.ID, []uint32{1}, arch.ID, true, 0)
	wantInvalid(t, "move into the same mailbox", err)
	other := mustUser(t, s, "bob")
	bin := mustMailbox(t, s, other.ID, "INBOX")
	_, _, err = s.CopyMessages(c, u.ID, arch.ID, []uint32{1}, bin.ID, false, 0)
	wantErr(t, "copy to another user's mailbox", err, store.ErrNotFound)
	if ok, _ := s.BlobReferenced(c, "k2"); !ok {
		t.Error("moved body not referenced")
	}
}

func testBlobGarbage(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	u, v := mustUser(t, s, "alice"), mustUser(t, s, "bob")
	in := mustMailbox(t, s, u.ID, "INBOX")
	vin := mustMailbox(t, s, v.ID, "INBOX")
	// k1 is shared by two users' messages and a copy.
	mustAdd(t, s, newMsg(u.ID, in.ID, "k1", 10, store.FlagDeleted), newMsg(v.ID, vin.ID, "k1", 10, 0),
		newMsg(u.ID, in.ID, "k2", 10, store.FlagDeleted))
	_, _, err := s.CopyMessages(c, v.ID, vin.ID, []uint32{1}, vin.ID, false, 0)
	noErr(t, "copy", err)
	before := time.Now()
	_, err = s.ExpungeMessages(c, u.ID, in.ID, nil)
	noErr(t, "expunge", err)
	g, err := s.BlobGarbage(c, time.Now().Add(time.Second), 10)
	noErr(t, "garbage", err)
	if len(g) != 1 || g[0].Key != "k2" || g[0].CreatedAt.Before(before.Add(-time.Second)) {
		t.Errorf("garbage after expunge %+v", g)
	}
	if g, _ := s.BlobGarbage(c, before.Add(-time.Minute), 10); len(g) != 0 {
		t.Errorf("garbage older than it can be: %+v", g)
	}
	noErr(t, "forget", s.ForgetGarbage(c, []string{"k2"}))
	_, err = s.DeleteUser(c, v.ID)
	noErr(t, "delete user", err)
	g, err = s.BlobGarbage(c, time.Now().Add(time.Second), 10)
	noErr(t, "garbage", err)
	if len(g) != 1 || g[0].Key != "k1" {
		t.Errorf("garbage after deleting the last holder %+v", g)
	}
	if ok, _ := s.BlobReferenced(c, "k1"); ok {
		t.Error("body of deleted user's messages still referenced")
	}
	// A key in the garbage list that a new message names is alive again.
	mustAdd(t, s, newMsg(u.ID, in.ID, "k1", 10, 0))
	if g, _ := s.BlobGarbage(c, time.Now().Add(time.Second), 10); len(g) != 0 {
		t.Errorf("revived key still garbage: %+v", g)
	}
	noErr(t, "delete mailbox", s.DeleteMailbox(c, u.ID, in.ID))
	if g, _ := s.BlobGarbage(c, time.Now().Add(time.Second), 10); len(g) != 1 || g[0].Key != "k1" {
		t.Errorf("garbage after deleting a mailbox %+v", g)
	}
}

// testSparseUIDs uses UID sets with many gaps, which backends may read in
// other ways than short runs: exactly the UIDs asked for must be touched.
func testSparseUIDs(t *testing.T, open opener) {
	s := open(t)
	c := ctx(t)
	u := mustUser(t, s, "alice")
	in := mustMailbox(t, s, u.ID, "INBOX")
	var msgs []store.NewMessage
	for i := 0; i < 200; i++ {
		msgs = append(msgs, newMsg(u.ID, in.ID, fmt.Sprintf("k%03d", i), 1, 0))
	}
	mustAdd(t, s, msgs...)
	var every3 []uint32
	for uid := uint32(2); uid <= 200; uid += 3 {
		every3 = append(every3, uid)
	}
	every3 = append(every3, 500) // absent
	var seen []uint32
	noErr(t, "scan", s.ScanMessageData(c, u.ID, in.ID, every3, store.DataBlobKey, func(r store.MessageRow) error {
		if r.BlobKey != fmt.Sprintf("k%03d", r.UID-1) {
			t.Errorf("UID %d has body %s", r.UID, r.BlobKey)
		}
		seen = append(seen, r.UID)
		return nil
	}))
	if !reflect.DeepEqual(seen, every3[:len(every3)-1]) {
		t.Errorf("scanned %v, want %v", seen, every3[:len(every3)-1])
	}
	res, err := s.UpdateFlags(c, u.ID, in.ID, store.FlagUpdate{UIDs: every3, Op: 0, Flags: store.FlagDeleted})
	noErr(t, "store", err)
	if len(res.Updated) != len(every3)-1 || res.Mailbox.Deleted != int64(len(every3)-1) {
		t.Errorf("stored %d, deleted %d, want %d", len(res.Updated), res.Mailbox.Deleted, len(every3)-1)
	}
	var evens []uint32
	for uid := uint32(2); uid <= 200; uid += 6 {
		evens = append(evens, uid)
	}
	gone, err := s.ExpungeMessages(c, u.ID, in.ID, append(evens, 3, 5)[:len(evens)])
	noErr(t, "expunge", err)
	if !reflect.DeepEqual(gone, evens) {
		t.Errorf("expunged %v, want %v", gone, evens)
	}
	src, _, err := s.CopyMessages(c, u.ID, in.ID, every3, in.ID, false, 0)
	noErr(t, "copy", err)
	if len(src) != len(every3)-1-len(evens) {
		t.Errorf("copied %d, want %d", len(src), len(every3)-1-len(evens))
	}
}
