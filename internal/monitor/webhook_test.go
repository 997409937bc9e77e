package monitor

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const webhookSecret = "s3cret-bearer-0123456789"

// alertmanagerBody is a version 4 webhook body as Alertmanager sends it.
func alertmanagerBody(status, severity string) string {
	return `{
  "version": "4",
  "groupKey": "{}:{alertname=\"ProbeFailure\"}",
  "truncatedAlerts": 0,
  "status": "` + status + `",
  "receiver": "cabalmail",
  "groupLabels": {"alertname": "ProbeFailure"},
  "commonLabels": {"alertname": "ProbeFailure", "severity": "` + severity + `"},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager.example.test:9093",
  "alerts": [{
    "status": "` + status + `",
    "labels": {"alertname": "ProbeFailure", "severity": "` + severity + `", "probe": "smtp-in smtp 127.0.0.1:25", "instance": "mx1:9325"},
    "annotations": {"summary": "Probe smtp-in smtp 127.0.0.1:25 has been failing for 2 minutes.",
                    "runbook_url": "https://github.com/cabalmail/cabalmail/blob/main/docs/runbooks/ProbeFailure.md"},
    "startsAt": "2026-11-22T07:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus.example.test/graph",
    "fingerprint": "c0ffee"
  }]
}`
}

func newTestWebhook(t *testing.T) (*fakeSinks, *httptest.Server) {
	t.Helper()
	sinks, srv := newFakeSinks(t)
	clock := &fakeClock{t: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)}
	hook := httptest.NewServer(&Webhook{Notifier: newTestNotifier(srv, clock), Secret: webhookSecret})
	t.Cleanup(hook.Close)
	return sinks, hook
}

func post(t *testing.T, url, auth, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without a WWW-Authenticate challenge")
	}
	return resp.StatusCode
}

func TestWebhookRefusesWithoutSecret(t *testing.T) {
	sinks, hook := newTestWebhook(t)
	body := alertmanagerBody("firing", "critical")
	for name, auth := range map[string]string{
		"missing":        "",
		"wrong":          "Bearer not-the-secret-at-all",
		"prefix":         "Bearer " + webhookSecret[:10],
		"longer":         "Bearer " + webhookSecret + "x",
		"basic scheme":   "Basic " + webhookSecret,
		"no scheme":      webhookSecret,
		"lower-case tag": "bearer" + webhookSecret,
	} {
		if code := post(t, hook.URL+"/alerts", auth, body); code != http.StatusUnauthorized {
			t.Errorf("%s bearer: status %d, want 401", name, code)
		}
	}
	if r := sinks.take(); len(r) != 0 {
		t.Fatalf("refused requests sent notices: %+v", r)
	}
	resp, err := http.Get(hook.URL + "/alerts")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	if code := post(t, hook.URL+"/other", "Bearer "+webhookSecret, body); code != http.StatusNotFound {
		t.Errorf("other path: %d", code)
	}
}

