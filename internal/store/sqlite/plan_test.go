package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestHotQueriesUseIndexes checks the query plans of the look-ups made
// for every message: none may scan a table. (The RCPT look-up once
// materialized the join of every holding with its user: 480 µs per
// RCPT with 1,000 addresses instead of 11 µs.)
func TestHotQueriesUseIndexes(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "plan.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, q := range map[string]string{"address by name": addressByNameQuery} {
		rows, err := s.db.Query("EXPLAIN QUERY PLAN "+q, "a@b.example.test")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN") || strings.HasPrefix(step, "MATERIALIZE") {
				t.Errorf("%s: plan step %q; whole plan:\n%s", name, step, strings.Join(plan, "\n"))
			}
		}
	}
}
