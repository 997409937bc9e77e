package smtplimit

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type countGauge struct{ n atomic.Int64 }

func (g *countGauge) Inc() { g.n.Add(1) }
func (g *countGauge) Dec() { g.n.Add(-1) }

func TestLimitsAndRelease(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var open countGauge
	rejected := make(chan string, 1)
	ln := NewListener(raw, Options{MaxPerIP: 1, MaxTotal: 10, Idle: time.Minute, Lifetime: time.Hour, Open: &open,
		OnReject: func(ip string) { rejected <- ip }})
	defer ln.Close()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()

	first, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	server := <-accepted
	if open.n.Load() != 1 {
		t.Fatalf("open = %d, want 1", open.n.Load())
	}

	// A second connection from the same address is told why and closed.
	second, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(second).ReadString('\n')
	second.Close()
	if !strings.HasPrefix(line, "421 4.7.0 ") {
		t.Fatalf("over the limit: %q", line)
	}
	if ip := <-rejected; ip != "127.0.0.1" {
		t.Fatalf("rejected %q", ip)
	}

	// EndAfterReply: the next read ends the session.
	server.(*Conn).EndAfterReply()
	if _, err := server.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after EndAfterReply: %v", err)
	}
	server.Close()
	server.Close()
	if open.n.Load() != 0 {
		t.Fatalf("open after close = %d, want 0", open.n.Load())
	}

	// The place is free again.
	third, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a freed place was not given again")
	}
}

func TestIdleDeadline(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(raw, Options{MaxPerIP: 5, MaxTotal: 5, Idle: 50 * time.Millisecond, Lifetime: time.Hour})
	defer ln.Close()
	client, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	_, err = server.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("silent client: %v, want a timeout", err)
	}
}
