package monitor

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// Limits of the webhook: Alertmanager posts small batches.
const (
	maxWebhookBody   = 1 << 20
	maxWebhookAlerts = 1000
	maxWebhookLabels = 64
	maxLabelBytes    = 1024
	webhookMaxConns  = 16
)

// WebhookPayload is the part of Alertmanager's webhook body (version 4)
// the monitor reads; other fields are ignored.
type WebhookPayload struct {
	Version string         `json:"version"`
	Status  string         `json:"status"`
	Alerts  []WebhookAlert `json:"alerts"`
}

// WebhookAlert is one alert of a webhook body.
type WebhookAlert struct {
	Status      string            `json:"status"` // "firing" or "resolved"
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// DecodeWebhook reads an Alertmanager webhook body and returns its alerts
// as the notifier sees them, each with whether it is resolved. It refuses
// any version but "4", an alert without alertname, an unknown status, and
// bodies past the size, alert and label limits.
func DecodeWebhook(r io.Reader) (firing, resolved []Alert, err error) {
	body, err := io.ReadAll(io.LimitReader(r, maxWebhookBody+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read body: %w", err)
	}
	if len(body) > maxWebhookBody {
		return nil, nil, fmt.Errorf("body larger than %d bytes", maxWebhookBody)
	}
	var p WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, nil, fmt.Errorf("not an Alertmanager webhook body: %w", err)
	}
	if p.Version != "4" {
		return nil, nil, fmt.Errorf("version %q, want \"4\"", p.Version)
	}
	if len(p.Alerts) > maxWebhookAlerts {
		return nil, nil, fmt.Errorf("%d alerts, at most %d", len(p.Alerts), maxWebhookAlerts)
	}
	for i, wa := range p.Alerts {
		a, err := wa.alert()
		if err != nil {
			return nil, nil, fmt.Errorf("alert %d: %w", i, err)
		}
		switch wa.Status {
		case "firing":
			firing = append(firing, a)
		case "resolved":
			resolved = append(resolved, a)
		default:
			return nil, nil, fmt.Errorf("alert %d: status %q, want firing or resolved", i, wa.Status)
		}
	}
	return firing, resolved, nil
}

// alert maps an Alertmanager alert onto ours: alertname is the name, the
// severity label the severity (anything but "critical" routes as a
// warning), the other labels the identity, annotations summary (else
// description) and runbook_url the text and the click URL.
func (wa WebhookAlert) alert() (Alert, error) {
	if len(wa.Labels) > maxWebhookLabels {
		return Alert{}, fmt.Errorf("%d labels, at most %d", len(wa.Labels), maxWebhookLabels)
	}
	a := Alert{Name: wa.Labels["alertname"], Severity: Warning, Labels: map[string]string{}}
	if a.Name == "" {
		return Alert{}, errors.New("no alertname label")
	}
	for k, v := range wa.Labels {
		if len(k)+len(v) > maxLabelBytes {
			return Alert{}, fmt.Errorf("label %.40q longer than %d bytes", k, maxLabelBytes)
		}
		switch k {
		case "alertname":
		case "severity":
			if v == Critical {
				a.Severity = Critical
			}
		default:
			a.Labels[k] = v
		}
	}
	a.Summary = wa.Annotations["summary"]
	if a.Summary == "" {
		a.Summary = wa.Annotations["description"]
	}
	if u := wa.Annotations["runbook_url"]; strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		a.RunbookURL = u
	}
	return a, nil
}

// Webhook is the Alertmanager-compatible endpoint: POST /alerts with an
// Authorization: Bearer secret and a version 4 body; each alert is fired
// or resolved through Notifier, so an external Prometheus's alerts follow
// the same routes, repeats and twins as the monitor's own.
type Webhook struct {
	Notifier *Notifier
	Secret   string // required; compared in constant time, never logged
	Logger   *slog.Logger
}

// ServeHTTP answers 401 without the right bearer secret, 400 for a body
// DecodeWebhook refuses (nothing is sent), 502 if a sink failed, else 200.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	logger := h.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if r.URL.Path != "/alerts" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if !h.authorized(r.Header.Get("Authorization")) {
		// RFC 6750 3: the challenge names the scheme.
		w.Header().Set("WWW-Authenticate", `Bearer realm="cabalmail-alerts"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		logger.Warn("monitor: webhook refused: bad or missing bearer secret", "remote", r.RemoteAddr)
		return
	}
	firing, resolved, err := DecodeWebhook(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		logger.Warn("monitor: webhook body refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	var failed error
	for _, a := range firing {
		if err := h.Notifier.Fire(r.Context(), a); err != nil && failed == nil {
			failed = err
		}
	}
	for _, a := range resolved {
		if err := h.Notifier.Resolve(r.Context(), a); err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		// Alertmanager retries on a 5xx.
		http.Error(w, "a sink did not take the notice", http.StatusBadGateway)
		return
	}
	_, _ = io.WriteString(w, "ok\n")
}

func (h *Webhook) authorized(header string) bool {
	got, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || h.Secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.Secret)) == 1
}

// ServeWebhook listens on addr and serves h until ctx is cancelled.
func ServeWebhook(ctx context.Context, addr string, h *Webhook, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("monitor: webhook listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("monitor: alert webhook listening", "addr", ln.Addr().String(), "path", "/alerts")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(netutil.LimitListener(ln, webhookMaxConns)) }()
	select {
	case err := <-served:
		return fmt.Errorf("monitor: webhook serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("monitor: webhook shutdown %s: %w", addr, err)
	}
	<-served
	return nil
}
