package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/imapd"
)

func imapRole() role {
	return role{
		name: "imap",
		describe: func(cfg *config.Config) string {
			return listenSummary(cfg.IMAP.ListenSTARTTLS, "STARTTLS", cfg.IMAP.ListenTLS, "TLS")
		},
		run: func(ctx context.Context, n *node) error {
			tlsConf, err := n.TLS()
			if err != nil {
				return fmt.Errorf("tls: %w", err)
			}
			mb, err := n.Mailboxes(ctx)
			if err != nil {
				return err
			}
			srv, err := imapd.New(imapd.Options{
				Mailboxes:              mb,
				Accounts:               n.app.accounts,
				TLS:                    tlsConf,
				ListenTLS:              n.cfg.IMAP.ListenTLS,
				ListenSTARTTLS:         n.cfg.IMAP.ListenSTARTTLS,
				InsecureAuthOnLoopback: n.cfg.Dev,
				Logger:                 n.logger,
			})
			if err != nil {
				return err
			}
			return srv.Serve(ctx)
		},
	}
}

// listenSummary renders two listener lists for the start-up summary.
func listenSummary(a []string, aKind string, b []string, bKind string) string {
	var parts []string
	for _, l := range a {
		parts = append(parts, l+" ("+aKind+")")
	}
	for _, l := range b {
		parts = append(parts, l+" ("+bKind+")")
	}
	if len(parts) == 0 {
		return "no listeners configured"
	}
	return strings.Join(parts, ", ")
}
