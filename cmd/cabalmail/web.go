package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/cabalmail/cabalmail/internal/config"
	"github.com/cabalmail/cabalmail/internal/web"
)

func webRole() role {
	return role{
		name: "web",
		describe: func(cfg *config.Config) string {
			if len(cfg.Web.Listen) == 0 {
				return "no listeners configured"
			}
			scheme := "https"
			if cfg.Dev {
				scheme = "http"
			}
			var urls []string
			for _, l := range cfg.Web.Listen {
				urls = append(urls, scheme+"://"+l+"/")
			}
			return strings.Join(urls, ", ") + " (web app and /api/v1; sign-up " + cfg.Web.Signup + ")"
		},
		run: func(ctx context.Context, n *node) error {
			opts := web.Options{
				Store:     n.app.st,
				Accounts:  n.app.accounts,
				Addresses: n.app.addresses,
				Domains:   n.app.domains,
				DNSServer: dnsCheckTarget(n.cfg.DNS.Listen),
				Listen:    n.cfg.Web.Listen,
				Dev:       n.cfg.Dev,
				Signup:    n.cfg.Web.Signup,
				Logger:    n.logger.With("tier", "web"),
			}
			// Development mode speaks plain HTTP on loopback, so a browser
			// needs no certificate exception; production always uses TLS.
			if !n.cfg.Dev {
				tlsConf, err := n.TLS()
				if err != nil {
					return fmt.Errorf("tls: %w", err)
				}
				opts.TLS = tlsConf
			}
			srv, err := web.New(opts)
			if err != nil {
				return err
			}
			return srv.Serve(ctx)
		},
	}
}

// dnsCheckTarget is where the admin DNS check asks: the first DNS listener,
// with a wildcard host replaced by loopback.
func dnsCheckTarget(listen []string) string {
	if len(listen) == 0 {
		return ""
	}
	host, port, err := net.SplitHostPort(listen[0])
	if err != nil {
		return ""
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
