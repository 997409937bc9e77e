package smtpin

import (
	"sync"

	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// tier is this role's name in logs, metrics and the mail log (DESIGN.md §2).
const tier = "smtp-in"

// serverMetrics are the tier's series, registered once per process.
type serverMetrics struct {
	connections  prometheus.Gauge
	recipients   *prometheus.CounterVec // by dsn
	transactions *prometheus.CounterVec // by dsn
	deliverTime  prometheus.Histogram
	tempfail     prometheus.Gauge
}

var (
	metricsOnce sync.Once
	theMetrics  *serverMetrics
)

func getMetrics() *serverMetrics {
	metricsOnce.Do(func() {
		m := &serverMetrics{
			connections: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "cabalmail_smtpin_connections",
				Help: "Open SMTP connections on the MX tier.",
			}),
			recipients: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "cabalmail_smtpin_recipients_total",
				Help: "RCPT TO answers by enhanced status code.",
			}, []string{"dsn"}),
			transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "cabalmail_smtpin_messages_total",
				Help: "End-of-data answers by enhanced status code.",
			}, []string{"dsn"}),
			deliverTime: prometheus.NewHistogram(prometheus.HistogramOpts{
				Name:    "cabalmail_smtpin_delivery_seconds",
				Help:    "Time to store an accepted message durably in the mailboxes.",
				Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
			}),
			tempfail: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "cabalmail_inbound_tempfail",
				Help: "1 while the operator's inbound tempfail switch is on.",
			}),
		}
		metrics.Registerer(tier).MustRegister(m.connections, m.recipients, m.transactions, m.deliverTime, m.tempfail)
		theMetrics = m
	})
	return theMetrics
}
