package diagnose

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// A suspect provider is named with its quarantined recipients, although
// its held replies are deferrals and count in no bounce total; a lapsed
// one is not.
func TestBouncesNameSuspectProvider(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := st.SetProvider(ctx, store.Provider{Name: "bigmail.example", State: store.ProviderSuspect, Since: now.Add(-time.Hour),
		Until: now.Add(23 * time.Hour), Reason: "5 unknown-recipient replies for recipients that accepted mail before, of 10 attempts in 30m0s"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetProvider(ctx, store.Provider{Name: "old.example", State: store.ProviderSuspect, Since: now.Add(-48 * time.Hour),
		Until: now.Add(-24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, rc := range []string{"a@customer.example", "b@customer.example"} {
		if err := st.AddQuarantine(ctx, &store.Quarantine{Provider: "bigmail.example", Rcpt: rc, CreatedAt: now.Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Bounces(ctx, st, Options{Since: now.Add(-30 * time.Minute), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Suspect) != 1 || r.Suspect[0].Provider != "bigmail.example" || len(r.Suspect[0].Recipients) != 2 {
		t.Fatalf("suspect %+v", r.Suspect)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"Suspect provider: bigmail.example since 2026-03-01T11:00:00Z", "quarantined (2): ", "a@customer.example",
		"b@customer.example", "cabalmail providers confirm|clear bigmail.example", "Bounces (dsn 5.x.x)"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "old.example") {
		t.Errorf("lapsed provider shown:\n%s", out)
	}
}
