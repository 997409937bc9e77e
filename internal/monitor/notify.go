package monitor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Severities, as the alert rules label them.
const (
	Critical = "critical"
	Warning  = "warning"
)

// Default repeat intervals for an alert that keeps firing.
const (
	DefaultRepeatCritical = 24 * time.Hour
	DefaultRepeatWarning  = 6 * time.Hour
	// DefaultPushoverURL is Pushover's message API.
	DefaultPushoverURL = "https://api.pushover.net/1/messages.json"
)

// Alert is one alert instance: a name, a severity, and the labels that
// tell it apart from its siblings (the probe, the certificate, the job).
type Alert struct {
	Name       string
	Severity   string            // Critical or Warning
	Labels     map[string]string // identity, without alertname and severity
	Summary    string
	RunbookURL string
}

// twinKey identifies an alert regardless of severity: a critical alert and
// its warning twin share it.
func (a Alert) twinKey() string {
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(a.Name)
	for _, k := range keys {
		b.WriteString("\x00" + k + "=" + a.Labels[k])
	}
	return b.String()
}

func (a Alert) key() string { return a.twinKey() + "\x00" + a.Severity }

// NotifierOptions configure where alerts go. An empty ntfy topic or
// Pushover token turns that sink off.
type NotifierOptions struct {
	NtfyURL       string // e.g. https://ntfy.sh
	NtfyTopic     string
	NtfyToken     string // sent as a bearer token; never logged
	PushoverURL   string // default DefaultPushoverURL
	PushoverToken string // application token; never logged
	PushoverUser  string // user or group key; never logged

	RepeatCritical time.Duration // default DefaultRepeatCritical
	RepeatWarning  time.Duration // default DefaultRepeatWarning

	Client *http.Client     // default: a client with a 10 s timeout
	Now    func() time.Time // default time.Now
	Logger *slog.Logger
}

// Notifier routes alerts: critical to Pushover (priority 1) and ntfy
// (priority 5), warning to ntfy (priority 3), with the runbook as
// Pushover's url and ntfy's Click header. It sends an alert when it starts
// firing, again every repeat interval while it fires, and a resolved
// notice when it clears; a warning whose critical twin fires is held back.
// It is safe for concurrent use.
type Notifier struct {
	opts NotifierOptions

	mu     sync.Mutex
	active map[string]*activeAlert // by Alert.key
}

type activeAlert struct {
	alert    Alert
	lastSent time.Time // zero: never sent (silenced by its twin)
}

// NewNotifier returns a Notifier for opts.
func NewNotifier(opts NotifierOptions) *Notifier {
	if opts.PushoverURL == "" {
		opts.PushoverURL = DefaultPushoverURL
	}
	if opts.RepeatCritical <= 0 {
		opts.RepeatCritical = DefaultRepeatCritical
	}
	if opts.RepeatWarning <= 0 {
		opts.RepeatWarning = DefaultRepeatWarning
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{opts: opts, active: map[string]*activeAlert{}}
}

// Fire reports that a is firing now. Calling it again while a fires is
// how repeats happen: it sends only when the alert is new or its repeat
// interval has passed. It returns the first error from the sinks.
func (n *Notifier) Fire(ctx context.Context, a Alert) error {
	now := n.opts.Now()
	n.mu.Lock()
	st := n.active[a.key()]
	if st == nil {
		st = &activeAlert{}
		n.active[a.key()] = st
	}
	st.alert = a
	send := false
	switch {
	case a.Severity == Warning && n.twinFiring(a):
		// silenced by its critical twin
	case st.lastSent.IsZero() || now.Sub(st.lastSent) >= n.repeat(a.Severity):
		send = true
		st.lastSent = now
	}
	n.mu.Unlock()
	if !send {
		return nil
	}
	return n.send(ctx, a, false)
}

// Resolve reports that a has stopped firing. A resolved notice goes out if
// the alert had been notified.
func (n *Notifier) Resolve(ctx context.Context, a Alert) error {
	n.mu.Lock()
	st := n.active[a.key()]
	delete(n.active, a.key())
	n.mu.Unlock()
	if st == nil || st.lastSent.IsZero() {
		return nil
	}
	if a.Summary == "" {
		a.Summary = st.alert.Summary
	}
	if a.RunbookURL == "" {
		a.RunbookURL = st.alert.RunbookURL
	}
	return n.send(ctx, a, true)
}

// Firing returns the keys of the alerts firing now, for the role's
// evaluator to resolve those that cleared.
func (n *Notifier) Firing() []Alert {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Alert, 0, len(n.active))
	for _, st := range n.active {
		out = append(out, st.alert)
	}
	return out
}

