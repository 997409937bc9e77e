//go:build linux

package submission

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cabalmail/cabalmail/internal/addresses"
	"github.com/cabalmail/cabalmail/internal/dnsd"
)

// dkimProofEnv tells a re-executed test binary that it runs inside the
// private namespaces made for TestOpenDKIMVerifiesSubmittedMail. Its value
// is the network and mount namespaces of the parent, so the child can make
// sure it is not in them before it touches /etc/resolv.conf or port 53.
const dkimProofEnv = "CABALMAIL_DKIM_PROOF_PARENT_NS"

// TestOpenDKIMVerifiesSubmittedMail has an independent verifier, OpenDKIM's
// opendkim-testmsg, check a message submitted over SMTP and signed by the delivery runner
// on its way out,
// with the key fetched over DNS from our own dns role. opendkim-testmsg
// always asks the system resolver, so the test re-runs itself under
// unshare(1) in a private network and mount namespace, where
// /etc/resolv.conf names 127.0.0.1 and the dns role listens on
// 127.0.0.1:53. Nothing outside that namespace is touched.
func TestOpenDKIMVerifiesSubmittedMail(t *testing.T) {
	if parent := os.Getenv(dkimProofEnv); parent != "" {
		proveDKIMInNamespace(t, parent)
		return
	}
	needBinary(t, "opendkim-testmsg")
	unshare := needBinary(t, "unshare")
	if os.Geteuid() != 0 {
		t.Skip("the opendkim-testmsg proof makes a network and mount namespace: it needs root")
	}
	if out, err := exec.Command(unshare, "--net", "--mount", "--fork", "true").CombinedOutput(); err != nil {
		t.Skipf("unshare --net --mount cannot make namespaces here: %v %s", err, out)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, "--net", "--mount", "--fork", "--",
		exe, "-test.run=^TestOpenDKIMVerifiesSubmittedMail$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), dkimProofEnv+"="+namespaces(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in the namespace: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestOpenDKIMVerifiesSubmittedMail")) || bytes.Contains(out, []byte("--- SKIP")) {
		t.Fatalf("the proof did not run to the end in the namespace:\n%s", out)
	}
	t.Logf("in the namespace:\n%s", out)
}

// proveDKIMInNamespace is the in-namespace half.
func proveDKIMInNamespace(t *testing.T, parentNS string) {
	got, was := strings.Fields(namespaces(t)), strings.Fields(parentNS)
	if len(was) != 2 || got[0] == was[0] || got[1] == was[1] {
		t.Fatalf("%s=%q but this process is in %q: refusing to touch /etc/resolv.conf and port 53 outside a private namespace", dkimProofEnv, parentNS, got)
	}
	ctx := context.Background()
	if err := loopbackUp(); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, nil)

	// The message goes through the real server over a socket.
	c := e.login("alice")
	c.must("MAIL FROM:<shop@x1.example.test>", "250")
	c.must("RCPT TO:<friend@remote.test>", "250")
	if r := c.data(simpleMessage("shop@x1.example.test", "friend@remote.test", "")); !strings.HasPrefix(r, "250 2.0.0 queued as ") {
		t.Fatalf("end of data = %q", r)
	}
	c.must("QUIT", "221")
	// The delivery runner signs it on its way to the remote host.
	signed := string(e.sendOut(nil, 1)[0].Data)

	// The dns role over the same store, where a resolver looks.
	dns, err := dnsd.New(dnsd.Options{Zones: e.domains, Settings: e.store, Listen: []string{"127.0.0.1:53"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := dns.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dns.Close(); err != nil {
			t.Error(err)
		}
	})
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 127.0.0.1\noptions timeout:2 attempts:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(resolv, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount resolv.conf: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount("/etc/resolv.conf", 0) })

	if out, err := openDKIMVerify(signed); err != nil {
		t.Fatalf("opendkim-testmsg refused our signature: %v\n%s\nmessage:\n%s", err, out, signed)
	}
	t.Log("opendkim-testmsg verified the signature with the key from the dns role")

	for name, tampered := range map[string]string{
		"body":    strings.Replace(signed, "Hello there.", "Hello there!", 1),
		"subject": strings.Replace(signed, "Subject: hello", "Subject: hullo", 1),
	} {
		if tampered == signed {
			t.Fatalf("tampering with the %s changed nothing", name)
		}
		out, err := openDKIMVerify(tampered)
		if err == nil || !bytes.Contains(out, []byte("Bad signature")) {
			t.Errorf("opendkim-testmsg on a message with a changed %s: %v %s, want Bad signature", name, err, out)
		}
		t.Logf("changed %s: %v: %s", name, err, bytes.TrimSpace(out))
	}

	// With the subdomain's records withdrawn the key cannot be found: the
	// verification above did use the dns role.
	if err := e.addrs.Suspend(ctx, addresses.Operator(), "shop@x1.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := dns.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := openDKIMVerify(signed)
	if err == nil || !bytes.Contains(out, []byte("Key retrieval failed")) {
		t.Errorf("opendkim-testmsg with the subdomain's DNS records withdrawn: %v %s, want Key retrieval failed", err, out)
	}
	t.Logf("records withdrawn: %v: %s", err, bytes.TrimSpace(out))
}

// openDKIMVerify runs opendkim-testmsg in verify mode; it fails with a
// non-zero status when the message does not verify.
func openDKIMVerify(msg string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "opendkim-testmsg")
	cmd.Stdin = strings.NewReader(msg)
	return cmd.CombinedOutput()
}

// namespaces names this process's network and mount namespaces.
func namespaces(t *testing.T) string {
	t.Helper()
	var ns []string
	for _, kind := range []string{"net", "mnt"} {
		l, err := os.Readlink("/proc/self/ns/" + kind)
		if err != nil {
			t.Fatalf("namespace: %v", err)
		}
		ns = append(ns, l)
	}
	return strings.Join(ns, " ")
}

// loopbackUp sets lo up: a fresh network namespace has it down.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket for ioctl: %w", err)
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte // the rest of struct ifreq
	}
	copy(ifr.name[:], "lo")
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return fmt.Errorf("get flags of lo: %w", errno)
	}
	ifr.flags |= syscall.IFF_UP | syscall.IFF_RUNNING
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return fmt.Errorf("set lo up: %w", errno)
	}
	return nil
}
