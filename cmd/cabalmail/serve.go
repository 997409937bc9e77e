package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/cabalmail/cabalmail/internal/blob"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/mailbox"
	"github.com/cabalmail/cabalmail/internal/maillog"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/tlsutil"
)

// allRoles are the roles of DESIGN.md §2, in start order.
var allRoles = []string{"smtp-in", "smtp-out", "imap", "web", "dns", "monitor"}

// role is a network role this binary can run. run blocks until ctx is
// cancelled and the role has stopped.
type role struct {
	name     string
	describe func(cfg *config.Config) string // where it listens, for the start-up summary
	run      func(ctx context.Context, n *node) error
}

// availableRoles are the roles this binary runs; any role of allRoles
// missing here is reported as not available.
func availableRoles() map[string]role {
	return map[string]role{
		"smtp-in":  smtpInRole(),
		"smtp-out": smtpOutRole(),
		"imap":     imapRole(),
		"web":      webRole(),
		"dns":      dnsRole(),
		"monitor":  monitorRole(),
	}
}

// node is one running process: its configuration, store and shared
// services, handed to every role it runs.
type node struct {
	cfg    *config.Config
	app    *app
	logger *slog.Logger
	// mailLog receives one line per delivery event (DESIGN.md §6).
	mailLog *maillog.Writer

	tlsOnce sync.Once
	tlsConf *tls.Config
	tlsErr  error

	mbOnce sync.Once
	mb     *mailbox.Store
	mbErr  error
}

// Mailboxes opens the mailbox store once for all roles of the process.
func (n *node) Mailboxes(ctx context.Context) (*mailbox.Store, error) {
	n.mbOnce.Do(func() {
		blobs, err := blob.OpenDir(n.cfg.Store.BlobDir)
		if err != nil {
			n.mbErr = fmt.Errorf("open blob store: %w", err)
			return
		}
		n.mb, n.mbErr = mailbox.Open(context.WithoutCancel(ctx), mailbox.Options{
			Store:          n.app.st,
			Blobs:          mailbox.BlobsOf(blobs),
			OwnsBlobs:      true, // queued bodies live in store.queue_dir
			Logger:         n.logger,
			DefaultQuota:   n.cfg.Mailbox.QuotaBytes,
			MaxMessageSize: n.cfg.SMTPIn.MaxMessageSize,
		})
		if n.mbErr != nil {
			n.mbErr = fmt.Errorf("open mailbox store: %w", n.mbErr)
		}
	})
	return n.mb, n.mbErr
}

// TLS loads the certificate once for all roles.
func (n *node) TLS() (*tls.Config, error) {
	n.tlsOnce.Do(func() {
		if n.cfg.TLS.ACME {
			c, _, err := tlsutil.ACME(tlsutil.ACMEOptions{
				CacheDir: n.cfg.TLS.ACMECache,
				Email:    n.cfg.TLS.ACMEEmail,
				Hosts:    serviceHosts(n.cfg.ControlDomain),
			})
			n.tlsConf, n.tlsErr = c, err
			return
		}
		n.tlsConf, n.tlsErr = tlsutil.Load(n.cfg.TLS.Cert, n.cfg.TLS.Key)
	})
	return n.tlsConf, n.tlsErr
}

// serviceHosts are the host names the certificate must cover.
func serviceHosts(control string) []string {
	return []string{control, "imap." + control, "smtp." + control, "smtp-in." + control}
}

