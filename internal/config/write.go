package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// Dev ports of DESIGN.md §5.
const (
	DevMX             = "127.0.0.1:2525"
	DevSubmission     = "127.0.0.1:2587"
	DevSubmissionTLS  = "127.0.0.1:2465"
	DevIMAP           = "127.0.0.1:2143"
	DevIMAPTLS        = "127.0.0.1:2993"
	DevWeb            = "127.0.0.1:8080"
	DevDNS            = "127.0.0.1:5353"
	DevMetrics        = "127.0.0.1:9325"
	DevDomain         = "example.test"
	DevControlDomain  = "mail.example.test"
	devCertFile       = "tls/cert.pem"
	devKeyFile        = "tls/key.pem"
	productionCert    = "tls/fullchain.pem"
	productionKey     = "tls/privkey.pem"
	productionMetrics = "127.0.0.1:9325"
)

// Template describes a configuration file to write.
type Template struct {
	Dev           bool
	ControlDomain string
	Hostname      string
	PublicIPs     []string
	// ACME selects automatic certificates; otherwise Cert and Key name the
	// files (relative to the data directory).
	ACME      bool
	ACMEEmail string
	Cert, Key string

	MX, Submission, SubmissionTLS, IMAP, IMAPTLS, Web, DNS, Metrics string
}

// DevTemplate is the configuration `cabalmail dev` writes.
func DevTemplate() Template {
	return Template{
		Dev:           true,
		ControlDomain: DevControlDomain,
		Hostname:      "smtp." + DevControlDomain,
		PublicIPs:     []string{"127.0.0.1"},
		Cert:          devCertFile,
		Key:           devKeyFile,
		MX:            DevMX,
		Submission:    DevSubmission,
		SubmissionTLS: DevSubmissionTLS,
		IMAP:          DevIMAP,
		IMAPTLS:       DevIMAPTLS,
		Web:           DevWeb,
		DNS:           DevDNS,
		Metrics:       DevMetrics,
	}
}

// ProductionTemplate is the configuration `cabalmail init` writes: standard
// ports on every address, certificates from ACME unless cert and key are
// given.
func ProductionTemplate(control string, publicIPs []string, cert, key, acmeEmail string) Template {
	t := Template{
		ControlDomain: control,
		PublicIPs:     publicIPs,
		Hostname:      "smtp." + control,
		MX:            ":25",
		Submission:    ":587",
		SubmissionTLS: ":465",
		IMAP:          ":143",
		IMAPTLS:       ":993",
		Web:           ":443",
		DNS:           ":53",
		Metrics:       productionMetrics,
	}
	if cert != "" {
		t.Cert, t.Key = cert, key
	} else {
		t.ACME = true
		t.ACMEEmail = acmeEmail
	}
	return t
}

var fileTemplate = template.Must(template.New("cabalmail.toml").Funcs(template.FuncMap{"q": quote}).Parse(
	`# Cabalmail configuration. Every key is described in docs/configuration.md.
# Relative paths are relative to data_dir; data_dir is relative to this file.
data_dir = "."
control_domain = {{q .ControlDomain}}
hostname = {{q .Hostname}}
public_ips = [{{range $i, $ip := .PublicIPs}}{{if $i}}, {{end}}{{q $ip}}{{end}}]   # where the internet reaches this host
{{- if .Dev}}
dev = true   # plain-text logins allowed from loopback; never on a public host
{{- end}}

[store]
driver = "sqlite"
path = "cabalmail.db"
blob_dir = "blobs"
queue_dir = "queue"

[tls]
{{- if .ACME}}
acme = true
acme_email = {{q .ACMEEmail}}
acme_cache = "acme"
{{- else}}
cert = {{q .Cert}}
key = {{q .Key}}
{{- end}}

[dkim]
selector = "cabal"

[smtp_in]
listen = [{{q .MX}}]
max_message_size = 50000000
max_recipients = 100

[submission]
listen_starttls = [{{q .Submission}}]
listen_tls = [{{q .SubmissionTLS}}]

[imap]
listen_starttls = [{{q .IMAP}}]
listen_tls = [{{q .IMAPTLS}}]

[web]
listen = [{{q .Web}}]

[dns]
listen = [{{q .DNS}}]

[metrics]
listen = {{q .Metrics}}

[mailbox]
quota_bytes = 0   # per-user quota in bytes; 0 = none

[outbound]
resolver = ""     # host:port of a DNS server for MX look-ups; empty = the system resolver
retry_first = "5m"    # first retry of a deferred recipient; each next wait doubles
retry_max = "4h"      # longest wait between retries
delay_notice = "4h"   # the sender is told once when a message is still deferred this long
give_up = "96h"       # deferred recipients fail for good at this age
concurrency = 50      # delivery sessions at once
per_domain = 10       # delivery sessions to one domain at once

[outbound.providers]  # provider outage detection (docs/delivery-intelligence.md)
min_replies = 3       # "unknown recipient" replies for recipients that accepted mail before ...
min_share = 0.5       # ... that are at least this share of the provider's attempts ...
window = "30m"        # ... within this window make the provider suspect ...
suspect_for = "24h"   # ... for this long: its hard bounces are retried, not applied

# [[outbound.route]]
# domain = "*"
# relay = "smtp.provider.example:587"
# tls = "starttls"
# username = "..."
# password = "..."

[monitor]
probe_interval = "30s"    # how often the monitor role probes every listener
http_probes = []          # extra URLs that must answer 200
# ntfy_url = "https://ntfy.sh"
# ntfy_topic = "..."      # warnings and critical alerts; empty = no ntfy notices
# ntfy_token = "..."      # access token of a protected topic (secret)
# pushover_token = "..."  # critical alerts (secret; with pushover_user)
# pushover_user = "..."
# pushover_url = "https://api.pushover.net/1/messages.json"
repeat_critical = "24h"   # a critical alert still firing is sent again after this long
repeat_warning = "6h"
# webhook_listen = "127.0.0.1:9326"   # POST /alerts for Alertmanager; needs webhook_secret
# webhook_secret = "..."              # bearer secret, at least 16 characters

[log]
level = "info"
mail_log = ""     # file for the mail log; empty = standard error
`))

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Render produces the file text for t.
func (t Template) Render() ([]byte, error) {
	var buf bytes.Buffer
	if err := fileTemplate.Execute(&buf, t); err != nil {
		return nil, fmt.Errorf("config: render: %w", err)
	}
	if _, err := Parse(buf.Bytes()); err != nil {
		return nil, fmt.Errorf("config: rendered file does not parse: %w", err)
	}
	return buf.Bytes(), nil
}

// WriteNew writes t to path, refusing to overwrite an existing file. The
// write is atomic: a crash leaves either no file or the whole file.
func (t Template) WriteNew(path string) error {
	text, err := t.Render()
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("config: %s already exists; not overwriting it", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".cabalmail.toml-*")
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(text); err != nil {
		tmp.Close()
		return fmt.Errorf("config: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return fmt.Errorf("config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("config: sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	// Link rather than rename so a file created meanwhile is not replaced.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
