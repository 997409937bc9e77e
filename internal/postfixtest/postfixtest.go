// Package postfixtest sets up private instances of Debian's Postfix for
// the tests and benchmarks that use it as a real peer: a sending MTA, a
// remote MX, a submission server to compare with. Each instance has its
// own configuration, queue and data directories under one directory and
// leaves the system's Postfix alone. Nothing outside tests imports it.
package postfixtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// StockMasterCF is Debian's master.cf, the base of every instance's.
const StockMasterCF = "/etc/postfix/master.cf"

// ErrNoPostfix is returned (wrapped) by Setup when Postfix is not
// installed: tests skip on it.
var ErrNoPostfix = errors.New("postfix is not installed (Debian package postfix)")

// Instance is a private Postfix set up under Dir, configured from Conf.
type Instance struct {
	Dir  string
	Conf string
}

// Setup writes a private instance's configuration under dir, which must
// be reachable by the postfix user: the conf, queue and data directories,
// conf/master.cf (Debian's without its port-25 smtpd service, followed by
// services) and conf/main.cf (the settings every instance needs: queue,
// data and log under dir, loopback IPv4 only, no DNS, no aliases, no local
// domains; then mainCF, whose settings override those). It does not start
// it.
func Setup(dir string, services []string, mainCF string) (*Instance, error) {
	p := &Instance{Dir: dir, Conf: filepath.Join(dir, "conf")}
	for _, d := range []string{p.Conf, filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("postfixtest: %w", err)
		}
	}
	stock, err := os.ReadFile(StockMasterCF)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("postfixtest: %w: no %s", ErrNoPostfix, StockMasterCF)
	}
	if err != nil {
		return nil, fmt.Errorf("postfixtest: %w", err)
	}
	var master []string
	for _, l := range strings.Split(strings.TrimRight(string(stock), "\n"), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "smtp" && f[1] == "inet" {
			continue // the stock port 25 listener
		}
		master = append(master, l)
	}
	master = append(master, services...)
	if err := os.WriteFile(filepath.Join(p.Conf, "master.cf"), []byte(strings.Join(master, "\n")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("postfixtest: %w", err)
	}
	base := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file = %[1]s/maillog
maillog_file_prefixes = %[1]s
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
smtp_dns_support_level = disabled
alias_maps =
alias_database =
`, dir)
	if err := os.WriteFile(filepath.Join(p.Conf, "main.cf"), []byte(base+mainCF), 0o644); err != nil {
		return nil, fmt.Errorf("postfixtest: %w", err)
	}
	return p, nil
}

// Start gives the data directory to the postfix user, turns chroot off
// for every service (the instance's paths are outside any chroot) and
// starts the instance.
func (p *Instance) Start() error {
	for _, args := range [][]string{
		{"chown", "postfix", filepath.Join(p.Dir, "data")},
		{"postconf", "-c", p.Conf, "-F", "*/*/chroot = n"},
		{"postfix", "-c", p.Conf, "start"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("postfixtest: %v: %v\n%s", args, err, out)
		}
	}
	return nil
}

// Stop stops the instance.
func (p *Instance) Stop() error {
	if out, err := exec.Command("postfix", "-c", p.Conf, "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("postfixtest: postfix stop: %v\n%s", err, out)
	}
	return nil
}
