// Package monitor is the monitor role (DESIGN.md §2): it probes every
// listener the configuration declares as a client would, keeps the
// heartbeats of periodic jobs, exports both as metrics, persists the probes'
// state in the store for "cabalmail diagnose probes", and routes alerts to
// push services: critical to Pushover (priority 1) and ntfy (priority 5),
// warning to ntfy (priority 3), with a resolved notice, repeats (24 h
// critical, 6 h warning), and a critical alert silencing its warning twin.
// An Alertmanager-compatible webhook lets an external Prometheus route its
// alerts (deploy/prometheus/alerts.yml) through the same notifier.
//
// It is not in charge of the alert rules themselves (those are Prometheus
// rules) nor of the roles' own metrics.
package monitor
