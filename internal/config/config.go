// Package config reads and writes cabalmail.toml, the one configuration file
// of a Cabalmail installation.
//
// Loading is strict: an unknown key, a value of the wrong type or a value
// that fails validation is an error that names the key and its line, and
// nothing starts. Relative paths in the file are resolved against data_dir,
// and a relative data_dir against the directory holding the file, so a data
// directory can be moved as a whole.
//
// The package does not open stores or listeners; it only says where they are.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Config is the whole configuration. Field comments name the TOML keys.
type Config struct {
	// Path is the file the configuration was read from (not a TOML key).
	Path string `toml:"-"`

	DataDir       string `toml:"data_dir"`       // where the store, blobs, keys and certificates live
	ControlDomain string `toml:"control_domain"` // host names of the service: imap.<control>, smtp.<control>, ...
	Hostname      string `toml:"hostname"`       // this node's name in SMTP greetings; default smtp.<control_domain>
	Dev           bool   `toml:"dev"`            // development mode: plain-text logins allowed on loopback
	// PublicIPs are the addresses the internet reaches this installation
	// on; they go into the A/AAAA records of the service host names.
	PublicIPs []string `toml:"public_ips"`

	Store      Store      `toml:"store"`
	TLS        TLS        `toml:"tls"`
	DKIM       DKIM       `toml:"dkim"`
	SMTPIn     SMTPIn     `toml:"smtp_in"`
	Submission Submission `toml:"submission"`
	IMAP       IMAP       `toml:"imap"`
	Web        Web        `toml:"web"`
	DNS        DNS        `toml:"dns"`
	Metrics    Metrics    `toml:"metrics"`
	Mailbox    Mailbox    `toml:"mailbox"`
	Outbound   Outbound   `toml:"outbound"`
	Monitor    Monitor    `toml:"monitor"`
	Log        Log        `toml:"log"`
}

// Store says where the metadata store and the message bodies live.
type Store struct {
	Driver  string `toml:"driver"`   // "sqlite" (default) or "postgres"
	Path    string `toml:"path"`     // sqlite database file; default cabalmail.db
	DSN     string `toml:"dsn"`      // postgres connection string
	BlobDir string `toml:"blob_dir"` // message bodies; default blobs
	// QueueDir holds the bodies of queued outbound messages, apart from
	// mailbox bodies so each owner may sweep its own orphans; default queue.
	QueueDir string `toml:"queue_dir"`
}

// TLS names the certificate, either files or ACME.
type TLS struct {
	Cert      string `toml:"cert"`       // PEM certificate chain
	Key       string `toml:"key"`        // PEM private key
	ACME      bool   `toml:"acme"`       // obtain certificates with ACME (Let's Encrypt) instead
	ACMEEmail string `toml:"acme_email"` // contact address for the ACME account
	ACMECache string `toml:"acme_cache"` // default acme
}

// DKIM holds signing settings; the keys themselves are kept per apex in the
// store.
type DKIM struct {
	Selector string `toml:"selector"` // default "cabal"
}

// SMTPIn configures the MX role.
type SMTPIn struct {
	Listen         []string `toml:"listen"`
	MaxMessageSize int64    `toml:"max_message_size"` // bytes; default 50 MB
	MaxRecipients  int      `toml:"max_recipients"`   // default 100
}

// Submission configures authenticated submission and its per-user limits.
type Submission struct {
	ListenSTARTTLS    []string `toml:"listen_starttls"`
	ListenTLS         []string `toml:"listen_tls"`
	MaxRecipients     int      `toml:"max_recipients"`       // per message; default 100
	MaxMessagesPerDay int      `toml:"max_messages_per_day"` // per user, over the last 24 hours; default 500
	MaxMessageSize    int64    `toml:"max_message_size"`     // bytes; default 50 MB
	// ReceivedRevealsClientIP puts the submitting client's IP address in
	// the Received field we add; by default it is left out (privacy).
	ReceivedRevealsClientIP bool `toml:"received_reveals_client_ip"`
}

