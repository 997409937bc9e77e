package mailbox

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// words make up the generated messages; a term used in searches appears
// in about one message in a thousand.
var benchWords = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor
incididunt ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris
nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat
nulla pariatur excepteur sint occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim
id est laborum meeting invoice report schedule project update family dinner weekend photos travel`)

const (
	benchSubjectTerm = "quarterlyzebra"
	benchBodyTerm    = "marmaladeparrot"
)

// benchMessage builds message i: about 3 KB, some in quoted-printable.
func benchMessage(rng *rand.Rand, i int) []byte {
	var b bytes.Buffer
	words := func(n int) string {
		w := make([]string, n)
		for j := range w {
			w[j] = benchWords[rng.Intn(len(benchWords))]
		}
		return strings.Join(w, " ")
	}
	subject := words(6)
	if i%1000 == 7 {
		subject += " " + benchSubjectTerm
	}
	fmt.Fprintf(&b, "Return-Path: <sender%d@example.net>\r\nReceived: from mx.example.net by mail.example.com; Mon, 2 Jan 2006 15:04:05 -0700\r\n", i%97)
	fmt.Fprintf(&b, "From: Sender %d <sender%d@example.net>\r\nTo: alice@example.com\r\nSubject: %s\r\n", i%97, i%97, subject)
	fmt.Fprintf(&b, "Date: Mon, 2 Jan 2006 15:04:05 -0700\r\nMessage-ID: <%d.bench@example.net>\r\nMIME-Version: 1.0\r\n", i)
	if i%3 == 0 {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	} else {
		b.WriteString("Content-Type: text/plain; charset=us-ascii\r\n\r\n")
	}
	for l := 0; l < 40; l++ {
		line := words(10)
		if i%1000 == 11 && l == 20 {
			line += " " + benchBodyTerm
		}
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}

const bench100k = 100000

// bench100kDir returns a directory holding a database and blob store with
// one user whose INBOX has 100,000 messages, built on first use and kept in
// the temporary directory for later runs.
func bench100kDir(b *testing.B) string {
	dir := filepath.Join(os.TempDir(), "cabalmail-mailbox-bench-100k-v3")
	done := filepath.Join(dir, "complete")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	e := openEnv(b, dir, nil)
	ctx := context.Background()
	user := e.user(b, "alice")
	if _, err := e.s.List(ctx, user); err != nil {
		b.Fatal(err)
	}
	inbox, err := e.db.MailboxByName(ctx, user, Inbox)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(1))
	const batch = 1000
	for n := 0; n < bench100k; n += batch {
		msgs := make([]store.NewMessage, batch)
		raws := make([][]byte, batch)
		for i := range raws {
			raws[i] = benchMessage(rng, n+i)
		}
		var wg sync.WaitGroup
		var failed atomic.Value
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < batch; i += 8 {
					p, err := e.s.prepare(bytes.NewReader(raws[i]))
					if err == nil {
						var key string
						if key, _, err = e.s.blobs.Put(ctx, bytes.NewReader(p.raw)); err == nil {
							flags := Flags{}
							if (n+i)%5 != 0 {
								flags.System = FlagSeen
							}
							msgs[i] = p.newMessage(user, inbox.ID, key, flags, time.Unix(int64(1600000000+n+i), 0), 0)
						}
					}
					if err != nil {
						failed.Store(err)
					}
				}
			}(w)
		}
		wg.Wait()
		if err, _ := failed.Load().(error); err != nil {
			b.Fatal(err)
		}
		if _, err := e.db.AddMessages(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(done, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Logf("built a %d-message mailbox in %v", bench100k, time.Since(start))
	return dir
}

// open100k opens the 100k mailbox, with its index loaded.
func open100k(b *testing.B) (*env, *View) {
	dir := bench100kDir(b)
	e := openEnv(b, dir, nil)
	u, err := e.db.UserByName(context.Background(), "alice")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	v := e.selectBox(b, u.ID, Inbox)
	if n := len(v.UIDs()); n != bench100k {
		b.Fatalf("mailbox has %d messages", n)
	}
	b.Logf("first SELECT (index load) of %d messages: %v", bench100k, time.Since(start))
	// Let the header cache load SELECT started finish outside the timings.
	if _, _, err := v.x.headerSnapshot(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e, v
}

// BenchmarkOpen100k measures SELECT of a 100,000-message mailbox whose
// index this process has loaded: the store look-up of what changed and the
// view's copy of the UIDs.
func BenchmarkOpen100k(b *testing.B) {
	e, v := open100k(b)
	ctx := context.Background()
	user := v.userID
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := e.s.Select(ctx, user, Inbox)
		if err != nil {
			b.Fatal(err)
		}
		_ = w.Status()
		_ = w.FirstUnseen()
		w.Close()
	}
}

// BenchmarkFetchFlags100k measures the mailbox's part of
// UID FETCH 1:* (UID FLAGS) on 100,000 messages.
func BenchmarkFetchFlags100k(b *testing.B) {
	_, v := open100k(b)
	uids := v.UIDs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ms := v.Messages(uids); len(ms) != bench100k {
			b.Fatalf("%d messages", len(ms))
		}
	}
}

// BenchmarkSearchHeader100k measures UID SEARCH HEADER Subject on 100,000
// messages once the header cache is loaded (the first search, which loads
// it, is logged).
func BenchmarkSearchHeader100k(b *testing.B) {
	_, v := open100k(b)
	ctx := context.Background()
	uids := v.UIDs()
	got, err := v.SearchHeader(ctx, uids, "Subject", benchSubjectTerm)
	if err != nil {
		b.Fatal(err)
	}
	if len(got) != bench100k/1000 {
		b.Fatalf("%d matches, want %d", len(got), bench100k/1000)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.SearchHeader(ctx, uids, "Subject", "QuarterlyZebra"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSearchBody100k measures UID SEARCH BODY on 100,000 messages
// once the search prefilters are in memory (the first search, which loads
// them, is logged): the filters rule out most bodies, the others are read
// and decoded.
func BenchmarkSearchBody100k(b *testing.B) {
	_, v := open100k(b)
	ctx := context.Background()
	uids := v.UIDs()
	start := time.Now()
	if _, err := v.SearchBody(ctx, uids, benchBodyTerm); err != nil {
		b.Fatal(err)
	}
	b.Logf("first body search (loads the filters): %v", time.Since(start))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := v.SearchBody(ctx, uids, benchBodyTerm)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != bench100k/1000 {
			b.Fatalf("%d matches, want %d", len(got), bench100k/1000)
		}
	}
}

// BenchmarkSearchBodyCommon100k is BenchmarkSearchBody100k for a short
// word found in about a fifth of the messages' text, where the filters help
// least.
func BenchmarkSearchBodyCommon100k(b *testing.B) {
	_, v := open100k(b)
	ctx := context.Background()
	uids := v.UIDs()
	if _, err := v.SearchBody(ctx, uids, "photos travel"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := v.SearchBody(ctx, uids, "photos travel"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend measures APPEND throughput with 10 concurrent writers,
// each append durable before it returns.
func BenchmarkAppend(b *testing.B) {
	e := newEnv(b, nil)
	ctx := context.Background()
	user := e.user(b, "alice")
	if _, err := e.s.List(ctx, user); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	msgs := make([][]byte, 64)
	for i := range msgs {
		msgs[i] = benchMessage(rng, i)
	}
	// Exactly ten writers, each taking the next append until b.N are done.
	const writers = 10
	const chunk = 10000
	marks := make([]time.Time, b.N/chunk)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	b.ResetTimer()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				if _, err := e.s.Append(ctx, user, Inbox, bytes.NewReader(msgs[i%64]), AppendOptions{}); err != nil {
					b.Error(err)
					return
				}
				if i%chunk == 0 {
					marks[i/chunk-1] = time.Now()
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	// With -benchtime 100000x: the rate as the mailbox grows, which should
	// not decline.
	prev := start
	for k, t := range marks {
		if t.IsZero() {
			break
		}
		b.Logf("appends %6d-%6d: %.0f msgs/s", k*chunk+1, (k+1)*chunk, chunk/t.Sub(prev).Seconds())
		prev = t
	}
}
