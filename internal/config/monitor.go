package config

import (
	"net/url"
	"time"
)

// Monitor configures the monitor role (DESIGN.md §2): how often it probes,
// which extra URLs it probes, where alerts go, and the Alertmanager
// webhook. The tokens and the webhook secret are secrets: nothing logs
// them.
type Monitor struct {
	ProbeInterval Duration `toml:"probe_interval"` // default 30s
	// HTTPProbes are extra URLs probed besides the configured listeners;
	// each must answer 200.
	HTTPProbes []string `toml:"http_probes"`

	NtfyURL       string `toml:"ntfy_url"`     // default https://ntfy.sh
	NtfyTopic     string `toml:"ntfy_topic"`   // empty: no ntfy notices
	NtfyToken     string `toml:"ntfy_token"`   // access token of a protected topic
	PushoverURL   string `toml:"pushover_url"` // default Pushover's message API
	PushoverToken string `toml:"pushover_token"`
	PushoverUser  string `toml:"pushover_user"`

	RepeatCritical Duration `toml:"repeat_critical"` // default 24h
	RepeatWarning  Duration `toml:"repeat_warning"`  // default 6h

	// WebhookListen is where POST /alerts (the Alertmanager webhook) is
	// served; empty: not served. It requires WebhookSecret.
	WebhookListen string `toml:"webhook_listen"`
	WebhookSecret string `toml:"webhook_secret"` // bearer secret; at least 16 characters

	// Heartbeat periods of the periodic jobs the monitor watches.
	QueueRunnerPeriod Duration `toml:"queue_runner_period"` // default 1m
	DNSSerialPeriod   Duration `toml:"dns_serial_period"`   // default 1h
}

// Monitor defaults, applied after validation.
const (
	DefaultProbeInterval     = Duration(30 * time.Second)
	DefaultNtfyURL           = "https://ntfy.sh"
	DefaultPushoverURL       = "https://api.pushover.net/1/messages.json"
	DefaultRepeatCritical    = Duration(24 * time.Hour)
	DefaultRepeatWarning     = Duration(6 * time.Hour)
	DefaultQueueRunnerPeriod = Duration(time.Minute)
	DefaultDNSSerialPeriod   = Duration(time.Hour)
	minWebhookSecret         = 16
	minProbeInterval         = Duration(time.Second)
)

// check validates the [monitor] table as the file gives it; present
// reports whether the file sets a key, so a written zero is refused
// rather than mistaken for a default.
func (m *Monitor) check(present func(key string) bool) error {
	durations := []struct {
		key string
		v   Duration
	}{
		{"monitor.probe_interval", m.ProbeInterval},
		{"monitor.repeat_critical", m.RepeatCritical},
		{"monitor.repeat_warning", m.RepeatWarning},
		{"monitor.queue_runner_period", m.QueueRunnerPeriod},
		{"monitor.dns_serial_period", m.DNSSerialPeriod},
	}
	for _, d := range durations {
		if d.v < 0 || d.v == 0 && present(d.key) {
			return keyErr(d.key, "must be positive, not %s", d.v)
		}
	}
	if m.ProbeInterval != 0 && m.ProbeInterval < minProbeInterval {
		return keyErr("monitor.probe_interval", "must be at least %s, not %s", minProbeInterval, m.ProbeInterval)
	}
	for _, u := range m.HTTPProbes {
		if err := checkHTTPURL(u); err != "" {
			return keyErr("monitor.http_probes", "%q %s", u, err)
		}
	}
	if m.NtfyURL != "" {
		if err := checkHTTPURL(m.NtfyURL); err != "" {
			return keyErr("monitor.ntfy_url", "%q %s", m.NtfyURL, err)
		}
	}
	if m.PushoverURL != "" {
		if err := checkHTTPURL(m.PushoverURL); err != "" {
			return keyErr("monitor.pushover_url", "%q %s", m.PushoverURL, err)
		}
	}
	if m.NtfyTopic != "" && !isTopicName(m.NtfyTopic) {
		return keyErr("monitor.ntfy_topic", "%q: want 1 to 64 letters, digits, '-' and '_'", m.NtfyTopic)
	}
	if m.NtfyToken != "" && m.NtfyTopic == "" {
		return keyErr("monitor.ntfy_token", "is set but monitor.ntfy_topic is not")
	}
	if (m.PushoverToken == "") != (m.PushoverUser == "") {
		key := "monitor.pushover_user" // name the key that is there, so the error has a line
		if m.PushoverToken != "" {
			key = "monitor.pushover_token"
		}
		return keyErr(key, "pushover_token and pushover_user must be given together")
	}
	if m.WebhookListen != "" {
		if err := checkListen(m.WebhookListen); err != nil {
			return keyErr("monitor.webhook_listen", "%v", err)
		}
		if m.WebhookSecret == "" {
			return keyErr("monitor.webhook_listen", "requires monitor.webhook_secret")
		}
	}
	if m.WebhookSecret != "" && len(m.WebhookSecret) < minWebhookSecret {
		// The value itself is a secret: the error gives only its length.
		return keyErr("monitor.webhook_secret", "must be at least %d characters, not %d", minWebhookSecret, len(m.WebhookSecret))
	}
	return nil
}

func (m *Monitor) applyDefaults() {
	m.ProbeInterval = orDuration(m.ProbeInterval, DefaultProbeInterval)
	m.RepeatCritical = orDuration(m.RepeatCritical, DefaultRepeatCritical)
	m.RepeatWarning = orDuration(m.RepeatWarning, DefaultRepeatWarning)
	m.QueueRunnerPeriod = orDuration(m.QueueRunnerPeriod, DefaultQueueRunnerPeriod)
	m.DNSSerialPeriod = orDuration(m.DNSSerialPeriod, DefaultDNSSerialPeriod)
	if m.NtfyURL == "" {
		m.NtfyURL = DefaultNtfyURL
	}
	if m.PushoverURL == "" {
		m.PushoverURL = DefaultPushoverURL
	}
}

// checkHTTPURL returns "" for an absolute http or https URL with a host,
// else what is wrong with it.
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must start with http:// or https://"
	case u.Host == "":
		return "has no host"
	case u.User != nil:
		return "must not carry credentials"
	}
	return ""
}

func isTopicName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
