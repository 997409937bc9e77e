package main

import (
	"context"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/dnsd"
	"github.com/cabalmail/cabalmail/internal/domains"
)

func dnsRole() role {
	return role{
		name: "dns",
		describe: func(cfg *config.Config) string {
			return listenSummary(cfg.DNS.Listen, "UDP+TCP", nil, "")
		},
		run: func(ctx context.Context, n *node) error {
			srv, err := dnsd.New(dnsd.Options{
				Zones:    domains.New(n.app.st, domainOptions(n.cfg)),
				Settings: n.app.st,
				Listen:   n.cfg.DNS.Listen,
				Logger:   n.logger.With("tier", "dns"),
			})
			if err != nil {
				return err
			}
			return srv.Serve(ctx)
		},
	}
}

// domainOptions are the record-derivation options of the configuration,
// operator-defined records included, shared by the DNS role and
// `cabalmail domain records`.
func domainOptions(cfg *config.Config) domains.Options {
	opts := domains.Options{
		ControlDomain: cfg.ControlDomain,
		PublicIPs:     cfg.PublicIPs,
		Selector:      cfg.DKIM.Selector,
	}
	for _, r := range cfg.DNS.Record {
		opts.Static = append(opts.Static, domains.Record{Name: r.Name, Type: r.Type, Value: r.Value, TTL: r.TTL})
	}
	return opts
}
