package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTemplatesParse(t *testing.T) {
	for name, tpl := range map[string]Template{
		"dev":        DevTemplate(),
		"acme":       ProductionTemplate("mail.example.com", []string{"203.0.113.5", "2001:db8::5"}, "", "", "ops@example.com"),
		"given-cert": ProductionTemplate("mail.example.com", nil, "/etc/ssl/a.pem", "/etc/ssl/a.key", ""),
	} {
		t.Run(name, func(t *testing.T) {
			text, err := tpl.Render()
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(text)
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			if c.ControlDomain != tpl.ControlDomain || c.Dev != tpl.Dev || c.TLS.ACME != tpl.ACME {
				t.Errorf("round trip lost values: %+v", c)
			}
			if len(c.IMAP.ListenTLS) != 1 || c.IMAP.ListenTLS[0] != tpl.IMAPTLS {
				t.Errorf("imap.listen_tls = %v, want [%s]", c.IMAP.ListenTLS, tpl.IMAPTLS)
			}
		})
	}
}

func TestLoadResolvesPaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cabalmail.toml")
	if err := DevTemplate().WriteNew(path); err != nil {
		t.Fatal(err)
	}
	if err := DevTemplate().WriteNew(path); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second WriteNew: %v, want refusal", err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != dir {
		t.Errorf("DataDir = %q, want %q", c.DataDir, dir)
	}
	if c.Store.Path != filepath.Join(dir, "cabalmail.db") {
		t.Errorf("Store.Path = %q", c.Store.Path)
	}
	if c.TLS.Cert != filepath.Join(dir, "tls/cert.pem") {
		t.Errorf("TLS.Cert = %q", c.TLS.Cert)
	}
	if c.SMTPIn.MaxMessageSize != DefaultMaxMessageSize || c.Hostname != "smtp.mail.example.test" {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestBadConfigNamesKeyAndLine(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown top key", "control_domain = \"mail.example.test\"\nfrobnicate = 1\n", "line 2: unknown key frobnicate"},
		{"unknown table key", "control_domain = \"mail.example.test\"\n[imap]\nlisten = [\"127.0.0.1:1\"]\n", "line 3: unknown key imap.listen"},
		{"syntax", "control_domain = \"mail.example.test\n", "line 1:"},
		{"wrong type", "control_domain = \"mail.example.test\"\n[smtp_in]\nmax_message_size = \"big\"\n", "line 3:"},
		{"missing control domain", "dev = true\n", "key control_domain: is required"},
		{"bad listen", "control_domain = \"mail.example.test\"\n\n[web]\nlisten = [\"nope\"]\n", "line 4: key web.listen: want host:port"},
		{"bad signup", "control_domain = \"mail.example.test\"\n\n[web]\nsignup = \"anyone\"\n", "line 4: key web.signup: must be \"closed\", \"invite\" or \"open\""},
		{"bad port", "control_domain = \"mail.example.test\"\n[dns]\nlisten = [\"127.0.0.1:99999\"]\n", "line 3: key dns.listen: bad port"},
		{"bad driver", "control_domain = \"mail.example.test\"\n[store]\ndriver = \"mysql\"\n", "line 3: key store.driver: must be"},
		{"postgres without dsn", "control_domain = \"mail.example.test\"\n[store]\ndriver = \"postgres\"\n", "key store.dsn: is required"},
		{"bad route tls", "control_domain = \"mail.example.test\"\n[[outbound.route]]\ndomain = \"a.test\"\nrelay = \"127.0.0.1:25\"\n[[outbound.route]]\ndomain = \"b.test\"\nrelay = \"127.0.0.1:26\"\ntls = \"maybe\"\n", "line 8: key outbound.route[1].tls"},
		{"route without relay", "control_domain = \"mail.example.test\"\n[[outbound.route]]\ndomain = \"*\"\n", "key outbound.route[0].relay"},
		{"dns record bad type", "control_domain = \"mail.example.test\"\n[[dns.record]]\nname = \"www.example.test\"\ntype = \"PTR\"\nvalue = \"x.example.test.\"\n", "line 4: key dns.record[0].type: must be one of"},
		{"dns record bad A", "control_domain = \"mail.example.test\"\n[[dns.record]]\nname = \"www.example.test\"\ntype = \"A\"\nvalue = \"1.2.3\"\n", "line 5: key dns.record[0].value: \"1.2.3\" is not a valid A value"},
		{"dns record A given an IPv6", "control_domain = \"mail.example.test\"\n[[dns.record]]\nname = \"www.example.test\"\ntype = \"A\"\nvalue = \"2001:db8::1\"\n", "key dns.record[0].value"},
		{"dns record bad MX", "control_domain = \"mail.example.test\"\n[[dns.record]]\nname = \"x.example.test\"\ntype = \"A\"\nvalue = \"192.0.2.1\"\n[[dns.record]]\nname = \"x.example.test\"\ntype = \"MX\"\nvalue = \"mx.example.net.\"\n", "line 9: key dns.record[1].value"},
		{"dns record bad name", "control_domain = \"mail.example.test\"\n[[dns.record]]\nname = \"bad name.example.test\"\ntype = \"TXT\"\nvalue = \"hello\"\n", "line 3: key dns.record[0].name"},
		{"dns record single label", "control_domain = \"mail.example.test\"\n[[dns.record]]\nname = \"localhost\"\ntype = \"TXT\"\nvalue = \"hello\"\n", "key dns.record[0].name"},
		{"dns record no value", "control_domain = \"mail.example.test\"\n[[dns.record]]\nname = \"www.example.test\"\ntype = \"CNAME\"\n", "key dns.record[0].value: is required"},
		{"dns record unknown key", "control_domain = \"mail.example.test\"\n[[dns.record]]\nname = \"www.example.test\"\nclass = \"IN\"\n", "line 4: unknown key dns.record.class"},
		{"provider share", "control_domain = \"mail.example.test\"\n[outbound.providers]\nmin_share = 1.5\n", "line 3: key outbound.providers.min_share"},
		{"provider window", "control_domain = \"mail.example.test\"\n[outbound.providers]\nwindow = \"0s\"\n", "line 3: key outbound.providers.window"},
		{"provider unknown key", "control_domain = \"mail.example.test\"\n[outbound.providers]\nthreshold = 3\n", "line 3: unknown key outbound.providers.threshold"},
		{"shared body dirs", "control_domain = \"mail.example.test\"\n[store]\nblob_dir = \"bodies\"\nqueue_dir = \"./bodies\"\n", "line 4: key store.queue_dir: must differ"},
		{"bad public ip", "control_domain = \"mail.example.test\"\npublic_ips = [\"1.2.3\"]\n", "line 2: key public_ips"},
		{"bad control domain", "control_domain = \"Mail Example\"\n", "line 1: key control_domain"},
		{"dotted key", "control_domain = \"mail.example.test\"\nlog.level = \"loud\"\n", "line 2: key log.level"},
		{"negative submission recipients", "control_domain = \"mail.example.test\"\n[submission]\nmax_recipients = -1\n", "line 3: key submission.max_recipients: must not be negative"},
		{"negative daily messages", "control_domain = \"mail.example.test\"\n\n[submission]\nmax_messages_per_day = -5\n", "line 4: key submission.max_messages_per_day: must not be negative"},
		{"negative submission size", "control_domain = \"mail.example.test\"\n[submission]\nmax_message_size = -1\n", "line 3: key submission.max_message_size: must not be negative"},
		{"submission reveal not bool", "control_domain = \"mail.example.test\"\n[submission]\nreceived_reveals_client_ip = \"yes\"\n", "line 3:"},
		{"unknown submission key", "control_domain = \"mail.example.test\"\n[submission]\nmax_rcpts = 5\n", "line 3: unknown key submission.max_rcpts"},
		{"bad retry duration", "control_domain = \"mail.example.test\"\n[outbound]\nretry_first = \"soon\"\n", "line 3: key outbound.retry_first: want a duration"},
		{"retry duration not a string", "control_domain = \"mail.example.test\"\n[outbound]\nretry_max = 300\n", "line 3:"},
		{"negative retry", "control_domain = \"mail.example.test\"\n[outbound]\n\nretry_first = \"-5m\"\n", "line 4: key outbound.retry_first: must be positive"},
		{"zero give up", "control_domain = \"mail.example.test\"\n[outbound]\ngive_up = \"0s\"\n", "line 3: key outbound.give_up: must be positive"},
		{"first above max", "control_domain = \"mail.example.test\"\n[outbound]\nretry_first = \"1h\"\nretry_max = \"30m\"\n", "line 4: key outbound.retry_max: retry_first (1h0m0s) must not exceed retry_max (30m0s)"},
		{"first above default max", "control_domain = \"mail.example.test\"\n[outbound]\nretry_first = \"5h\"\n", "line 3: key outbound.retry_first: retry_first (5h0m0s) must not exceed retry_max (4h0m0s)"},
		{"notice not before give up", "control_domain = \"mail.example.test\"\n[outbound]\ndelay_notice = \"96h\"\ngive_up = \"96h\"\n", "line 4: key outbound.give_up: delay_notice (96h0m0s) must be shorter than give_up (96h0m0s)"},
		{"zero concurrency", "control_domain = \"mail.example.test\"\n[outbound]\nconcurrency = 0\n", "line 3: key outbound.concurrency: must be positive"},
		{"negative per domain", "control_domain = \"mail.example.test\"\n[outbound]\nper_domain = -1\n", "line 3: key outbound.per_domain: must be positive"},
		{"unknown outbound key", "control_domain = \"mail.example.test\"\n[outbound]\nretry = \"5m\"\n", "line 3: unknown key outbound.retry"},
		{"acme and cert", "control_domain = \"mail.example.test\"\n[tls]\nacme = true\ncert = \"a\"\nkey = \"b\"\n", "line 3: key tls.acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse accepted %q", tt.doc)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestSubmissionLimits(t *testing.T) {
	c, err := Parse([]byte("control_domain = \"mail.example.test\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Submission
	if s.MaxRecipients != 100 || s.MaxMessagesPerDay != 500 || s.MaxMessageSize != 50*1000*1000 || s.ReceivedRevealsClientIP {
		t.Errorf("submission defaults = %+v", s)
	}
	c, err = Parse([]byte("control_domain = \"mail.example.test\"\n[submission]\nmax_recipients = 7\nmax_messages_per_day = 20\nmax_message_size = 1000\nreceived_reveals_client_ip = true\n"))
	if err != nil {
		t.Fatal(err)
	}
	s = c.Submission
	if s.MaxRecipients != 7 || s.MaxMessagesPerDay != 20 || s.MaxMessageSize != 1000 || !s.ReceivedRevealsClientIP {
		t.Errorf("submission values = %+v", s)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.toml"))
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("Load of a missing file: %v", err)
	}
}

func TestResolve(t *testing.T) {
	t.Setenv("CABALMAIL_CONFIG", "/etc/cabalmail.toml")
	if got := Resolve("x.toml"); got != "x.toml" {
		t.Errorf("flag ignored: %s", got)
	}
	if got := Resolve(""); got != "/etc/cabalmail.toml" {
		t.Errorf("env ignored: %s", got)
	}
	os.Unsetenv("CABALMAIL_CONFIG")
	if got := Resolve(""); got != DefaultPath {
		t.Errorf("default = %s", got)
	}
}

func TestDNSRecords(t *testing.T) {
	doc := `control_domain = "mail.example.test"
[[dns.record]]
name = "WWW.Example.Test."
type = "a"
value = "192.0.2.80"
[[dns.record]]
name = "_sip._tcp.example.test"
type = "SRV"
value = "10 5 5060 sip.example.test."
ttl = 600
[[dns.record]]
name = "example.test"
type = "CAA"
value = '0 issue "letsencrypt.org"'
[[dns.record]]
name = "hello.example.test"
type = "TXT"
value = 'say "hi"'
`
	c, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []DNSRecord{
		{Name: "www.example.test.", Type: "A", Value: "192.0.2.80", TTL: DefaultDNSRecordTTL},
		{Name: "_sip._tcp.example.test.", Type: "SRV", Value: "10 5 5060 sip.example.test.", TTL: 600},
		{Name: "example.test.", Type: "CAA", Value: `0 issue "letsencrypt.org"`, TTL: DefaultDNSRecordTTL},
		{Name: "hello.example.test.", Type: "TXT", Value: `say "hi"`, TTL: DefaultDNSRecordTTL},
	}
	if len(c.DNS.Record) != len(want) {
		t.Fatalf("records = %+v", c.DNS.Record)
	}
	for i := range want {
		if c.DNS.Record[i] != want[i] {
			t.Errorf("record %d = %+v, want %+v", i, c.DNS.Record[i], want[i])
		}
	}
}

func TestWebSignup(t *testing.T) {
	for doc, want := range map[string]string{
		"control_domain = \"mail.example.test\"\n":                             "closed",
		"control_domain = \"mail.example.test\"\n[web]\nsignup = \"invite\"\n": "invite",
		"control_domain = \"mail.example.test\"\n[web]\nsignup = \"open\"\n":   "open",
	} {
		c, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if c.Web.Signup != want {
			t.Errorf("%q: web.signup = %q, want %q", doc, c.Web.Signup, want)
		}
	}
}

func TestOutboundSchedule(t *testing.T) {
	c, err := Parse([]byte("control_domain = \"mail.example.test\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Outbound
	if o.RetryFirst != Duration(5*time.Minute) || o.RetryMax != Duration(4*time.Hour) || o.DelayNotice != Duration(4*time.Hour) ||
		o.GiveUp != Duration(96*time.Hour) || o.Concurrency != 50 || o.PerDomain != 10 {
		t.Errorf("outbound defaults = %+v", o)
	}
	c, err = Parse([]byte("control_domain = \"mail.example.test\"\n[outbound]\nretry_first = \"90s\"\nretry_max = \"1h30m\"\n" +
		"delay_notice = \"2h\"\ngive_up = \"48h\"\nconcurrency = 8\nper_domain = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	o = c.Outbound
	if time.Duration(o.RetryFirst) != 90*time.Second || time.Duration(o.RetryMax) != 90*time.Minute ||
		time.Duration(o.DelayNotice) != 2*time.Hour || time.Duration(o.GiveUp) != 48*time.Hour || o.Concurrency != 8 || o.PerDomain != 2 {
		t.Errorf("outbound values = %+v", o)
	}
}

func TestMonitor(t *testing.T) {
	c, err := Parse([]byte("control_domain = \"mail.example.test\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := c.Monitor
	if m.ProbeInterval != Duration(30*time.Second) || m.RepeatCritical != Duration(24*time.Hour) || m.RepeatWarning != Duration(6*time.Hour) ||
		m.NtfyURL != DefaultNtfyURL || m.PushoverURL != DefaultPushoverURL || m.WebhookListen != "" || m.QueueRunnerPeriod != Duration(time.Minute) || m.DNSSerialPeriod != Duration(time.Hour) {
		t.Errorf("monitor defaults = %+v", m)
	}
	c, err = Parse([]byte(`control_domain = "mail.example.test"
[monitor]
probe_interval = "10s"
http_probes = ["https://status.example.test/health"]
ntfy_url = "http://127.0.0.1:8090"
ntfy_topic = "cabal-alerts"
ntfy_token = "tk_abc"
pushover_token = "apptoken"
pushover_user = "userkey"
repeat_critical = "12h"
repeat_warning = "3h"
webhook_listen = "127.0.0.1:9326"
webhook_secret = "0123456789abcdef"
`))
	if err != nil {
		t.Fatal(err)
	}
	m = c.Monitor
	if time.Duration(m.ProbeInterval) != 10*time.Second || len(m.HTTPProbes) != 1 || m.NtfyTopic != "cabal-alerts" || m.PushoverUser != "userkey" ||
		time.Duration(m.RepeatCritical) != 12*time.Hour || m.WebhookSecret != "0123456789abcdef" {
		t.Errorf("monitor values = %+v", m)
	}

	const head = "control_domain = \"mail.example.test\"\n[monitor]\n"
	for _, tt := range []struct{ name, doc, want string }{
		{"unknown key", head + "ntfy_server = \"x\"\n", "line 3: unknown key monitor.ntfy_server"},
		{"bad interval", head + "probe_interval = \"often\"\n", "line 3: key monitor.probe_interval: want a duration"},
		{"zero interval", head + "probe_interval = \"0s\"\n", "line 3: key monitor.probe_interval: must be positive"},
		{"tiny interval", head + "probe_interval = \"10ms\"\n", "line 3: key monitor.probe_interval: must be at least 1s"},
		{"negative repeat", head + "\nrepeat_warning = \"-1h\"\n", "line 4: key monitor.repeat_warning: must be positive"},
		{"probe not a URL", head + "http_probes = [\"status.example.test\"]\n", "line 3: key monitor.http_probes: \"status.example.test\" must start with http://"},
		{"probe with credentials", head + "http_probes = [\"https://u:p@status.example.test/\"]\n", "key monitor.http_probes"},
		{"bad pushover url", head + "pushover_url = \"api.pushover.net\"\n", "line 3: key monitor.pushover_url"},
		{"bad ntfy url", head + "ntfy_url = \"ftp://ntfy.example.test\"\n", "line 3: key monitor.ntfy_url"},
		{"bad topic", head + "ntfy_topic = \"a/b\"\n", "line 3: key monitor.ntfy_topic"},
		{"token without topic", head + "ntfy_token = \"tk_x\"\n", "line 3: key monitor.ntfy_token: is set but monitor.ntfy_topic is not"},
		{"pushover token alone", head + "pushover_token = \"apptoken\"\n", "line 3: key monitor.pushover_token: pushover_token and pushover_user must be given together"},
		{"pushover user alone", head + "pushover_user = \"userkey\"\n", "line 3: key monitor.pushover_user"},
		{"webhook without secret", head + "webhook_listen = \"127.0.0.1:9326\"\n", "line 3: key monitor.webhook_listen: requires monitor.webhook_secret"},
		{"webhook bad listen", head + "webhook_listen = \"9326\"\nwebhook_secret = \"0123456789abcdef\"\n", "line 3: key monitor.webhook_listen: want host:port"},
		{"short secret", head + "webhook_secret = \"hunter2\"\n", "line 3: key monitor.webhook_secret: must be at least 16 characters, not 7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}
