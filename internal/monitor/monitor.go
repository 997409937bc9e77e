package monitor

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the monitor role.
const (
	DefaultInterval = 30 * time.Second
	// probeFailFor is how long a probe must fail before ProbeFailure
	// fires, as in deploy/prometheus/alerts.yml.
	probeFailFor = 2 * time.Minute
	// DefaultRunbookBase is where the runbooks are published.
	DefaultRunbookBase = "https://github.com/cabalmail/cabalmail/blob/main/docs/runbooks/"
)

// Heartbeat is a periodic job the monitor watches: it must record a
// success (RecordHeartbeat) at least every Period, with Grace to spare.
type Heartbeat struct {
	Job    string
	Period time.Duration
	Grace  time.Duration
}

// DefaultHeartbeats are the product's periodic jobs.
var DefaultHeartbeats = []Heartbeat{
	{Job: "queue-runner", Period: time.Minute, Grace: 2 * time.Minute},
	{Job: "dns-serial", Period: time.Hour, Grace: 15 * time.Minute},
	{Job: "cert-renewal", Period: 24 * time.Hour, Grace: 6 * time.Hour},
}

// Store is what the monitor reads and writes.
type Store interface {
	store.Settings
	ListQueue(ctx context.Context) ([]store.QueueItem, error)
}

// Options configure a Monitor.
type Options struct {
	Store       Store
	Probes      []Probe
	Heartbeats  []Heartbeat
	Interval    time.Duration // default DefaultInterval
	Notifier    *Notifier     // nil: alerts are only logged
	RunbookBase string        // default DefaultRunbookBase
	HTTPClient  *http.Client  // for HTTP probes; default a client that does not follow redirects
	Now         func() time.Time
	Logger      *slog.Logger
}

// Monitor runs the probes and watches the heartbeats.
type Monitor struct {
	opts Options

	mu           sync.Mutex
	states       map[string]*ProbeState // by probe name
	failingSince map[string]time.Time
	fired        map[string]Alert // by Alert.key
}

// The monitor's series, registered once per process under tier="monitor".
var (
	seriesOnce     sync.Once
	probeSuccess   *prometheus.GaugeVec
	probeDuration  *prometheus.GaugeVec
	certNotAfter   *prometheus.GaugeVec
	heartbeatLast  *prometheus.GaugeVec
	heartbeatPer   *prometheus.GaugeVec
	heartbeatGrace *prometheus.GaugeVec
	queueMessages  *prometheus.GaugeVec
	queueOldest    prometheus.Gauge
)

func registerSeries() {
	seriesOnce.Do(func() {
		gv := func(name, help string, labels ...string) *prometheus.GaugeVec {
			return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		}
		probeSuccess = gv("cabalmail_probe_success", "1 if the probe's last run succeeded, else 0.", "probe")
		probeDuration = gv("cabalmail_probe_duration_seconds", "How long the probe's last run took.", "probe")
		certNotAfter = gv("cabalmail_tls_cert_not_after_timestamp_seconds", "Expiry of the certificate a TLS listener presents.", "name")
		heartbeatLast = gv("cabalmail_heartbeat_last_success_timestamp_seconds", "When the periodic job last succeeded.", "job")
		heartbeatPer = gv("cabalmail_heartbeat_period_seconds", "How often the periodic job must succeed.", "job")
		heartbeatGrace = gv("cabalmail_heartbeat_grace_seconds", "Slack allowed beyond the period.", "job")
		metrics.Registerer("monitor").MustRegister(probeSuccess, probeDuration, certNotAfter, heartbeatLast, heartbeatPer, heartbeatGrace)
		queueMessages = gv("cabalmail_queue_messages", "Messages in the outbound queue by state (pending, held).", "state")
		queueOldest = prometheus.NewGauge(prometheus.GaugeOpts{Name: "cabalmail_queue_oldest_age_seconds", Help: "Age of the oldest message in the outbound queue."})
		metrics.Registerer("smtp-out").MustRegister(queueMessages, queueOldest)
	})
}

