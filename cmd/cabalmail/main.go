// Command cabalmail is the whole product: every role of the mail system and
// every operator command, in one binary (DESIGN.md §5).
//
// Errors are one line on standard error and a non-zero exit status: 1 when
// the command failed, 2 when it was called wrongly.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError marks a wrongly called command (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// env is what a command runs with; tests substitute the streams.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	configFlag     string // --config given before the command group
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() []command {
	return []command{
		{"dev", "run every role on loopback with a demo domain and self-signed TLS", runDev},
		{"init", "write a production configuration and keys; print the DNS records to publish", runInit},
		{"serve", "run the configured roles", runServe},
		{"user", "add, list, approve, disable, enable, delete users; passwords, tokens, apex grants", runUser},
		{"address", "create, list, suspend, reinstate and revoke addresses", runAddress},
		{"domain", "add and list mail apexes; print their DNS records", runDomain},
		{"inbound", "inbound tempfail on [--for 4h] | off | status: hold back the MX tier's 5xx answers", runInbound},
		{"mailq", "list the outbound queue: id, age, size, sender, recipients, state, last error, next attempt", runMailq},
		{"queue", "retry|hold|release|delete ID|--all: act on queued outbound messages", runQueue},
		{"diagnose", "bounces|deferrals|probes [--since 30m] [--tier T] [--json]: which tier fails, with which codes, to whom", runDiagnose},
		{"suppression", "list | release ADDR: recipients refused at submission after a hard bounce", runSuppression},
		{"providers", "[confirm|clear PROVIDER]: recent providers (sent, deferred, bounced, state); decide on a suspect one", runProviders},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e *env, args []string) int {
	// A --config before the command group applies to it.
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch {
		case args[0] == "--config" || args[0] == "-config":
			if len(args) < 2 {
				fmt.Fprintln(e.stderr, "cabalmail: --config needs a file name")
				return 2
			}
			e.configFlag = args[1]
			args = args[2:]
		case strings.HasPrefix(args[0], "--config=") || strings.HasPrefix(args[0], "-config="):
			e.configFlag = args[0][strings.Index(args[0], "=")+1:]
			args = args[1:]
		case args[0] == "-h" || args[0] == "--help" || args[0] == "-help":
			printUsage(e.stdout)
			return 0
		default:
			fmt.Fprintf(e.stderr, "cabalmail: unknown flag %s before the command\n", args[0])
			return 2
		}
	}
	if len(args) == 0 {
		printUsage(e.stderr)
		return 2
	}
	if args[0] == "help" {
		printUsage(e.stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			return report(e, err)
		}
	}
	fmt.Fprintf(e.stderr, "cabalmail: unknown command %q (run \"cabalmail help\")\n", args[0])
	return 2
}

func report(e *env, err error) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(e.stderr, "cabalmail: %s\n", msg)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: cabalmail [--config FILE] COMMAND [ARGS]")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The configuration file is --config, else $CABALMAIL_CONFIG, else ./cabalmail.toml.")
	fmt.Fprintln(w, "Run \"cabalmail COMMAND -h\" for a command's own flags.")
}

func runVersion(_ context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return usagef("version takes no arguments")
	}
	fmt.Fprintf(e.stdout, "cabalmail %s\n", version)
	return nil
}
