package dsn

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func sampleReport() Report {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return Report{ReportingMTA: "smtp.mail.example.test", From: "postmaster@smtp.mail.example.test", To: "alice@x1.example.test",
		Date: at, ArrivalDate: at.Add(-time.Hour), QueueID: "6f1c2a9be03d4471",
		OriginalHeaders: []byte("From: <alice@x1.example.test>\r\nSubject: hello\r\n"),
		Recipients: []Recipient{
			{Address: "bob@example.net", Action: "failed", Status: "5.1.1", RemoteMTA: "mx.example.net",
				DiagnosticCode: "smtp; 550 5.1.1 no such user", LastAttempt: at},
			{Address: "carol@example.net", Action: "delayed", Status: "4.4.1", Reason: "connection refused",
				LastAttempt: at, WillRetryUntil: at.Add(95 * time.Hour)},
		}}
}

func TestBuildParseRoundTrip(t *testing.T) {
	msg, err := Build(sampleReport())
	if err != nil {
		t.Fatal(err)
	}
	st, hdr, err := Parse(bytes.NewReader(msg))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, msg)
	}
	if st.Message["Reporting-Mta"] == "" && st.Message["Reporting-MTA"] == "" {
		t.Errorf("no Reporting-MTA in %v", st.Message)
	}
	if len(st.Recipients) != 2 {
		t.Fatalf("%d recipient groups, want 2: %v", len(st.Recipients), st.Recipients)
	}
	if r := st.Recipients[0]; r["Action"] != "failed" || r["Status"] != "5.1.1" || !strings.Contains(r["Final-Recipient"], "bob@example.net") {
		t.Errorf("first recipient %v", r)
	}
	if r := st.Recipients[1]; r["Action"] != "delayed" || r["Status"] != "4.4.1" {
		t.Errorf("second recipient %v", r)
	}
	if !bytes.Contains(hdr, []byte("Subject: hello")) {
		t.Errorf("returned header %q", hdr)
	}
}

func TestParseStatusRefuses(t *testing.T) {
	for _, body := range []string{"", "\r\n\r\n", " continued\r\n", "no colon here\r\n", "bad name: x\r\n", ": empty name\r\n"} {
		if _, err := ParseStatus([]byte(body)); err == nil {
			t.Errorf("ParseStatus accepted %q", body)
		}
	}
}

// FuzzParse feeds arbitrary messages to Parse and arbitrary part bodies to
// ParseStatus: DSNs come back from the network (bounces of our mail), so
// neither may panic, and what they accept must be well formed.
func FuzzParse(f *testing.F) {
	msg, err := Build(sampleReport())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(msg)
	f.Add([]byte("Reporting-MTA: dns; a.test\r\n\r\nFinal-Recipient: rfc822; b@c.test\r\n  folded\r\nAction: failed\r\nStatus: 5.0.0\r\n"))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nA: b\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if st, err := ParseStatus(data); err == nil {
			if len(st.Message) == 0 {
				t.Fatalf("ParseStatus accepted %q with no per-message fields", data)
			}
			for _, g := range append([]map[string]string{st.Message}, st.Recipients...) {
				for name := range g {
					if name == "" || strings.ContainsAny(name, " \t\r\n:") {
						t.Fatalf("field name %q from %q", name, data)
					}
				}
			}
		}
		if st, _, err := Parse(bytes.NewReader(data)); err == nil && st.Message == nil {
			t.Fatalf("Parse accepted %q without a delivery-status part", data)
		}
	})
}
