package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"time"
)

// Search terms planted in a known share of the generated messages, so both
// servers can be checked to find the same ones.
const (
	subjectTerm = "Zanzibar" // in the Subject of every message i with i%100 == 7
	bodyTerm    = "quokka"   // in the body of every message i with i%100 == 42
)

// generator makes realistic, reproducible messages of 2-5 KB: varied
// senders, subjects and bodies drawn from a pseudo-word vocabulary.
type generator struct {
	words  []string
	first  []string
	last   []string
	domain []string
	start  time.Time
}

func newGenerator() *generator {
	r := rand.New(rand.NewPCG(1, 2))
	syll := []string{"ka", "lo", "mi", "ne", "ra", "to", "vu", "shi", "den", "por", "tal", "gro", "bel", "sin", "mar", "qui", "fex", "lun", "dra", "cor"}
	g := &generator{
		first:  []string{"Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Niaj", "Olivia", "Peggy", "Rupert", "Sybil", "Trent", "Victor", "Walter", "Yolanda"},
		last:   []string{"Smith", "Jones", "Garcia", "Müller", "Rossi", "Dubois", "Novak", "Kowalski", "Tanaka", "Okafor", "Silva", "Nguyen", "Haddad", "Larsen", "O'Brien"},
		domain: []string{"example.com", "example.org", "mail.example.net", "lists.example.com", "corp.example"},
		start:  time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC),
	}
	for len(g.words) < 3000 {
		n := 2 + r.IntN(3)
		var w string
		for range n {
			w += syll[r.IntN(len(syll))]
		}
		g.words = append(g.words, w)
	}
	return g
}

// message returns message i (0-based) and its date.
func (g *generator) message(i int) ([]byte, time.Time) {
	r := rand.New(rand.NewPCG(uint64(i), 99))
	date := g.start.Add(time.Duration(i) * 7 * time.Minute)
	word := func() string { return g.words[r.IntN(len(g.words))] }
	var subj bytes.Buffer
	for j, n := 0, 3+r.IntN(6); j < n; j++ {
		if j > 0 {
			subj.WriteByte(' ')
		}
		subj.WriteString(word())
	}
	if i%100 == 7 {
		subj.WriteString(" " + subjectTerm)
	}
	if r.IntN(4) == 0 {
		subj.Reset()
		subj.WriteString("Re: " + word() + " " + word())
	}
	fn, ln := g.first[r.IntN(len(g.first))], g.last[r.IntN(len(g.last))]
	from := fmt.Sprintf("%s %s <%s.%s@%s>", fn, ln, lower(fn), lower(ln), g.domain[r.IntN(len(g.domain))])
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s.%s@%s>\r\n", lower(fn), lower(ln), g.domain[0])
	fmt.Fprintf(&b, "Received: from mx.example.net (mx.example.net [192.0.2.%d]) by mail.example.com with ESMTPS id %08x; %s\r\n", r.IntN(250)+1, r.Uint32(), date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: Bench User <bench@example.com>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subj.String())
	fmt.Fprintf(&b, "Message-ID: <%d.%08x@%s>\r\n", i, r.Uint32(), g.domain[r.IntN(len(g.domain))])
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	target := 2000 + r.IntN(3000)
	col := 0
	for b.Len() < target {
		w := word()
		if b.Len() > target/2 && i%100 == 42 && !bytes.Contains(b.Bytes(), []byte(bodyTerm)) {
			w = bodyTerm
		}
		if col+len(w) > 72 {
			b.WriteString("\r\n")
			col = 0
			if r.IntN(8) == 0 {
				b.WriteString("\r\n")
			}
		} else if col > 0 {
			b.WriteByte(' ')
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	b.WriteString("\r\n")
	return b.Bytes(), date
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
