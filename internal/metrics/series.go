package metrics

import (
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/prometheus/client_golang/prometheus"
)

// The shared series: named once here so dashboards and alert rules
// (deploy/prometheus/alerts.yml) can rely on them whichever tier feeds
// them. Each carries the tier as a label of its own, since one vector
// serves every tier of the process.
var (
	mailEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cabalmail_mail_events_total",
		Help: "Mail-log lines (DESIGN.md §6) by tier, outcome (sent, deferred, bounced, rejected) and DSN class (2, 4, 5).",
	}, []string{"tier", "stat", "dsn_class"})
	authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cabalmail_auth_failures_total",
		Help: "Failed logins by tier (imap, smtp-out, web).",
	}, []string{"tier"})
	connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cabalmail_connections",
		Help: "Client connections open now, by tier.",
	}, []string{"tier"})
)

// The outcomes of cabalmail_mail_events_total's stat label.
const (
	StatSent     = "sent"
	StatDeferred = "deferred"
	StatBounced  = "bounced"  // a remote server refused our mail for good
	StatRejected = "rejected" // we refused mail at our own door (smtp-in)
)

// knownTiers bound the tier label: a name outside it is counted as "other".
var knownTiers = map[string]bool{"smtp-in": true, "smtp-out": true, "imap": true, "web": true, "dns": true, "monitor": true}

func boundTier(tier string) string {
	if knownTiers[tier] {
		return tier
	}
	return "other"
}

// registerShared registers the shared series and creates, at zero, the
// combinations the alert rules sum over, so that increase() sees the first
// event of a fresh process.
func registerShared(r *prometheus.Registry) {
	r.MustRegister(mailEvents, authFailures, connections)
	for _, tier := range []string{"smtp-in", "smtp-out"} {
		refused := StatBounced
		if tier == "smtp-in" {
			refused = StatRejected
		}
		mailEvents.WithLabelValues(tier, StatSent, "2")
		mailEvents.WithLabelValues(tier, StatDeferred, "4")
		mailEvents.WithLabelValues(tier, refused, "5")
	}
	for _, tier := range []string{"imap", "smtp-out", "web"} {
		authFailures.WithLabelValues(tier)
	}
}

// ClassifyMailEvent maps a mail-log line's tier, DSN and sendmail status
// phrase to the stat and dsn_class labels. The class is the DSN's first
// digit (RFC 3463 3.1); a line without a usable DSN is classed by its
// phrase ("Sent" 2, "Deferred" 4, anything else 5). A permanent failure is
// "rejected" on smtp-in, where we refused the mail, and "bounced" elsewhere,
// where a remote server refused ours.
func ClassifyMailEvent(tier, dsn, stat string) (outcome, class string) {
	switch {
	case len(dsn) > 1 && dsn[1] == '.' && (dsn[0] == '2' || dsn[0] == '4' || dsn[0] == '5'):
		class = dsn[:1]
	case stat == "Sent":
		class = "2"
	case stat == "Deferred":
		class = "4"
	default:
		class = "5"
	}
	switch class {
	case "2":
		return StatSent, class
	case "4":
		return StatDeferred, class
	}
	if tier == "smtp-in" {
		return StatRejected, class
	}
	return StatBounced, class
}

// CountMailEvent counts one mail-log line in cabalmail_mail_events_total.
// The node registers it with maillog.Writer.Observe, so every line the
// process logs is counted exactly once.
func CountMailEvent(e maillog.Entry) {
	Registry()
	outcome, class := ClassifyMailEvent(e.Tier, e.DSN, e.Stat)
	mailEvents.WithLabelValues(boundTier(e.Tier), outcome, class).Inc()
}

// AuthFailure counts one failed login on tier in
// cabalmail_auth_failures_total.
func AuthFailure(tier string) {
	Registry()
	authFailures.WithLabelValues(boundTier(tier)).Inc()
}

// Connections returns tier's gauge in cabalmail_connections; a listener
// increments it when a client connects and decrements it when it leaves.
func Connections(tier string) prometheus.Gauge {
	Registry()
	return connections.WithLabelValues(boundTier(tier))
}
