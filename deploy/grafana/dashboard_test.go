package grafana

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

type panel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	ID      int    `json:"id"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("cabalmail.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("cabalmail.json: %v", err)
	}
	return d
}

// exportedMetrics are the metric names the product's code defines: every
// "cabalmail_..." string literal outside tests and comments.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"(cabalmail_[a-z0-9_]+)"`)
	names := map[string]bool{}
	for _, root := range []string{"../../internal", "../../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "//") {
					continue
				}
				for _, m := range lit.FindAllStringSubmatch(line, -1) {
					names[m[1]] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !names["cabalmail_mail_events_total"] || !names["cabalmail_probe_success"] {
		t.Fatalf("metric scan found too little: %v", names)
	}
	return names
}

// promqlWords are the functions, aggregations and keywords the dashboard
// may use beside metric names.
var promqlWords = map[string]bool{
	"sum": true, "max": true, "min": true, "avg": true, "count": true, "topk": true, "by": true, "without": true,
	"rate": true, "increase": true, "deriv": true, "time": true, "vector": true, "histogram_quantile": true,
	"or": true, "and": true, "unless": true, "le": true,
}

var (
	stringLit  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	matchers   = regexp.MustCompile(`\{[^}]*\}`)
	grouping   = regexp.MustCompile(`\b(?:by|without)\s*\([^)]*\)`)
	rangeSel   = regexp.MustCompile(`\[[^\]]*\]`)
	identifier = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricsOf returns the metric names an expression selects, and any word
// that is neither a metric of ours nor a PromQL word.
func metricsOf(expr string) (metrics, unknown []string) {
	e := stringLit.ReplaceAllString(expr, `""`)
	e = matchers.ReplaceAllString(e, " ")
	e = grouping.ReplaceAllString(e, " ")
	e = rangeSel.ReplaceAllString(e, " ")
	for _, w := range identifier.FindAllString(e, -1) {
		switch {
		case promqlWords[w]:
		case strings.HasPrefix(w, "cabalmail_"):
			metrics = append(metrics, w)
		default:
			unknown = append(unknown, w)
		}
	}
	return metrics, unknown
}

func TestDashboardRowsPerTier(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("title %q uid %q", d.Title, d.UID)
	}
	var rows []string
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			rows = append(rows, p.Title)
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.W <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q grid %+v", p.Title, p.GridPos)
		}
	}
	for _, tier := range []string{"smtp-in", "smtp-out", "imap", "web", "dns"} {
		if !slices.Contains(rows, tier) {
			t.Errorf("no row for tier %s (rows %v)", tier, rows)
		}
	}
}

func TestDashboardNamesOnlyExportedMetrics(t *testing.T) {
	d := loadDashboard(t)
	known := exportedMetrics(t)
	used := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			ms, unknown := metricsOf(tg.Expr)
			if len(ms) == 0 {
				t.Errorf("panel %q: %q selects no metric", p.Title, tg.Expr)
			}
			for _, w := range unknown {
				t.Errorf("panel %q: %q: unknown word %q", p.Title, tg.Expr, w)
			}
			for _, m := range ms {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(m, suffix); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("panel %q: metric %s is not exported by the code", p.Title, m)
				}
				used[base] = true
			}
		}
	}
	// The series the issue asks for are all on the dashboard.
	for _, m := range []string{"cabalmail_mail_events_total", "cabalmail_queue_messages", "cabalmail_queue_oldest_age_seconds",
		"cabalmail_probe_success", "cabalmail_auth_failures_total", "cabalmail_connections"} {
		if !used[m] {
			t.Errorf("the dashboard does not show %s", m)
		}
	}
}

// The check itself catches a misspelt metric and a stray word.
func TestMetricsOf(t *testing.T) {
	ms, unknown := metricsOf(`sum by (stat) (rate(cabalmail_mail_event_total{tier="smtp-in", stat=~"a|b"}[5m])) + foo`)
	if len(ms) != 1 || ms[0] != "cabalmail_mail_event_total" || len(unknown) != 1 || unknown[0] != "foo" {
		t.Errorf("metricsOf: %v %v", ms, unknown)
	}
}

// Every expression parses as PromQL: promtool checks them as recording
// rules, since this promtool has no stand-alone query parser.
func TestDashboardExpressionsParse(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; scripts/install-test-deps.sh)")
	}
	d := loadDashboard(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			q, err := json.Marshal(tg.Expr) // a JSON string is a YAML string
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "      - record: dashboard:panel_%d\n        expr: %s\n", n, q)
			n++
		}
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "rules", path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("SUCCESS: %d rules found", n)) {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
