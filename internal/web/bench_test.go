package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// BenchmarkListAddresses lists and filters 10,000 addresses of one user
// through the API handler and reports server-side p50 and p99.
func BenchmarkListAddresses(b *testing.B) {
	e := newEnv(b, envOpts{})
	u, err := e.acc.Add(e.ctx, "bulk", "bulk-password-1", false)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := e.acc.NewToken(e.ctx, "bulk")
	if err != nil {
		b.Fatal(err)
	}
	const n = 10000
	for i := range n {
		a := store.Address{Address: fmt.Sprintf("l%05d@s%04d.example.test", i, i/3), Local: fmt.Sprintf("l%05d", i),
			Subdomain: fmt.Sprintf("s%04d", i/3), Apex: "example.test", State: store.AddressActive,
			Holders: []store.Holding{{UserID: u.ID, Comment: fmt.Sprintf("shop number %d", i)}}}
		if err := e.st.CreateAddress(e.ctx, &a); err != nil {
			b.Fatal(err)
		}
	}
	h := e.srv.Handler()
	for _, bc := range []struct{ name, query string }{{"all", ""}, {"filter", "?q=number+123"}} {
		b.Run(bc.name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				req := httptest.NewRequest("GET", "/api/v1/addresses"+bc.query, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				times = append(times, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