// New returns a Monitor for opts.
func New(opts Options) *Monitor {
	registerSeries()
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.RunbookBase == "" {
		opts.RunbookBase = DefaultRunbookBase
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{
			Timeout:       probeTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Notifier == nil {
		opts.Notifier = NewNotifier(NotifierOptions{Logger: opts.Logger, Now: opts.Now})
	}
	return &Monitor{opts: opts, states: map[string]*ProbeState{}, failingSince: map[string]time.Time{}, fired: map[string]Alert{}}
}

// Run runs a round every interval until ctx is cancelled.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		m.Round(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Round runs every probe once (concurrently), reads the heartbeats and
// the queue, updates the metrics and the stored probe state, and routes
// the alerts that start or stop firing.
func (m *Monitor) Round(ctx context.Context) {
	results := make([]result, len(m.opts.Probes))
	var wg sync.WaitGroup
	for i, p := range m.opts.Probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.run(ctx, m.opts.HTTPClient)
		}()
	}
	wg.Wait()
	now := m.opts.Now()
	var want []Alert
	states := make([]ProbeState, 0, len(m.opts.Probes))
	m.mu.Lock()
	for i, p := range m.opts.Probes {
		name, r := p.Name(), results[i]
		st := m.states[name]
		if st == nil {
			st = &ProbeState{Name: name, Tier: p.Tier, Target: p.Target}
			m.states[name] = st
		}
		st.LastCheck, st.Duration, st.OK = now, r.duration, r.err == nil
		probeDuration.WithLabelValues(name).Set(r.duration.Seconds())
		if r.err == nil {
			st.LastSuccess = now
			delete(m.failingSince, name)
			probeSuccess.WithLabelValues(name).Set(1)
		} else {
			st.LastFailure, st.LastError = now, r.err.Error()
			if _, ok := m.failingSince[name]; !ok {
				m.failingSince[name] = now
			}
			probeSuccess.WithLabelValues(name).Set(0)
			if now.Sub(m.failingSince[name]) >= probeFailFor {
				want = append(want, m.alert("ProbeFailure", Critical, map[string]string{"probe": name},
					fmt.Sprintf("Probe %s has been failing for 2 minutes: %v", name, r.err)))
			}
		}
		if !r.notAfter.IsZero() {
			st.CertNotAfter = r.notAfter
			certNotAfter.WithLabelValues(r.certName).Set(float64(r.notAfter.Unix()))
			left := r.notAfter.Sub(now)
			labels := map[string]string{"name": r.certName}
			if left < 21*24*time.Hour {
				want = append(want, m.alert("CertExpiring", Warning, labels, fmt.Sprintf("The certificate %s expires in under 21 days.", r.certName)))
			}
			if left < 7*24*time.Hour {
				want = append(want, m.alert("CertExpiring", Critical, labels, fmt.Sprintf("The certificate %s expires in under 7 days.", r.certName)))
			}
		}
		states = append(states, *st)
	}
	m.mu.Unlock()
	if err := SaveProbeStates(ctx, m.opts.Store, states); err != nil {
		m.opts.Logger.Warn("monitor: save probe states", "err", err)
	}
	want = append(want, m.heartbeats(ctx, now)...)
	m.queue(ctx, now)
	m.route(ctx, want)
}

func (m *Monitor) alert(name, severity string, labels map[string]string, summary string) Alert {
	return Alert{Name: name, Severity: severity, Labels: labels, Summary: summary, RunbookURL: m.opts.RunbookBase + name + ".md"}
}

func (m *Monitor) heartbeats(ctx context.Context, now time.Time) []Alert {
	var want []Alert
	for _, hb := range m.opts.Heartbeats {
		heartbeatPer.WithLabelValues(hb.Job).Set(hb.Period.Seconds())
		heartbeatGrace.WithLabelValues(hb.Job).Set(hb.Grace.Seconds())
		last, err := LastHeartbeat(ctx, m.opts.Store, hb.Job)
		if err != nil {
			m.opts.Logger.Warn("monitor: read heartbeat", "job", hb.Job, "err", err)
			continue
		}
		if last.IsZero() {
			continue // never reported: the job does not run on this installation
		}
		heartbeatLast.WithLabelValues(hb.Job).Set(float64(last.UnixNano()) / 1e9)
		if now.Sub(last) > hb.Period+hb.Grace {
			want = append(want, m.alert("HeartbeatMissed", Warning, map[string]string{"job": hb.Job},
				fmt.Sprintf("The periodic job %s has not succeeded since %s.", hb.Job, last.UTC().Format(time.RFC3339))))
		}
	}
	return want
}

func (m *Monitor) queue(ctx context.Context, now time.Time) {
	items, err := m.opts.Store.ListQueue(ctx)
	if err != nil {
		m.opts.Logger.Warn("monitor: list queue", "err", err)
		return
	}
	var pending, held float64
	for _, it := range items {
		if it.Held {
			held++
		} else {
			pending++
		}
	}
	queueMessages.WithLabelValues("pending").Set(pending)
	queueMessages.WithLabelValues("held").Set(held)
	oldest := 0.0
	if len(items) > 0 {
		oldest = now.Sub(items[0].CreatedAt).Seconds()
	}
	queueOldest.Set(oldest)
}

// route fires every wanted alert (the notifier handles repeats and twins)
// and resolves those that were firing and are no longer wanted.
func (m *Monitor) route(ctx context.Context, want []Alert) {
	m.mu.Lock()
	next := map[string]Alert{}
	for _, a := range want {
		next[a.key()] = a
	}
	var cleared []Alert
	for k, a := range m.fired {
		if _, ok := next[k]; !ok {
			cleared = append(cleared, a)
		}
	}
	m.fired = next
	m.mu.Unlock()
	for _, a := range want {
		if err := m.opts.Notifier.Fire(ctx, a); err != nil {
			m.opts.Logger.Warn("monitor: route alert", "alert", a.Name, "err", err)
		}
	}
	for _, a := range cleared {
		if err := m.opts.Notifier.Resolve(ctx, a); err != nil {
			m.opts.Logger.Warn("monitor: route resolved", "alert", a.Name, "err", err)
		}
	}
}
