package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/cabalmail/cabalmail/internal/monitor"
)

// certRenewalInterval is how often the node asks for its certificates. With
// ACME, asking is what renews a certificate near its end; with files, it
// re-reads them. Either way a success is the cert-renewal heartbeat the
// monitor watches (period 24 h).
const certRenewalInterval = 12 * time.Hour

// tlsRoles are the roles that serve TLS.
var tlsRoles = map[string]bool{"smtp-in": true, "smtp-out": true, "imap": true, "web": true}

// renewCertificates asks for the certificate of every service host name now
// and then every certRenewalInterval until ctx ends.
func renewCertificates(ctx context.Context, n *node) error {
	for {
		if err := renewCertificatesOnce(ctx, n, time.Now()); err != nil {
			n.logger.Error("certificate renewal", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(certRenewalInterval):
		}
	}
}

// renewCertificatesOnce gets each host's certificate and, when every one is
// valid for at least another day, records the heartbeat.
func renewCertificatesOnce(ctx context.Context, n *node, now time.Time) error {
	conf, err := n.TLS()
	if err != nil {
		return err
	}
	for _, host := range serviceHosts(n.cfg.ControlDomain) {
		cert, err := conf.GetCertificate(&tls.ClientHelloInfo{ServerName: host})
		if err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
		if cert == nil || cert.Leaf == nil {
			return fmt.Errorf("%s: no certificate", host)
		}
		if left := cert.Leaf.NotAfter.Sub(now); left < 24*time.Hour {
			return fmt.Errorf("%s: certificate ends %s", host, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return monitor.RecordHeartbeat(ctx, n.app.st, "cert-renewal", now)
}
