package submission

import (
	"sync"

	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// tier is the role this package serves, in logs and metrics (DESIGN.md §2).
const tier = "smtp-out"

// serverMetrics are the submission series, registered once per process.
type serverMetrics struct {
	connections  prometheus.Gauge
	authFailures prometheus.Counter
	authOK       prometheus.Counter
	messages     *prometheus.CounterVec // end-of-data answers by dsn
	queueTime    prometheus.Histogram
}

var (
	metricsOnce sync.Once
	theMetrics  *serverMetrics
)

func getMetrics() *serverMetrics {
	metricsOnce.Do(func() {
		m := &serverMetrics{
			connections: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "cabalmail_submission_connections",
				Help: "Open submission connections.",
			}),
			authFailures: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "cabalmail_submission_auth_failures_total",
				Help: "Failed AUTH attempts on the submission ports.",
			}),
			authOK: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "cabalmail_submission_auth_successes_total",
				Help: "Successful AUTH on the submission ports.",
			}),
			messages: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "cabalmail_submission_messages_total",
				Help: "End-of-data answers on the submission ports by enhanced status code.",
			}, []string{"dsn"}),
			queueTime: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "cabalmail_submission_enqueue_seconds",
				Help:    "Time to durably queue an accepted message.",
				Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
			}),
		}
		metrics.Registerer(tier).MustRegister(m.connections, m.authFailures, m.authOK, m.messages, m.queueTime)
		theMetrics = m
	})
	return theMetrics
}
