package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cabalmail/cabalmail/internal/authres"
	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/smtpin"
)

func smtpInRole() role {
	return role{
		name: "smtp-in",
		describe: func(cfg *config.Config) string {
			if len(cfg.SMTPIn.Listen) == 0 {
				return "no listeners configured"
			}
			return strings.Join(cfg.SMTPIn.Listen, ", ") + " (SMTP, STARTTLS)"
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
			srv, err := smtpin.New(smtpin.Options{
				Store:     n.app.st,
				Addresses: n.app.addresses,
				Mailboxes: mb,
				Auth: authres.New(authres.Options{
					AuthServID: n.cfg.ControlDomain,
					Resolver:   n.cfg.Outbound.Resolver,
				}),
				Hostname:       n.cfg.Hostname,
				TLS:            tlsConf,
				Listen:         n.cfg.SMTPIn.Listen,
				MaxMessageSize: n.cfg.SMTPIn.MaxMessageSize,
				MaxRecipients:  n.cfg.SMTPIn.MaxRecipients,
				MailLog:        n.mailLog,
				Logger:         n.logger,
			})
			if err != nil {
				return err
			}
			return srv.Serve(ctx)
		},
	}
}
