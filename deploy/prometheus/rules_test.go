package prometheus

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// promtool finds promtool (Debian package "prometheus") or skips, naming it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; scripts/install-test-deps.sh)")
	}
	return p
}

func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestCheckRules(t *testing.T) {
	out := runPromtool(t, "check", "rules", "alerts.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules: %s", out)
	}
}

func TestRuleUnitTests(t *testing.T) {
	out := runPromtool(t, "test", "rules", "alerts_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules: %s", out)
	}
}

// Every alert has a severity and a runbook_url naming docs/runbooks/<alert>.md,
// and that runbook exists with the sections every runbook must have.
func TestEveryAlertHasRunbook(t *testing.T) {
	doc, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	type rule struct{ name, severity, runbook string }
	var rules []*rule
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "- alert: "):
			rules = append(rules, &rule{name: strings.TrimPrefix(line, "- alert: ")})
		case len(rules) == 0:
		case strings.HasPrefix(line, "severity: "):
			rules[len(rules)-1].severity = strings.TrimPrefix(line, "severity: ")
		case strings.HasPrefix(line, "runbook_url: "):
			rules[len(rules)-1].runbook = strings.TrimPrefix(line, "runbook_url: ")
		}
	}
	want := []string{"DeferredSpike", "BouncedSpike", "ProbeFailure", "CertExpiring", "AuthFailureSpike",
		"QueueGrowing", "QueueStuck", "HeartbeatMissed", "InboundTempfailOn", "ProviderBounceAnomaly"}
	seen := map[string]bool{}
	for _, r := range rules {
		seen[r.name] = true
		if r.severity != "warning" && r.severity != "critical" {
			t.Errorf("%s: severity %q", r.name, r.severity)
		}
		suffix := "/docs/runbooks/" + r.name + ".md"
		if !strings.HasSuffix(r.runbook, suffix) {
			t.Errorf("%s: runbook_url %q does not end in %s", r.name, r.runbook, suffix)
			continue
		}
		text, err := os.ReadFile(filepath.Join("..", "..", "docs", "runbooks", r.name+".md"))
		if err != nil {
			t.Errorf("%s: %v", r.name, err)
			continue
		}
		for _, section := range []string{"## What this means", "## Who is affected", "## First three checks", "## Escalation", "cabalmail "} {
			if !strings.Contains(string(text), section) {
				t.Errorf("runbook %s.md lacks %q", r.name, section)
			}
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("alert %s missing from alerts.yml", w)
		}
	}
}
