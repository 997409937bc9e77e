package mailbox

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

func names(infos []MailboxInfo) []string {
	var out []string
	for _, i := range infos {
		out = append(out, i.Name)
	}
	return out
}

func TestMailboxesLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	list, err := e.s.List(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(list), []string{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("default mailboxes %v, want %v", got, want)
	}
	uses := map[string]SpecialUse{}
	for _, mi := range list {
		uses[mi.Name] = mi.SpecialUse
		if !mi.Subscribed || mi.HasChildren || mi.NonExistent || mi.ID == 0 {
			t.Errorf("%s: %+v", mi.Name, mi)
		}
	}
	if uses["Sent"] != UseSent || uses["Trash"] != UseTrash || uses["INBOX"] != UseNone || uses["Archive"] != UseArchive {
		t.Errorf("special uses %v", uses)
	}

	if err := e.s.Create(ctx, alice, "work/2024/q1/", UseNone); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "create existing", e.s.Create(ctx, alice, "work/2024", UseNone), ErrExists)
	wantErr(t, "create inbox", e.s.Create(ctx, alice, "inbox", UseNone), ErrExists)
	wantErr(t, "create with bad use", e.s.Create(ctx, alice, "x", SpecialUse(`\All`)), ErrNotAllowed)
	for _, bad := range []string{"", "/", "a//b", "/a", "a\x01b", "a*", "b%", "\xff", strings.Repeat("x", 600), "a/" + strings.Repeat("y", 300)} {
		wantErr(t, "create "+bad, e.s.Create(ctx, alice, bad, UseNone), ErrInvalidName)
	}
	if err := e.s.Create(ctx, alice, "inbox/sub", UseNone); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Create(ctx, alice, "Ünïcødé/日本", UseDrafts); err != nil {
		t.Fatal(err)
	}

	// Deleting a parent keeps its children; the name stays as \NonExistent.
	if err := e.s.Delete(ctx, alice, "work/2024"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "delete again", e.s.Delete(ctx, alice, "work/2024"), ErrNoMailbox)
	wantErr(t, "delete INBOX", e.s.Delete(ctx, alice, "Inbox"), ErrNotAllowed)
	list, err = e.s.List(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]MailboxInfo{}
	for _, mi := range list {
		byName[mi.Name] = mi
	}
	if mi := byName["work/2024"]; !mi.NonExistent || !mi.HasChildren || mi.ID != 0 {
		t.Errorf("deleted parent: %+v", mi)
	}
	if mi := byName["work"]; mi.NonExistent || !mi.HasChildren {
		t.Errorf("work: %+v", mi)
	}
	if mi := byName["INBOX"]; !mi.HasChildren {
		t.Errorf("INBOX: %+v", mi)
	}
	if mi := byName["Ünïcødé/日本"]; mi.SpecialUse != UseDrafts {
		t.Errorf("unicode: %+v", mi)
	}
	if names(list)[0] != "INBOX" || names(list)[1] != "INBOX/sub" {
		t.Errorf("order %v", names(list))
	}

	// Subscriptions may name mailboxes that do not exist.
	if err := e.s.Subscribe(ctx, alice, "nowhere/x"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Unsubscribe(ctx, alice, "Junk"); err != nil {
		t.Fatal(err)
	}
	subs, err := e.s.Subscriptions(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Archive", "Drafts", "INBOX", "Sent", "Trash", "nowhere/x"}; !reflect.DeepEqual(subs, want) {
		t.Errorf("subscriptions %v, want %v", subs, want)
	}

	// Another user sees none of it.
	bob := e.user(t, "bob")
	list, err = e.s.List(ctx, bob)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 6 {
		t.Errorf("bob sees %v", names(list))
	}
	_, err = e.s.Select(ctx, bob, "work/2024/q1")
	wantErr(t, "bob selects alice's mailbox", err, ErrNoMailbox)
}