func (n *Notifier) twinFiring(a Alert) bool {
	twin := a
	twin.Severity = Critical
	_, ok := n.active[twin.key()]
	return ok
}

func (n *Notifier) repeat(severity string) time.Duration {
	if severity == Critical {
		return n.opts.RepeatCritical
	}
	return n.opts.RepeatWarning
}

func (n *Notifier) send(ctx context.Context, a Alert, resolved bool) error {
	var firstErr error
	note := func(err error) {
		if err != nil {
			n.opts.Logger.Warn("monitor: alert not delivered", "alert", a.Name, "err", err)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if n.opts.NtfyTopic != "" {
		note(n.sendNtfy(ctx, a, resolved))
	}
	if a.Severity == Critical && n.opts.PushoverToken != "" {
		note(n.sendPushover(ctx, a, resolved))
	}
	n.opts.Logger.Info("monitor: alert", "alert", a.Name, "severity", a.Severity, "resolved", resolved, "labels", a.Labels)
	return firstErr
}

func title(a Alert, resolved bool) string {
	t := "[" + strings.ToUpper(a.Severity) + "] " + a.Name
	if resolved {
		t = "[RESOLVED] " + a.Name
	}
	return t
}

func body(a Alert, resolved bool) string {
	s := a.Summary
	if s == "" {
		s = a.Name
	}
	if resolved {
		s = "Resolved: " + s
	}
	return s
}

// sendNtfy publishes to ntfy: POST <url>/<topic>, the message as the body,
// the rest as headers (Title, Priority, Tags, Click).
func (n *Notifier) sendNtfy(ctx context.Context, a Alert, resolved bool) error {
	u := strings.TrimSuffix(n.opts.NtfyURL, "/") + "/" + url.PathEscape(n.opts.NtfyTopic)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body(a, resolved)))
	if err != nil {
		return fmt.Errorf("monitor: ntfy request: %w", err)
	}
	priority, tags := "3", "warning"
	switch {
	case resolved:
		priority, tags = "3", "white_check_mark"
	case a.Severity == Critical:
		priority, tags = "5", "rotating_light"
	}
	req.Header.Set("Title", title(a, resolved))
	req.Header.Set("Priority", priority)
	req.Header.Set("Tags", tags)
	if a.RunbookURL != "" {
		req.Header.Set("Click", a.RunbookURL)
	}
	if n.opts.NtfyToken != "" {
		req.Header.Set("Authorization", "Bearer "+n.opts.NtfyToken)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	return n.do(req, "ntfy")
}

// sendPushover posts Pushover's form: token, user, title, message,
// priority (1 for critical, 0 for the resolved notice), url.
func (n *Notifier) sendPushover(ctx context.Context, a Alert, resolved bool) error {
	form := url.Values{
		"token":    {n.opts.PushoverToken},
		"user":     {n.opts.PushoverUser},
		"title":    {title(a, resolved)},
		"message":  {body(a, resolved)},
		"priority": {"1"},
	}
	if resolved {
		form.Set("priority", "0")
	}
	if a.RunbookURL != "" {
		form.Set("url", a.RunbookURL)
		form.Set("url_title", "Runbook")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.opts.PushoverURL, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("monitor: pushover request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return n.do(req, "pushover")
}

// do sends req and checks for a 2xx. Errors name the sink and the status,
// never the request's credentials.
func (n *Notifier) do(req *http.Request, sink string) error {
	resp, err := n.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if e, ok := err.(*url.Error); ok {
			ue = e
			return fmt.Errorf("monitor: %s: %s %s: %w", sink, ue.Op, req.URL.Redacted(), ue.Err)
		}
		return fmt.Errorf("monitor: %s: %w", sink, err)
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("monitor: %s: %s answered %s", sink, req.URL.Redacted(), resp.Status)
	}
	return nil
}
