package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/metrics"
	"github.com/cabalmail/cabalmail/internal/monitor"
	"github.com/cabalmail/cabalmail/internal/store"
)

// monitorRole probes every listener the configuration declares, watches
// the periodic jobs' heartbeats and routes alerts (DESIGN.md §2); with
// monitor.webhook_listen set it also serves the Alertmanager webhook.
func monitorRole() role {
	return role{
		name: "monitor",
		describe: func(cfg *config.Config) string {
			return fmt.Sprintf("%d probes every %s", len(monitorProbes(cfg)), time.Duration(cfg.Monitor.ProbeInterval))
		},
		run: func(ctx context.Context, n *node) error {
			logger := n.logger.With("tier", "monitor")
			mc := n.cfg.Monitor
			notifier := monitor.NewNotifier(monitor.NotifierOptions{
				NtfyURL:        mc.NtfyURL,
				NtfyTopic:      mc.NtfyTopic,
				NtfyToken:      mc.NtfyToken,
				PushoverURL:    mc.PushoverURL,
				PushoverToken:  mc.PushoverToken,
				PushoverUser:   mc.PushoverUser,
				RepeatCritical: time.Duration(mc.RepeatCritical),
				RepeatWarning:  time.Duration(mc.RepeatWarning),
				Logger:         logger,
			})
			probes := monitorProbes(n.cfg)
			// Which sinks are on, never their secrets.
			logger.Info("monitor: starting", "probes", len(probes), "interval", time.Duration(mc.ProbeInterval).String(),
				"ntfy", mc.NtfyTopic != "", "pushover", mc.PushoverToken != "", "webhook", mc.WebhookListen)
			m := monitor.New(monitor.Options{
				Store:      n.app.st,
				Probes:     probes,
				Heartbeats: monitorHeartbeats(n.cfg),
				Interval:   time.Duration(mc.ProbeInterval),
				Notifier:   notifier,
				Logger:     logger,
			})
			if mc.WebhookListen == "" {
				return m.Run(ctx)
			}
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			hookErr := make(chan error, 1)
			go func() {
				hookErr <- monitor.ServeWebhook(ctx, mc.WebhookListen, &monitor.Webhook{Notifier: notifier, Secret: mc.WebhookSecret, Logger: logger}, logger)
				cancel() // the webhook failing stops the role, and so the process
			}()
			runErr := m.Run(ctx)
			cancel()
			if err := <-hookErr; err != nil {
				return err
			}
			return runErr
		},
	}
}

// monitorHeartbeats are the product's periodic jobs with the configured
// periods.
func monitorHeartbeats(cfg *config.Config) []monitor.Heartbeat {
	hbs := slices.Clone(monitor.DefaultHeartbeats)
	for i := range hbs {
		switch hbs[i].Job {
		case "queue-runner":
			hbs[i].Period = time.Duration(cfg.Monitor.QueueRunnerPeriod)
		case "dns-serial":
			hbs[i].Period = time.Duration(cfg.Monitor.DNSSerialPeriod)
		}
	}
	return hbs
}

// wireOps connects the node to the operations plumbing every process
// needs whatever its roles: each mail-log line counted once in
// cabalmail_mail_events_total, and /readyz depending on the store.
func wireOps(n *node) {
	n.mailLog.Observe(metrics.CountMailEvent)
	metrics.AddReadyCheck("store", func(ctx context.Context) error {
		_, err := n.app.st.Setting(ctx, "monitor.readyz")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
}

// monitorProbes derives the probes from the listeners the configuration
// declares: a wildcard host is probed on loopback.
func monitorProbes(cfg *config.Config) []monitor.Probe {
	var probes []monitor.Probe
	add := func(tier, kind string, addrs []string) {
		for _, a := range addrs {
			probes = append(probes, monitor.Probe{Tier: tier, Kind: kind, Target: probeAddr(a), ServerName: cfg.ControlDomain})
		}
	}
	add("smtp-in", monitor.KindSMTP, cfg.SMTPIn.Listen)
	add("smtp-out", monitor.KindSMTPStartTLS, cfg.Submission.ListenSTARTTLS)
	add("smtp-out", monitor.KindTLS, cfg.Submission.ListenTLS)
	add("imap", monitor.KindIMAPStartTLS, cfg.IMAP.ListenSTARTTLS)
	add("imap", monitor.KindTLS, cfg.IMAP.ListenTLS)
	for _, u := range cfg.Monitor.HTTPProbes {
		probes = append(probes, monitor.Probe{Tier: "web", Kind: monitor.KindHTTP, Target: u, WantStatus: 200})
	}
	for _, a := range cfg.Web.Listen {
		base := "http://" + probeAddr(a)
		probes = append(probes,
			monitor.Probe{Tier: "web", Kind: monitor.KindHTTP, Target: base + "/", WantStatus: 200},
			monitor.Probe{Tier: "web", Kind: monitor.KindHTTP, Target: base + "/api/v1/addresses", WantStatus: 401})
	}
	return probes
}

// probeAddr turns a listen address into one to connect to: ":25" and
// "0.0.0.0:25" become loopback.
func probeAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch strings.Trim(host, "[]") {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