func TestRename(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	for _, n := range []string{"a/b/c", "a/x", "ab"} {
		if err := e.s.Create(ctx, alice, n, UseNone); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.Subscribe(ctx, alice, "a/b"); err != nil {
		t.Fatal(err)
	}
	r := e.append(t, alice, "a/b", msg("kept", "x"), Flags{})
	before, err := e.s.Status(ctx, alice, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "rename into itself", e.s.Rename(ctx, alice, "a", "a/b/d"), ErrNotAllowed)
	wantErr(t, "rename onto existing", e.s.Rename(ctx, alice, "a", "ab"), ErrExists)
	wantErr(t, "rename missing", e.s.Rename(ctx, alice, "zz", "yy"), ErrNoMailbox)
	wantErr(t, "rename to INBOX", e.s.Rename(ctx, alice, "a", "INBOX"), ErrExists)
	if err := e.s.Rename(ctx, alice, "a", "new/top"); err != nil {
		t.Fatal(err)
	}
	list, err := e.s.List(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(names(list), ",")
	if want := "INBOX,Archive,Drafts,Junk,Sent,Trash,ab,new,new/top,new/top/b,new/top/b/c,new/top/x"; got != want {
		t.Errorf("after rename: %s, want %s", got, want)
	}
	after, err := e.s.Status(ctx, alice, "new/top/b")
	if err != nil {
		t.Fatal(err)
	}
	if after.UIDValidity != before.UIDValidity || after.Messages != 1 || after.UIDNext != r.UID+1 {
		t.Errorf("renamed mailbox status %+v, before %+v", after, before)
	}
	subs, _ := e.s.Subscriptions(ctx, alice)
	if !reflect.DeepEqual(subs[len(subs)-1], "new/top/b") {
		t.Errorf("subscriptions after rename: %v", subs)
	}

	// RFC 3501 6.3.5: renaming INBOX moves its messages.
	if err := e.s.Create(ctx, alice, "INBOX/child", UseNone); err != nil {
		t.Fatal(err)
	}
	v := e.selectBox(t, alice, "INBOX")
	in1 := e.append(t, alice, "INBOX", msg("one", "1"), Flags{System: FlagSeen})
	e.append(t, alice, "INBOX", msg("two", "2"), Flags{})
	if _, err := v.Sync(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Rename(ctx, alice, "INBOX", "old-inbox"); err != nil {
		t.Fatal(err)
	}
	inbox, _ := e.s.Status(ctx, alice, "INBOX")
	old, _ := e.s.Status(ctx, alice, "old-inbox")
	if inbox.Messages != 0 || inbox.UIDNext != in1.UID+2 || old.Messages != 2 || old.Unseen != 1 || old.UIDValidity == inbox.UIDValidity {
		t.Errorf("INBOX %+v, old-inbox %+v", inbox, old)
	}
	if _, err := e.s.Status(ctx, alice, "INBOX/child"); err != nil {
		t.Errorf("INBOX's child moved: %v", err)
	}
	ch, err := v.Sync(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ch.Expunged, []uint32{2, 1}) || len(v.UIDs()) != 0 {
		t.Errorf("INBOX view after rename: %+v", ch)
	}
	ov := e.selectBox(t, alice, "old-inbox")
	if ms := ov.Messages(ov.UIDs()); len(ms) != 2 || ms[0].UID != in1.UID || ms[0].Flags.System != FlagSeen {
		t.Errorf("old-inbox messages %+v", ms)
	}
}

func TestAppendAndFetch(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	date := time.Date(2020, 5, 6, 7, 8, 9, 0, time.FixedZone("x", 3600))
	raw := "Subject: hi\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\nContent-Type: text/html\n\n<b>x</b>\n--b--\n"
	flags, err := ParseFlags([]string{`\seen`, "$Label1", "$label1", `\Flagged`})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.s.Append(ctx, alice, "inbox", strings.NewReader(raw), AppendOptions{Flags: flags, InternalDate: date})
	if err != nil {
		t.Fatal(err)
	}
	if r.UID != 1 || r.UIDValidity == 0 {
		t.Errorf("append result %+v", r)
	}
	_, err = e.s.Append(ctx, alice, "nowhere", strings.NewReader(raw), AppendOptions{})
	wantErr(t, "append to missing mailbox", err, ErrNoMailbox)
	_, err = ParseFlags([]string{`\Recent`})
	wantErr(t, "\\Recent", err, ErrInvalidFlag)
	_, err = e.s.Append(ctx, alice, "INBOX", strings.NewReader(raw), AppendOptions{Flags: Flags{Keywords: []string{"bad word"}}})
	wantErr(t, "bad keyword", err, ErrInvalidFlag)

	stored := strings.ReplaceAll(raw, "\n", "\r\n")
	st, err := e.s.Status(ctx, alice, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Status{Messages: 1, UIDNext: 2, UIDValidity: r.UIDValidity, Unseen: 0, Size: int64(len(stored)), HighestModSeq: st.HighestModSeq}); st != want || st.HighestModSeq < 2 {
		t.Errorf("status %+v, want %+v", st, want)
	}
	v := e.selectBox(t, alice, "INBOX")
	if !reflect.DeepEqual(v.UIDs(), []uint32{1}) || v.FirstUnseen() != 0 {
		t.Errorf("view UIDs %v, first unseen %d", v.UIDs(), v.FirstUnseen())
	}
	if kw := v.Keywords(); !reflect.DeepEqual(kw, []string{"$Label1"}) {
		t.Errorf("keywords %v", kw)
	}
	ms := v.Messages([]uint32{1, 5})
	if len(ms) != 1 {
		t.Fatalf("messages %+v", ms)
	}
	m := ms[0]
	if m.UID != 1 || m.Size != int64(len(stored)) || !m.InternalDate.Equal(date) || !m.SentDate.IsZero() ||
		!reflect.DeepEqual(m.Flags.Names(), []string{`\Seen`, `\Flagged`, "$Label1"}) {
		t.Errorf("message %+v", m)
	}
	ps, err := v.Parsed(ctx, []uint32{1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Envelope.Subject != "hi" || len(ps[0].Structure.Parts) != 2 {
		t.Fatalf("parsed %+v", ps)
	}
	body, err := v.OpenBody(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	part, err := ps[0].Structure.Section([]int{2})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, part.End-part.BodyStart)
	if _, err := body.ReadAt(buf, part.BodyStart); err != nil {
		t.Fatal(err)
	}
	if string(buf) != "<b>x</b>" {
		t.Errorf("BODY[2] = %q", buf)
	}
	if body.Size() != int64(len(stored)) {
		t.Errorf("body size %d, want %d", body.Size(), len(stored))
	}
	_, err = v.OpenBody(ctx, 9)
	wantErr(t, "open missing body", err, ErrNoMessage)

	// Too big.
	small := newEnv(t, func(o *Options) { o.MaxMessageSize = 10 })
	u := small.user(t, "u")
	_, err = small.s.Append(ctx, u, "INBOX", strings.NewReader(raw), AppendOptions{})
	wantErr(t, "too big", err, ErrTooBig)
	if n := small.blobCount(t); n != 0 {
		t.Errorf("%d bodies left after refused append", n)
	}
}

func TestFlagsExpungeAndSync(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	for i := 0; i < 5; i++ {
		e.append(t, alice, "INBOX", msg("m", "x"), Flags{})
	}
	a := e.selectBox(t, alice, "INBOX")
	b := e.selectBox(t, alice, "INBOX")
	start := a.Status().HighestModSeq

	updated, modified, err := a.StoreFlags(ctx, []uint32{2, 3}, FlagsAdd, Flags{System: FlagDeleted | FlagSeen, Keywords: []string{"$Junk"}}, StoreOptions{})
	if err != nil || len(updated) != 2 || len(modified) != 0 {
		t.Fatalf("store: %v %+v %v", err, updated, modified)
	}
	if updated[0].ModSeq <= start || updated[0].Flags.System != FlagDeleted|FlagSeen {
		t.Errorf("updated %+v", updated[0])
	}
	// Setting flags that are already set changes nothing.
	again, _, err := a.StoreFlags(ctx, []uint32{2}, FlagsAdd, Flags{System: FlagSeen}, StoreOptions{})
	if err != nil || len(again) != 0 {
		t.Errorf("no-op store: %v %+v", err, again)
	}
	ch, err := a.Sync(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Updated) != 0 || !ch.NewKeywords {
		t.Errorf("own changes echoed: %+v", ch)
	}
	select {
	case <-b.Updated():
	case <-time.After(time.Second):
		t.Fatal("other view not woken")
	}
	ch, err = b.Sync(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Updated) != 2 || ch.Updated[0].UID != 2 || !ch.Updated[1].Flags.Has("$junk") || !reflect.DeepEqual(ch.Keywords, []string{"$Junk"}) {
		t.Errorf("other view changes %+v", ch)
	}
	if st := b.Status(); st.Unseen != 3 || st.Deleted != 2 {
		t.Errorf("status %+v", st)
	}

	// CONDSTORE: UNCHANGEDSINCE refuses messages modified since.
	_, modified, err = a.StoreFlags(ctx, []uint32{1, 2}, FlagsReplace, Flags{System: FlagFlagged}, StoreOptions{UnchangedSince: start})
	if err != nil || !reflect.DeepEqual(modified, []uint32{2}) {
		t.Errorf("unchangedsince: %v %v", err, modified)
	}
	if ms := a.Messages([]uint32{1, 2}); ms[0].Flags.System != FlagFlagged || ms[1].Flags.System != FlagDeleted|FlagSeen {
		t.Errorf("after conditional store %+v", ms)
	}
	changed := a.ChangedSince(start)
	if len(changed) != 3 {
		t.Errorf("changed since %d: %+v", start, changed)
	}

	// Expunge: the other view keeps sequence numbers until allowed.
	gone, err := a.Expunge(ctx, nil)
	if err != nil || !reflect.DeepEqual(gone, []uint32{2, 3}) {
		t.Fatalf("expunge: %v %v", err, gone)
	}
	e.append(t, alice, "INBOX", msg("new", "y"), Flags{})
	ch, err = b.Sync(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Expunged) != 0 || !ch.NewExists || ch.Exists != 6 || b.SeqNum(3) != 3 {
		t.Errorf("sync without expunges: %+v, UIDs %v", ch, b.UIDs())
	}
	if ms := b.Messages(b.UIDs()); len(ms) != 4 {
		t.Errorf("messages of expunged UIDs returned: %+v", ms)
	}
	ch, err = b.Sync(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ch.Expunged, []uint32{3, 2}) || !reflect.DeepEqual(ch.ExpungedUIDs, []uint32{2, 3}) ||
		ch.NewExists || !reflect.DeepEqual(b.UIDs(), []uint32{1, 4, 5, 6}) {
		t.Errorf("sync with expunges: %+v, UIDs %v", ch, b.UIDs())
	}
	vanished, err := b.ExpungedSince(ctx, start)
	if err != nil || !reflect.DeepEqual(vanished, []uint32{2, 3}) {
		t.Errorf("expunged since: %v %v", err, vanished)
	}
	// UID EXPUNGE only touches the given UIDs with \Deleted.
	if _, _, err := a.StoreFlags(ctx, []uint32{4, 5}, FlagsAdd, Flags{System: FlagDeleted}, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	gone, err = a.Expunge(ctx, []uint32{1, 5})
	if err != nil || !reflect.DeepEqual(gone, []uint32{5}) {
		t.Errorf("UID expunge: %v %v", err, gone)
	}
	// Deleting the mailbox ends the views.
	if err := e.s.Create(ctx, alice, "tmp", UseNone); err != nil {
		t.Fatal(err)
	}
	tv := e.selectBox(t, alice, "tmp")
	if err := e.s.Delete(ctx, alice, "tmp"); err != nil {
		t.Fatal(err)
	}
	if ch, err := tv.Sync(ctx, true); err != nil || !ch.Gone {
		t.Errorf("view of deleted mailbox: %v %+v", err, ch)
	}
}

func TestCopyMoveQuota(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	var uids []uint32
	for i := 0; i < 3; i++ {
		uids = append(uids, e.append(t, alice, "INBOX", msg("m", strings.Repeat("x", 100)), Flags{System: FlagSeen}).UID)
	}
	v := e.selectBox(t, alice, "INBOX")
	res, err := v.Copy(ctx, []uint32{uids[0], uids[2], 99}, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	arch, _ := e.s.Status(ctx, alice, "Archive")
	if !reflect.DeepEqual(res.Source, []uint32{1, 3}) || !reflect.DeepEqual(res.Dest, []uint32{1, 2}) || res.UIDValidity != arch.UIDValidity || arch.Messages != 2 {
		t.Errorf("copy %+v, archive %+v", res, arch)
	}
	if n := e.blobCount(t); n != 3 {
		t.Errorf("copies do not share bodies: %d blobs", n)
	}
	res, err = v.Move(ctx, []uint32{uids[1]}, "Archive")
	if err != nil || !reflect.DeepEqual(res.Dest, []uint32{3}) {
		t.Fatalf("move: %v %+v", err, res)
	}
	ch, _ := v.Sync(ctx, true)
	if !reflect.DeepEqual(ch.ExpungedUIDs, []uint32{2}) {
		t.Errorf("move did not expunge the source: %+v", ch)
	}
	_, err = v.Move(ctx, []uint32{1}, "INBOX")
	wantErr(t, "move into itself", err, ErrNotAllowed)
	_, err = v.Copy(ctx, []uint32{1}, "nowhere")
	wantErr(t, "copy to missing", err, ErrNoMailbox)

	// Quota: the user's own limit.
	q, err := e.s.Quota(ctx, alice)
	if err != nil || q.Limit != 0 {
		t.Fatalf("quota %+v %v", q, err)
	}
	u, _ := e.db.UserByID(ctx, alice)
	u.QuotaBytes = q.Used + 200
	if err := e.db.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err = v.Copy(ctx, []uint32{1, 3}, "Archive")
	wantErr(t, "copy over quota", err, ErrOverQuota)
	_, err = e.s.Append(ctx, alice, "INBOX", strings.NewReader(msg("big", strings.Repeat("y", 300))), AppendOptions{})
	wantErr(t, "append over quota", err, ErrOverQuota)
	wantErr(t, "check quota", e.s.CheckQuota(ctx, alice, 201), ErrOverQuota)
	if err := e.s.CheckQuota(ctx, alice, 10); err != nil {
		t.Error(err)
	}
	if n := e.blobCount(t); n != 3 {
		t.Errorf("refused appends left bodies: %d blobs", n)
	}
	// Moving within the user's mailboxes needs no room.
	if _, err := v.Move(ctx, []uint32{1}, "Trash"); err != nil {
		t.Errorf("move at quota: %v", err)
	}
	// The default quota applies to users without their own.
	d := newEnv(t, func(o *Options) { o.DefaultQuota = 50 })
	bob := d.user(t, "bob")
	_, err = d.s.Append(ctx, bob, "INBOX", strings.NewReader(msg("big", strings.Repeat("y", 300))), AppendOptions{})
	wantErr(t, "default quota", err, ErrOverQuota)
}

func TestDeliverAndGarbage(t *testing.T) {
	e := newEnv(t, nil)
	ctx := testCtx(t)
	alice, bob, carol := e.user(t, "alice"), e.user(t, "bob"), e.user(t, "carol")
	c, _ := e.db.UserByID(ctx, carol)
	c.QuotaBytes = 10
	if err := e.db.UpdateUser(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Create(ctx, bob, "lists", UseNone); err != nil {
		t.Fatal(err)
	}
	ds, err := e.s.Deliver(ctx, []int64{alice, bob, carol, 9999}, strings.NewReader(msg("hello", "body")), DeliverOptions{Mailbox: "lists"})
	if err != nil {
		t.Fatal(err)
	}
	if ds[0].Err != nil || ds[0].Mailbox != "INBOX" || ds[0].UID != 1 {
		t.Errorf("alice: %+v", ds[0])
	}
	if ds[1].Err != nil || ds[1].Mailbox != "lists" || ds[1].UID != 1 {
		t.Errorf("bob: %+v", ds[1])
	}
	if !errors.Is(ds[2].Err, ErrOverQuota) {
		t.Errorf("carol: %+v", ds[2])
	}
	if !errors.Is(ds[3].Err, store.ErrNotFound) {
		t.Errorf("unknown user: %+v", ds[3])
	}
	if n := e.blobCount(t); n != 1 {
		t.Errorf("delivery to two users stored %d bodies, want 1", n)
	}
	_, err = e.s.Deliver(ctx, []int64{carol}, strings.NewReader(msg("x", "y")), DeliverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := e.blobCount(t); n != 1 {
		t.Errorf("refused delivery left a body: %d blobs", n)
	}

	// The body goes when the last message referencing it goes.
	av := e.selectBox(t, alice, "INBOX")
	if _, _, err := av.StoreFlags(ctx, []uint32{1}, FlagsAdd, Flags{System: FlagDeleted}, StoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := av.Expunge(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.SweepGarbage(ctx, 0); err != nil || n != 0 {
		t.Errorf("swept %d bodies still referenced by bob (%v)", n, err)
	}
	if _, err := e.db.DeleteUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.SweepGarbage(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("swept %d bodies within the grace period (%v)", n, err)
	}
	if n, err := e.s.SweepGarbage(ctx, 0); err != nil || n != 1 {
		t.Errorf("swept %d bodies after deleting the user, want 1 (%v)", n, err)
	}
	if n := e.blobCount(t); n != 0 {
		t.Errorf("%d bodies left", n)
	}
	// Deleting a mailbox frees its bodies too.
	e.append(t, alice, "Drafts", msg("draft", "d"), Flags{})
	if err := e.s.Delete(ctx, alice, "Drafts"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.SweepGarbage(ctx, 0); err != nil || n != 1 {
		t.Errorf("swept %d bodies after deleting a mailbox (%v)", n, err)
	}
}

func TestSweepOrphans(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.OwnsBlobs = true })
	ctx := testCtx(t)
	alice := e.user(t, "alice")
	e.append(t, alice, "INBOX", msg("kept", "x"), Flags{})
	// A body whose row was never committed, as a crash would leave it.
	if _, _, err := e.blobs.Put(ctx, strings.NewReader("orphan")); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.SweepOrphans(ctx, time.Hour); err != nil || n != 0 {
		t.Errorf("swept %d young blobs (%v)", n, err)
	}
	if n, err := e.s.SweepOrphans(ctx, -time.Second); err != nil || n != 1 {
		t.Errorf("swept %d orphans, want 1 (%v)", n, err)
	}
	if n := e.blobCount(t); n != 1 {
		t.Errorf("%d bodies left, want the referenced one", n)
	}
	shared := newEnv(t, nil)
	if _, err := shared.s.SweepOrphans(ctx, 0); err == nil {
		t.Error("orphan sweep ran on a shared blob store")
	}
}

func TestWarm(t *testing.T) {
	a := newEnv(t, nil)
	alice := a.user(t, "alice")
	for i := 0; i < 3; i++ {
		a.append(t, alice, "INBOX", msg("m", "x"), Flags{})
	}
	// A second process, which has loaded nothing yet.
	b := openEnv(t, a.dir, nil)
	b.s.Warm(alice)
	b.s.Warm(987654) // unknown user: nothing to do, no harm
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.s.mu.Lock()
		var x *index
		for _, y := range b.s.indexes {
			if y.userID == alice {
				x = y
			}
		}
		b.s.mu.Unlock()
		if x != nil {
			x.hdrMu.Lock()
			loaded := x.hdr != nil && len(x.hdr.uids) == 3
			x.hdrMu.Unlock()
			if loaded {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("Warm did not load the INBOX index and header cache")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