// IMAP configures the IMAP role.
type IMAP struct {
	ListenSTARTTLS []string `toml:"listen_starttls"`
	ListenTLS      []string `toml:"listen_tls"`
}

// Web configures the web app and JSON API.
type Web struct {
	Listen []string `toml:"listen"`
	// Signup is who may create an account in the web app: "closed"
	// (default; admins and the operator only), "invite" (with an admin's
	// invite code) or "open". New accounts wait for an admin's approval.
	Signup string `toml:"signup"`
}

// DNS configures the authoritative DNS role (UDP and TCP on each address).
type DNS struct {
	Listen []string `toml:"listen"`
	// Record are operator-defined records served beside the derived ones
	// ([[dns.record]] tables).
	Record []DNSRecord `toml:"record"`
}

// DNSRecord is one operator-defined DNS record. A record replaces the
// derived records of the same name and type (a CNAME: every derived record
// of its name). A name outside every served zone is not served.
type DNSRecord struct {
	Name  string `toml:"name"`  // fully qualified, e.g. "www.example.com" (a trailing dot is allowed)
	Type  string `toml:"type"`  // A, AAAA, CNAME, TXT, MX, SRV or CAA
	Value string `toml:"value"` // presentation form ("10 mx.example.net."); TXT: the text itself, unquoted
	TTL   uint32 `toml:"ttl"`   // seconds; default 3600
}

// Metrics configures the Prometheus endpoint every process serves.
type Metrics struct {
	Listen string `toml:"listen"`
}

// Mailbox configures the mailbox store.
type Mailbox struct {
	QuotaBytes int64 `toml:"quota_bytes"` // default per-user quota; 0 = no quota
}

// Outbound configures how the outbound tier finds remote servers
// (DESIGN.md §5).
type Outbound struct {
	Resolver string  `toml:"resolver"` // host:port of a DNS server; empty = the system resolver
	Route    []Route `toml:"route"`

	// The retry schedule of deferred recipients: the first retry after
	// RetryFirst, each next wait doubled up to RetryMax; one delay notice
	// to the sender once a message is DelayNotice old; deferred
	// recipients fail for good once it is GiveUp old.
	RetryFirst  Duration `toml:"retry_first"`  // default 5m
	RetryMax    Duration `toml:"retry_max"`    // default 4h
	DelayNotice Duration `toml:"delay_notice"` // default 4h
	GiveUp      Duration `toml:"give_up"`      // default 96h
	Concurrency int      `toml:"concurrency"`  // SMTP sessions and local deliveries at once; default 50
	PerDomain   int      `toml:"per_domain"`   // sessions to one destination domain at once; default 10

	Providers Providers `toml:"providers"`
}

// Providers tunes provider outage detection (internal/providers): a
// provider whose "unknown recipient" replies for recipients that accepted
// mail before reach MinReplies and MinShare of its attempts within Window
// becomes suspect for SuspectFor. Zero values take the package defaults
// (3, 0.5, 30m, 24h).
type Providers struct {
	MinReplies int      `toml:"min_replies"`
	MinShare   float64  `toml:"min_share"`
	Window     Duration `toml:"window"`
	SuspectFor Duration `toml:"suspect_for"`
}

// Duration is a time.Duration written in the file as a Go duration string
// ("5m", "4h", "90s").
type Duration time.Duration

// UnmarshalText reads a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("want a duration such as \"5m\" or \"4h\", got %q", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as Go does ("4h0m0s").
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// String is the duration as Go writes it.
func (d Duration) String() string { return time.Duration(d).String() }