func TestWebhookRoutesFiringAndResolved(t *testing.T) {
	sinks, hook := newTestWebhook(t)
	auth := "Bearer " + webhookSecret
	const runbook = "https://github.com/cabalmail/cabalmail/blob/main/docs/runbooks/ProbeFailure.md"

	if code := post(t, hook.URL+"/alerts", auth, alertmanagerBody("firing", "critical")); code != 200 {
		t.Fatalf("firing: status %d", code)
	}
	reqs := sinks.take()
	if len(reqs) != 2 {
		t.Fatalf("critical firing: %d requests, want ntfy and pushover: %+v", len(reqs), reqs)
	}
	for _, r := range reqs {
		switch r.sink {
		case "ntfy":
			if r.header.Get("Priority") != "5" || r.header.Get("Title") != "[CRITICAL] ProbeFailure" || r.header.Get("Click") != runbook ||
				!strings.Contains(r.body, "has been failing") {
				t.Errorf("ntfy %+v", r)
			}
		case "pushover":
			if r.form.Get("priority") != "1" || r.form.Get("url") != runbook || r.form.Get("title") != "[CRITICAL] ProbeFailure" {
				t.Errorf("pushover %v", r.form)
			}
		}
	}
	// Alertmanager's own repeat within our repeat interval is absorbed.
	if code := post(t, hook.URL+"/alerts", auth, alertmanagerBody("firing", "critical")); code != 200 || len(sinks.take()) != 0 {
		t.Errorf("repeat of a firing alert: status %d or notices sent", code)
	}
	if code := post(t, hook.URL+"/alerts", auth, alertmanagerBody("resolved", "critical")); code != 200 {
		t.Fatalf("resolved: status %d", code)
	}
	reqs = sinks.take()
	if len(reqs) != 2 {
		t.Fatalf("resolved: %d requests: %+v", len(reqs), reqs)
	}
	for _, r := range reqs {
		if r.sink == "ntfy" && (r.header.Get("Title") != "[RESOLVED] ProbeFailure" || r.header.Get("Click") != runbook) {
			t.Errorf("ntfy resolved %+v", r)
		}
		if r.sink == "pushover" && r.form.Get("priority") != "0" {
			t.Errorf("pushover resolved %v", r.form)
		}
	}

	// A warning goes to ntfy only, at priority 3.
	if code := post(t, hook.URL+"/alerts", auth, alertmanagerBody("firing", "warning")); code != 200 {
		t.Fatalf("warning: status %d", code)
	}
	if reqs := sinks.take(); len(reqs) != 1 || reqs[0].sink != "ntfy" || reqs[0].header.Get("Priority") != "3" {
		t.Errorf("warning: %+v", reqs)
	}
}

func TestWebhookBadBodySendsNothing(t *testing.T) {
	sinks, hook := newTestWebhook(t)
	auth := "Bearer " + webhookSecret
	good := alertmanagerBody("firing", "critical")
	for name, body := range map[string]string{
		"not json":     "alert!",
		"version 3":    strings.Replace(good, `"version": "4"`, `"version": "3"`, 1),
		"no alertname": strings.Replace(good, `"labels": {"alertname": "ProbeFailure", `, `"labels": {`, 1),
		"unknown status": strings.Replace(good, `"status": "firing",
    "labels"`, `"status": "burning",
    "labels"`, 1),
		"too large": `{"version":"4","alerts":[],"pad":"` + strings.Repeat("x", maxWebhookBody) + `"}`,
	} {
		if body == good {
			t.Fatalf("%s: the replacement did not apply", name)
		}
		if code := post(t, hook.URL+"/alerts", auth, body); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, code)
		}
	}
	if r := sinks.take(); len(r) != 0 {
		t.Fatalf("refused bodies sent notices: %+v", r)
	}
}

func FuzzDecodeWebhook(f *testing.F) {
	f.Add([]byte(alertmanagerBody("firing", "critical")))
	f.Add([]byte(alertmanagerBody("resolved", "warning")))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"x"}}]}`))
	f.Add([]byte(`{"version":"4","alerts":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		firing, resolved, err := DecodeWebhook(strings.NewReader(string(body)))
		if err != nil {
			if firing != nil || resolved != nil {
				t.Fatalf("error %v with alerts", err)
			}
			return
		}
		for _, a := range append(firing, resolved...) {
			if a.Name == "" || (a.Severity != Critical && a.Severity != Warning) {
				t.Fatalf("accepted alert %+v", a)
			}
			if _, ok := a.Labels["alertname"]; ok {
				t.Fatalf("alertname left among the identity labels: %+v", a)
			}
			if _, ok := a.Labels["severity"]; ok {
				t.Fatalf("severity left among the identity labels: %+v", a)
			}
			if a.RunbookURL != "" && !strings.HasPrefix(a.RunbookURL, "http") {
				t.Fatalf("runbook URL %q", a.RunbookURL)
			}
		}
	})
}
