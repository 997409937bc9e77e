// Package metrics is the Prometheus glue: the process's one registry, the
// collectors every process exports (Go runtime, process, build info), and
// the HTTP server for /metrics and /healthz.
//
// The registry is the only global in the product (CONVENTIONS.md): roles
// register their own collectors in it from wherever they are built, without
// passing it around. Every series is labelled with the tier (role) that
// owns it (DESIGN.md §2), so that when one process runs all roles their
// series stay apart. A role registers through Registerer, which adds the
// label:
//
//	deliveries := prometheus.NewCounterVec(prometheus.CounterOpts{
//		Name: "cabalmail_deliveries_total",
//		Help: "Delivery attempts by outcome.",
//	}, []string{"status"})
//	metrics.Registerer("smtp-out").MustRegister(deliveries)
//
// or, equivalently, sets ConstLabels{"tier": "smtp-out"} itself and
// registers with Registry(). Process-wide series (go_*, process_*,
// cabalmail_build_info) carry no tier.
//
// This package does not define the roles' own metrics; each role owns its
// own. It does define the few series shared by every tier, whose names the
// alert rules and dashboard rely on (series.go): mail events, failed logins
// and open connections, and the readiness checks behind /readyz (ready.go).
package metrics

import (
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	once     sync.Once
	registry *prometheus.Registry
	handler  http.Handler
)

func setup() {
	registry = prometheus.NewRegistry()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "cabalmail_build_info",
		Help:        "Always 1; the version label names the running build.",
		ConstLabels: prometheus.Labels{"version": Version()},
	})
	buildInfo.Set(1)
	registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	)
	registerShared(registry)
	handler = promhttp.InstrumentMetricHandler(registry, promhttp.HandlerFor(registry, promhttp.HandlerOpts{
		Registry:            registry, // counts its own errors
		MaxRequestsInFlight: 4,
	}))
}

// Registry returns the process's registry, built on first use with the Go
// runtime, process and build-info collectors in it.
func Registry() *prometheus.Registry {
	once.Do(setup)
	return registry
}

// Registerer returns a Registerer into Registry that labels everything
// registered through it with tier.
func Registerer(tier string) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{"tier": tier}, Registry())
}

// Handler returns the handler that serves Registry in the Prometheus
// exposition format.
func Handler() http.Handler {
	once.Do(setup)
	return handler
}

// Version names the running build: the module version when built from a
// tagged module, else the VCS revision (with "-dirty" for uncommitted
// changes), else "devel".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	return rev[:min(len(rev), 12)] + dirty
}