// Route sends mail for one domain (or "*") to a smarthost.
type Route struct {
	Domain   string `toml:"domain"`
	Relay    string `toml:"relay"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	TLS      string `toml:"tls"` // "none", "starttls" or "tls"
}

// Log configures program and mail logs.
type Log struct {
	Level   string `toml:"level"`    // debug, info (default), warn, error
	MailLog string `toml:"mail_log"` // file for the mail log; empty = standard error
}

// DefaultPath is where commands look when neither --config nor
// $CABALMAIL_CONFIG names a file.
const DefaultPath = "cabalmail.toml"

// Resolve picks the configuration file: the flag, then $CABALMAIL_CONFIG,
// then ./cabalmail.toml.
func Resolve(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("CABALMAIL_CONFIG"); env != "" {
		return env
	}
	return DefaultPath
}

// Load reads, checks and completes the configuration in path.
func Load(path string) (*Config, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config: %s does not exist (run \"cabalmail init\" or pass --config)", path)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.Path = path
	if err := c.resolvePaths(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes and validates a configuration document. Paths are left as
// written.
func Parse(doc []byte) (*Config, error) {
	var c Config
	dec := toml.NewDecoder(bytes.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, describeDecodeError(err)
	}
	if err := c.validate(doc); err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			if line := lineOfKey(doc, ke.key); line > 0 {
				return nil, fmt.Errorf("line %d: key %s: %s", line, ke.key, ke.msg)
			}
			return nil, fmt.Errorf("key %s: %s", ke.key, ke.msg)
		}
		return nil, err
	}
	c.applyDefaults()
	return &c, nil
}

func describeDecodeError(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		e := strict.Errors[0]
		line, _ := e.Position()
		return fmt.Errorf("line %d: unknown key %s", line, strings.Join(e.Key(), "."))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if k := de.Key(); len(k) > 0 {
			return fmt.Errorf("line %d: key %s: %s", line, strings.Join(k, "."), msg)
		}
		return fmt.Errorf("line %d: %s", line, msg)
	}
	return fmt.Errorf("config: %w", err)
}

// keyError is a validation failure of one key; Parse adds its line.
type keyError struct {
	key string
	msg string
}

func (e *keyError) Error() string { return "key " + e.key + ": " + e.msg }

func keyErr(key, format string, args ...any) error {
	return &keyError{key: key, msg: fmt.Sprintf(format, args...)}
}

func (c *Config) validate(doc []byte) error {
	if c.ControlDomain == "" {
		return keyErr("control_domain", "is required")
	}
	if err := checkHostName(c.ControlDomain); err != nil {
		return keyErr("control_domain", "%v", err)
	}
	if c.Hostname != "" {
		if err := checkHostName(c.Hostname); err != nil {
			return keyErr("hostname", "%v", err)
		}
	}
	for _, ip := range c.PublicIPs {
		if net.ParseIP(ip) == nil {
			return keyErr("public_ips", "%q is not an IP address", ip)
		}
	}
	switch c.Store.Driver {
	case "", "sqlite":
	case "postgres":
		if c.Store.DSN == "" {
			return keyErr("store.dsn", "is required when store.driver is \"postgres\"")
		}
	default:
		return keyErr("store.driver", "must be \"sqlite\" or \"postgres\", not %q", c.Store.Driver)
	}
	if blobs, queued := cleanOr(c.Store.BlobDir, "blobs"), cleanOr(c.Store.QueueDir, "queue"); blobs == queued {
		// Each owner sweeps bodies it does not know; sharing would delete the other's.
		return keyErr("store.queue_dir", "must differ from store.blob_dir (%q)", blobs)
	}
	if c.TLS.ACME && (c.TLS.Cert != "" || c.TLS.Key != "") {
		return keyErr("tls.acme", "cannot be combined with tls.cert and tls.key")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return keyErr("tls.cert", "tls.cert and tls.key must be given together")
	}
	lists := []struct {
		key   string
		addrs []string
	}{
		{"smtp_in.listen", c.SMTPIn.Listen},
		{"submission.listen_starttls", c.Submission.ListenSTARTTLS},
		{"submission.listen_tls", c.Submission.ListenTLS},
		{"imap.listen_starttls", c.IMAP.ListenSTARTTLS},
		{"imap.listen_tls", c.IMAP.ListenTLS},
		{"web.listen", c.Web.Listen},
		{"dns.listen", c.DNS.Listen},
	}
	for _, l := range lists {
		for _, a := range l.addrs {
			if err := checkListen(a); err != nil {
				return keyErr(l.key, "%v", err)
			}
		}
	}
	if c.Metrics.Listen != "" {
		if err := checkListen(c.Metrics.Listen); err != nil {
			return keyErr("metrics.listen", "%v", err)
		}
	}
	if c.SMTPIn.MaxMessageSize < 0 {
		return keyErr("smtp_in.max_message_size", "must not be negative")
	}
	if c.SMTPIn.MaxRecipients < 0 {
		return keyErr("smtp_in.max_recipients", "must not be negative")
	}
	if c.Submission.MaxRecipients < 0 {
		return keyErr("submission.max_recipients", "must not be negative")
	}
	if c.Submission.MaxMessagesPerDay < 0 {
		return keyErr("submission.max_messages_per_day", "must not be negative")
	}
	if c.Submission.MaxMessageSize < 0 {
		return keyErr("submission.max_message_size", "must not be negative")
	}
	if c.Mailbox.QuotaBytes < 0 {
		return keyErr("mailbox.quota_bytes", "must not be negative")
	}
	if c.DKIM.Selector != "" {
		if err := checkLabel(c.DKIM.Selector); err != nil {
			return keyErr("dkim.selector", "%v", err)
		}
	}
	if c.Outbound.Resolver != "" {
		if _, _, err := net.SplitHostPort(c.Outbound.Resolver); err != nil {
			return keyErr("outbound.resolver", "want host:port, got %q", c.Outbound.Resolver)
		}
	}
	for i, r := range c.Outbound.Route {
		key := fmt.Sprintf("outbound.route[%d]", i)
		if r.Domain == "" {
			return keyErr(key+".domain", "is required")
		}
		if r.Domain != "*" {
			if err := checkHostName(r.Domain); err != nil {
				return keyErr(key+".domain", "%v", err)
			}
		}
		if _, _, err := net.SplitHostPort(r.Relay); err != nil {
			return keyErr(key+".relay", "want host:port, got %q", r.Relay)
		}
		switch r.TLS {
		case "", "none", "starttls", "tls":
		default:
			return keyErr(key+".tls", "must be \"none\", \"starttls\" or \"tls\", not %q", r.TLS)
		}
		if (r.Username == "") != (r.Password == "") {
			return keyErr(key+".username", "username and password must be given together")
		}
	}
	if err := c.Outbound.check(func(key string) bool { return lineOfKey(doc, key) > 0 }); err != nil {
		return err
	}
	if err := c.Monitor.check(func(key string) bool { return lineOfKey(doc, key) > 0 }); err != nil {
		return err
	}
	for i, r := range c.DNS.Record {
		if err := checkDNSRecord(fmt.Sprintf("dns.record[%d]", i), r); err != nil {
			return err
		}
	}
	switch c.Web.Signup {
	case "", "closed", "invite", "open":
	default:
		return keyErr("web.signup", "must be \"closed\", \"invite\" or \"open\", not %q", c.Web.Signup)
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		return keyErr("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	return nil
}

// Default values, applied after validation.
const (
	DefaultMaxMessageSize = 50 * 1000 * 1000
	DefaultMaxRecipients  = 100
	// DefaultMaxMessagesPerDay is the submission limit per user and day.
	DefaultMaxMessagesPerDay = 500
	DefaultDKIMSelector      = "cabal"
	DefaultDNSRecordTTL      = 3600
)

func (c *Config) applyDefaults() {
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if c.Store.Path == "" {
		c.Store.Path = "cabalmail.db"
	}
	if c.Store.BlobDir == "" {
		c.Store.BlobDir = "blobs"
	}
	if c.Store.QueueDir == "" {
		c.Store.QueueDir = "queue"
	}
	if c.TLS.ACME && c.TLS.ACMECache == "" {
		c.TLS.ACMECache = "acme"
	}
	if c.DKIM.Selector == "" {
		c.DKIM.Selector = DefaultDKIMSelector
	}
	if c.SMTPIn.MaxMessageSize == 0 {
		c.SMTPIn.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.SMTPIn.MaxRecipients == 0 {
		c.SMTPIn.MaxRecipients = DefaultMaxRecipients
	}
	if c.Submission.MaxRecipients == 0 {
		c.Submission.MaxRecipients = DefaultMaxRecipients
	}
	if c.Submission.MaxMessagesPerDay == 0 {
		c.Submission.MaxMessagesPerDay = DefaultMaxMessagesPerDay
	}
	if c.Submission.MaxMessageSize == 0 {
		c.Submission.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.Hostname == "" {
		c.Hostname = "smtp." + c.ControlDomain
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Web.Signup == "" {
		c.Web.Signup = "closed"
	}
	c.Outbound.applyDefaults()
	c.Monitor.applyDefaults()
	for i := range c.DNS.Record {
		r := &c.DNS.Record[i]
		r.Name = strings.TrimSuffix(strings.ToLower(r.Name), ".") + "."
		r.Type = strings.ToUpper(r.Type)
		if r.TTL == 0 {
			r.TTL = DefaultDNSRecordTTL
		}
	}
}

// Outbound defaults, applied after validation.
const (
	DefaultRetryFirst  = Duration(5 * time.Minute)
	DefaultRetryMax    = Duration(4 * time.Hour)
	DefaultDelayNotice = Duration(4 * time.Hour)
	DefaultGiveUp      = Duration(96 * time.Hour)
	DefaultConcurrency = 50
	DefaultPerDomain   = 10
)

// check validates the retry and concurrency keys as the file gives them;
// a key left out takes its default before the cross-checks. present
// reports whether the file sets a key, so a written zero is refused
// rather than mistaken for a default.
func (o *Outbound) check(present func(key string) bool) error {
	durations := []struct {
		key string
		v   Duration
	}{
		{"outbound.retry_first", o.RetryFirst},
		{"outbound.retry_max", o.RetryMax},
		{"outbound.delay_notice", o.DelayNotice},
		{"outbound.give_up", o.GiveUp},
	}
	for _, d := range durations {
		if d.v < 0 || d.v == 0 && present(d.key) {
			return keyErr(d.key, "must be positive, not %s", d.v)
		}
	}
	if o.Concurrency < 0 || o.Concurrency == 0 && present("outbound.concurrency") {
		return keyErr("outbound.concurrency", "must be positive, not %d", o.Concurrency)
	}
	if o.PerDomain < 0 || o.PerDomain == 0 && present("outbound.per_domain") {
		return keyErr("outbound.per_domain", "must be positive, not %d", o.PerDomain)
	}
	p := o.Providers
	if p.MinReplies < 0 || p.MinReplies == 0 && present("outbound.providers.min_replies") {
		return keyErr("outbound.providers.min_replies", "must be positive, not %d", p.MinReplies)
	}
	if p.MinShare < 0 || p.MinShare > 1 || p.MinShare == 0 && present("outbound.providers.min_share") {
		return keyErr("outbound.providers.min_share", "must be above 0 and at most 1, not %g", p.MinShare)
	}
	for key, d := range map[string]Duration{"outbound.providers.window": p.Window, "outbound.providers.suspect_for": p.SuspectFor} {
		if d < 0 || d == 0 && present(key) {
			return keyErr(key, "must be positive, not %s", d)
		}
	}
	first, maxWait := orDuration(o.RetryFirst, DefaultRetryFirst), orDuration(o.RetryMax, DefaultRetryMax)
	if first > maxWait {
		key := "outbound.retry_first"
		if o.RetryMax != 0 {
			key = "outbound.retry_max"
		}
		return keyErr(key, "retry_first (%s) must not exceed retry_max (%s)", first, maxWait)
	}
	notice, giveUp := orDuration(o.DelayNotice, DefaultDelayNotice), orDuration(o.GiveUp, DefaultGiveUp)
	if notice >= giveUp {
		key := "outbound.delay_notice"
		if o.GiveUp != 0 {
			key = "outbound.give_up"
		}
		return keyErr(key, "delay_notice (%s) must be shorter than give_up (%s)", notice, giveUp)
	}
	return nil
}

func orDuration(d, def Duration) Duration {
	if d == 0 {
		return def
	}
	return d
}

func (o *Outbound) applyDefaults() {
	o.RetryFirst = orDuration(o.RetryFirst, DefaultRetryFirst)
	o.RetryMax = orDuration(o.RetryMax, DefaultRetryMax)
	o.DelayNotice = orDuration(o.DelayNotice, DefaultDelayNotice)
	o.GiveUp = orDuration(o.GiveUp, DefaultGiveUp)
	if o.Concurrency == 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.PerDomain == 0 {
		o.PerDomain = DefaultPerDomain
	}
}

// resolvePaths makes every path absolute: data_dir against base, the others
// against data_dir.
func (c *Config) resolvePaths(base string) error {
	if c.DataDir == "" {
		c.DataDir = base
	}
	if !filepath.IsAbs(c.DataDir) {
		c.DataDir = filepath.Join(base, c.DataDir)
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return fmt.Errorf("config: data_dir: %w", err)
	}
	c.DataDir = abs
	for _, p := range []*string{&c.Store.Path, &c.Store.BlobDir, &c.Store.QueueDir, &c.TLS.Cert, &c.TLS.Key, &c.TLS.ACMECache, &c.Log.MailLog} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(c.DataDir, *p)
		}
	}
	return nil
}

// cleanOr is the cleaned path p, or def when p is empty.
func cleanOr(p, def string) string {
	if p == "" {
		p = def
	}
	return filepath.Clean(p)
}

func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	if host != "" && net.ParseIP(host) == nil && checkHostName(host) != nil && host != "localhost" {
		return fmt.Errorf("bad host in %q", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("bad port in %q", addr)
	}
	return nil
}

func checkHostName(name string) error {
	if len(name) > 253 {
		return fmt.Errorf("host name %q is longer than 253 octets", name)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return fmt.Errorf("%q is not a fully qualified host name", name)
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("host name %q: %v", name, err)
		}
	}
	return nil
}

// checkLabel applies the LDH rule (RFC 1123 2.1).
func checkLabel(l string) error {
	if l == "" || len(l) > 63 {
		return fmt.Errorf("label %q must be 1 to 63 octets", l)
	}
	for i := 0; i < len(l); i++ {
		ch := l[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
		case ch == '-' && i > 0 && i < len(l)-1:
		default:
			return fmt.Errorf("label %q may hold only lower-case letters, digits and inner hyphens", l)
		}
	}
	return nil
}

// lineOfKey finds the line where a dotted key (as validate names it) is set.
// It understands tables, arrays of tables ("outbound.route[1].relay") and
// dotted keys; it returns 0 if the key is not in the document (a default).
func lineOfKey(doc []byte, key string) int {
	want := strings.Split(key, ".")
	var table []string
	arrayCount := map[string]int{}
	p := unstable.Parser{}
	p.Reset(doc)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = table[:0]
			it := e.Key()
			for it.Next() {
				table = append(table, string(it.Node().Data))
			}
			if e.Kind == unstable.ArrayTable {
				name := strings.Join(table, ".")
				idx := arrayCount[name]
				arrayCount[name] = idx + 1
				table[len(table)-1] = fmt.Sprintf("%s[%d]", table[len(table)-1], idx)
			}
		case unstable.KeyValue:
			full := append([]string{}, table...)
			it := e.Key()
			var first *unstable.Node
			for it.Next() {
				if first == nil {
					first = it.Node()
				}
				full = append(full, string(it.Node().Data))
			}
			if first != nil && strings.Join(full, ".") == strings.Join(want, ".") {
				return p.Shape(first.Raw).Start.Line
			}
		}
	}
	return 0
}
