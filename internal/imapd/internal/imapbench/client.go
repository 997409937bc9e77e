package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// commandTimeout bounds one command (a BODY search over 100,000 messages
// can take seconds).
const commandTimeout = 5 * time.Minute

// client is a minimal line-level IMAP client: the same code measures both
// servers, and it does little work per response line.
type client struct {
	c   net.Conn
	br  *bufio.Reader
	tag int
	// onLine receives the untagged lines of the running command.
	onLine func([]byte)
}

func dial(addr string) (*client, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cl := &client{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	c.SetDeadline(time.Now().Add(commandTimeout))
	l, err := cl.line()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if !bytes.HasPrefix(l, []byte("* OK")) {
		c.Close()
		return nil, fmt.Errorf("greeting %q", l)
	}
	return cl, nil
}

func login(addr, user, password string) (*client, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	if _, err := c.cmd(fmt.Sprintf("LOGIN %s %q", user, password), nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *client) Close() error { return c.c.Close() }

// line reads one response line with any literals inlined.
func (c *client) line() ([]byte, error) {
	var out []byte
	for {
		l, err := c.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			out = append(out, l...)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
		t := bytes.TrimRight(out, "\r\n")
		if bytes.HasSuffix(t, []byte("}")) {
			if i := bytes.LastIndexByte(t, '{'); i >= 0 {
				if n, err := strconv.Atoi(string(bytes.TrimSuffix(t[i+1:len(t)-1], []byte("+")))); err == nil {
					lit := make([]byte, n)
					if _, err := io.ReadFull(c.br, lit); err != nil {
						return nil, err
					}
					out = append(out, lit...)
					continue
				}
			}
		}
		return bytes.TrimRight(out, "\r\n"), nil
	}
}

// cmd sends a command and reads to its tagged response, passing untagged
// lines to onLine (which must not keep them); it fails unless the status is
// OK. It returns the number of untagged lines.
func (c *client) cmd(command string, onLine func([]byte)) (int, error) {
	c.tag++
	c.c.SetDeadline(time.Now().Add(commandTimeout))
	tag := []byte("b" + strconv.Itoa(c.tag) + " ")
	if _, err := io.WriteString(c.c, string(tag)+command+"\r\n"); err != nil {
		return 0, err
	}
	c.onLine = onLine
	defer func() { c.onLine = nil }()
	return c.readTagged(tag, command)
}

func (c *client) readTagged(tag []byte, command string) (int, error) {
	n := 0
	for {
		l, err := c.line()
		if err != nil {
			return n, err
		}
		if bytes.HasPrefix(l, tag) {
			if st := l[len(tag):]; !bytes.HasPrefix(st, []byte("OK")) {
				return n, fmt.Errorf("%s: %s", firstWords(command), st)
			}
			return n, nil
		}
		if onLine := c.onLine; onLine != nil {
			onLine(l)
		}
		n++
	}
}

func firstWords(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// appendMsg APPENDs with a non-synchronizing literal (RFC 7888), which both
// servers advertise.
func (c *client) appendMsg(mailbox string, msg []byte) error {
	c.tag++
	c.c.SetDeadline(time.Now().Add(commandTimeout))
	tag := "b" + strconv.Itoa(c.tag) + " "
	var b bytes.Buffer
	fmt.Fprintf(&b, "%sAPPEND %s {%d+}\r\n", tag, mailbox, len(msg))
	b.Write(msg)
	b.WriteString("\r\n")
	if _, err := c.c.Write(b.Bytes()); err != nil {
		return err
	}
	_, err := c.readTagged([]byte(tag), "APPEND")
	return err
}

// idle starts IDLE and waits for the continuation.
func (c *client) idle() error {
	c.tag++
	// An idle connection waits as long as the benchmark needs it.
	c.c.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(c.c, "b%d IDLE\r\n", c.tag); err != nil {
		return err
	}
	for {
		l, err := c.line()
		if err != nil {
			return err
		}
		if bytes.HasPrefix(l, []byte("+")) {
			return nil
		}
		if !bytes.HasPrefix(l, []byte("*")) {
			return fmt.Errorf("IDLE: %s", l)
		}
	}
}
