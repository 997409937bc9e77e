package addresses

import "testing"

func TestReserved(t *testing.T) {
	s := New(nil, Options{ControlDomain: "Mail.Example.Test."})
	tests := []struct {
		apex, label string
		want        bool
	}{
		// Everywhere.
		{"example.test", "mail-admin", true},
		{"other.test", "mail-admin", true},
		{"mail.example.test", "mail-admin", true},
		{"other.test", "autodiscover", true},
		{"other.test", "Mail-Admin", true},
		// The service names, on the control domain only.
		{"mail.example.test", "admin", true},
		{"mail.example.test", "www", true},
		{"mail.example.test", "imap", true},
		{"mail.example.test", "ns", true},
		{"mail.example.test", "smtp", true},
		{"mail.example.test", "smtp-in", true},
		{"mail.example.test", "smtp-out", true},
		{"mail.example.test", "mta-sts", true},
		{"mail.example.test", "autoconfig", true},
		{"mail.example.test", "_dmarc", true},
		{"mail.example.test", "_domainkey", true},
		{"MAIL.example.test", "IMAP", true},
		{"other.test", "admin", false},
		{"other.test", "www", false},
		{"example.test", "imap", false},
		// Labels that would name the control domain or a name above it.
		{"example.test", "mail", true},
		{"other.test", "mail", false},
		{"mail.example.test", "shop", false},
		{"example.test", "x7k2", false},
	}
	for _, tt := range tests {
		if got := s.Reserved(tt.apex, tt.label); got != tt.want {
			t.Errorf("Reserved(%q, %q) = %v, want %v", tt.apex, tt.label, got, tt.want)
		}
	}
}

func TestReservedDeepControl(t *testing.T) {
	// Control domain two labels below the apex: both names on the way up are
	// reserved.
	if !isReserved("a.b.example.test", "example.test", "b") {
		t.Error(`"b" should be reserved on example.test under control domain a.b.example.test`)
	}
	if !isReserved("a.b.example.test", "b.example.test", "a") {
		t.Error(`"a" should be reserved on b.example.test under control domain a.b.example.test`)
	}
	if isReserved("a.b.example.test", "example.test", "a") {
		t.Error(`"a" should not be reserved on example.test`)
	}
	if isReserved("", "example.test", "admin") {
		t.Error("with no control domain only the everywhere list applies")
	}
}