func runServe(ctx context.Context, e *env, args []string) error {
	fs, cfgFlag := newFlags(e, "serve")
	rolesFlag := fs.String("roles", "", "comma-separated roles to run (default: all): "+strings.Join(allRoles, ","))
	pos, err := parseFlags(e, fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs("serve", pos, 0, ""); err != nil {
		return err
	}
	roles, err := selectRoles(*rolesFlag)
	if err != nil {
		return err
	}
	cfg, err := config.Load(configPath(e, *cfgFlag))
	if err != nil {
		return err
	}
	a, err := openAppConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	n, closeLogs, err := newNode(e, cfg, a)
	if err != nil {
		return err
	}
	defer closeLogs()
	return runNode(ctx, e, n, roles, *rolesFlag != "")
}

// selectRoles parses --roles. Explicitly naming a role this version does not
// have is an error; the default "all" runs whatever is available.
func selectRoles(flagValue string) ([]string, error) {
	avail := availableRoles()
	if flagValue == "" {
		var out []string
		for _, r := range allRoles {
			if _, ok := avail[r]; ok {
				out = append(out, r)
			}
		}
		return out, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, r := range strings.Split(flagValue, ",") {
		r = strings.TrimSpace(r)
		known := false
		for _, k := range allRoles {
			known = known || k == r
		}
		if !known {
			return nil, usagef("--roles: unknown role %q (roles: %s)", r, strings.Join(allRoles, ", "))
		}
		if _, ok := avail[r]; !ok {
			return nil, fmt.Errorf("--roles: role %s is not available in this version", r)
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}

func newNode(e *env, cfg *config.Config, a *app) (*node, func(), error) {
	level := slog.LevelInfo
	if err := level.UnmarshalText([]byte(cfg.Log.Level)); err != nil {
		return nil, nil, fmt.Errorf("log.level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	w, closeLog, err := openMailLog(cfg, e.stderr)
	if err != nil {
		return nil, nil, err
	}
	n := &node{cfg: cfg, app: a, logger: logger, mailLog: maillog.New(w)}
	wireOps(n)
	return n, func() {
		if n.mb != nil {
			if err := n.mb.Close(); err != nil {
				logger.Error("close mailbox store", "err", err)
			}
		}
		if err := closeLog(); err != nil {
			logger.Error("close mail log", "err", err)
		}
	}, nil
}

// runNode starts the metrics endpoint and the roles, and waits until ctx is
// cancelled (Ctrl-C, SIGTERM) or a role fails; then stops everything.
func runNode(ctx context.Context, e *env, n *node, roles []string, explicit bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	avail := availableRoles()

	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(roles)+2)
	running := 0
	for _, name := range roles {
		if tlsRoles[name] {
			running++
			go func() { results <- result{"cert-renewal", renewCertificates(ctx, n)} }()
			break
		}
	}
	if n.cfg.Metrics.Listen != "" {
		running++
		go func() {
			results <- result{"metrics", metrics.Serve(ctx, n.cfg.Metrics.Listen, n.logger)}
		}()
	}
	for _, name := range roles {
		r := avail[name]
		running++
		go func() {
			results <- result{name, r.run(ctx, n)}
		}()
	}
	n.logger.Info("started", "roles", strings.Join(roles, ","), "metrics", n.cfg.Metrics.Listen, "config", n.cfg.Path)
	if !explicit {
		var missing []string
		for _, r := range allRoles {
			if _, ok := avail[r]; !ok {
				missing = append(missing, r)
			}
		}
		if len(missing) > 0 {
			n.logger.Info("roles not yet available in this version", "roles", strings.Join(missing, ","))
		}
	}

	var firstErr error
	for running > 0 {
		res := <-results
		running--
		if res.err != nil && !errors.Is(res.err, context.Canceled) {
			n.logger.Error("role stopped", "role", res.name, "err", res.err)
			if firstErr == nil {
				firstErr = fmt.Errorf("%s: %w", res.name, res.err)
			}
		}
		cancel() // one role ending stops the process: a supervisor restarts it whole
	}
	if firstErr != nil {
		return firstErr
	}
	n.logger.Info("stopped cleanly")
	return nil
}

// openMailLog opens the mail log of DESIGN.md §6: a file when configured,
// else standard error.
func openMailLog(cfg *config.Config, stderr io.Writer) (io.Writer, func() error, error) {
	if cfg.Log.MailLog == "" {
		return stderr, func() error { return nil }, nil
	}
	f, err := os.OpenFile(cfg.Log.MailLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("open mail log: %w", err)
	}
	return f, f.Close, nil
}
