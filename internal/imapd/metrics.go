package imapd

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cabalmail/cabalmail/internal/metrics"
)

// The IMAP tier's Prometheus series. They are process-wide: every Server of
// the process adds to the same collectors, which are created and registered
// in the process registry (metrics.Registerer("imap"), so they carry
// tier="imap") once, on the first New. Registering per Server would fail on
// the second Server with a duplicate-registration error, and a process
// serves one IMAP tier anyway.
type imapMetrics struct {
	loginFailures prometheus.Counter
	connections   prometheus.Gauge
	commands      *prometheus.CounterVec
}

var (
	metricsOnce   sync.Once
	sharedMetrics *imapMetrics
)

func processMetrics() *imapMetrics {
	metricsOnce.Do(func() {
		m := &imapMetrics{
			loginFailures: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "cabalmail_imap_login_failures_total",
				Help: "IMAP LOGIN and AUTHENTICATE attempts refused for bad credentials.",
			}),
			connections: prometheus.NewGauge(prometheus.GaugeOpts{
				Name: "cabalmail_imap_connections",
				Help: "IMAP connections open now (past the connection limit and TLS handshake).",
			}),
			commands: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "cabalmail_imap_commands_total",
				Help: `IMAP commands read, by command name ("UID FETCH" for UID commands; "unknown" for names the server does not know).`,
			}, []string{"command"}),
		}
		metrics.Registerer("imap").MustRegister(m.loginFailures, m.connections, m.commands)
		sharedMetrics = m
	})
	return sharedMetrics
}

// countCommand is the protocol layer's OnCommand hook.
func (m *imapMetrics) countCommand(name string) {
	if name == "" {
		name = "unknown"
	}
	m.commands.WithLabelValues(name).Inc()
}
