package main

import (
	"strings"
	"testing"
)

func TestInboundTempfail(t *testing.T) {
	cfg := initData(t)
	if out := mustCLI(t, cfg, "", "inbound", "tempfail", "status"); out != "inbound tempfail: off\n" {
		t.Fatalf("status before: %q", out)
	}
	out := mustCLI(t, cfg, "", "inbound", "tempfail", "on", "--for", "4h")
	if !strings.HasPrefix(out, "inbound tempfail: on until ") {
		t.Fatalf("on --for 4h: %q", out)
	}
	if out := mustCLI(t, cfg, "", "inbound", "tempfail", "on"); out != "inbound tempfail: on (no end)\n" {
		t.Fatalf("on: %q", out)
	}
	if out := mustCLI(t, cfg, "", "inbound", "tempfail", "off"); out != "inbound tempfail: off\n" {
		t.Fatalf("off: %q", out)
	}
	for _, args := range [][]string{
		{"inbound"},
		{"inbound", "tempfail"},
		{"inbound", "tempfail", "maybe"},
		{"inbound", "tempfail", "on", "--for", "-1h"},
		{"inbound", "tempfail", "on", "--for", "soon"},
		{"inbound", "tempfail", "off", "--for", "1h"},
		{"inbound", "tempfail", "on", "extra"},
	} {
		r := cli(t, cfg, "", args...)
		if r.code != 2 || r.stderr == "" {
			t.Errorf("%v: want a usage error (status 2), got %d %q", args, r.code, r.stderr)
		}
	}
	// Nothing changed by the refused calls.
	if out := mustCLI(t, cfg, "", "inbound", "tempfail", "status"); out != "inbound tempfail: off\n" {
		t.Fatalf("status after bad calls: %q", out)
	}
}
