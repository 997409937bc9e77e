package providers

import (
	"context"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cabalmail/cabalmail/internal/store"
)

// TopProviders is how many providers get a label of their own in the
// metrics; the rest are summed under "other", so the series stay bounded.
const TopProviders = 10

// OtherProvider labels the providers beyond TopProviders.
const OtherProvider = "other"

var (
	attemptsDesc = prometheus.NewDesc("cabalmail_provider_attempts",
		"Delivery attempts per provider in the detection window, by result (sent, deferred, bounced); the top providers and \"other\".",
		[]string{"provider", "result"}, nil)
	knownUnknownDesc = prometheus.NewDesc("cabalmail_provider_known_unknown",
		"Unknown-recipient replies for recipients that accepted mail before, per provider, in the detection window.",
		[]string{"provider"}, nil)
	suspectDesc = prometheus.NewDesc("cabalmail_provider_suspect",
		"1 while a provider is suspect (its unknown-recipient replies are treated as temporary).",
		[]string{"provider"}, nil)
	quarantinedDesc = prometheus.NewDesc("cabalmail_provider_quarantined",
		"Recipients quarantined now, per provider.",
		[]string{"provider"}, nil)
)

// Collector returns a Prometheus collector of the provider state, read from
// the store at each scrape (so every process reports the shared state).
// Register it with metrics.Registerer("smtp-out").
func (t *Tracker) Collector() prometheus.Collector { return collector{t} }

type collector struct{ t *Tracker }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- attemptsDesc
	ch <- knownUnknownDesc
	ch <- suspectDesc
	ch <- quarantinedDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := c.t.now()
	sums, err := c.t.Summaries(ctx, now.Add(-c.t.opts.Window))
	if err != nil {
		c.t.log.Error("providers: metrics", "err", err)
		return
	}
	for _, s := range bound(sums) {
		ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.GaugeValue, float64(s.Sent), s.Provider, store.AttemptSent)
		ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.GaugeValue, float64(s.Deferred), s.Provider, store.AttemptDeferred)
		ch <- prometheus.MustNewConstMetric(attemptsDesc, prometheus.GaugeValue, float64(s.Bounced), s.Provider, store.AttemptBounced)
		ch <- prometheus.MustNewConstMetric(knownUnknownDesc, prometheus.GaugeValue, float64(s.KnownUnknown), s.Provider)
		suspect := 0.0
		if s.State == store.ProviderSuspect {
			suspect = 1
		}
		ch <- prometheus.MustNewConstMetric(suspectDesc, prometheus.GaugeValue, suspect, s.Provider)
		ch <- prometheus.MustNewConstMetric(quarantinedDesc, prometheus.GaugeValue, float64(s.Quarantined), s.Provider)
	}
}

// bound keeps the TopProviders providers (suspect ones first, then by
// attempts, as Summaries orders them) and sums the rest as "other". A
// suspect provider beyond the top makes "other" suspect.
func bound(sums []Summary) []Summary {
	sort.SliceStable(sums, func(i, j int) bool {
		return (sums[i].State == store.ProviderSuspect) && (sums[j].State != store.ProviderSuspect)
	})
	if len(sums) <= TopProviders {
		return sums
	}
	out := append([]Summary(nil), sums[:TopProviders]...)
	other := Summary{Provider: OtherProvider, State: store.ProviderHealthy}
	for _, s := range sums[TopProviders:] {
		other.Sent += s.Sent
		other.Deferred += s.Deferred
		other.Bounced += s.Bounced
		other.KnownUnknown += s.KnownUnknown
		other.Quarantined += s.Quarantined
		if s.State == store.ProviderSuspect {
			other.State = store.ProviderSuspect
		}
	}
	return append(out, other)
}
