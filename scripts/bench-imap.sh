#!/bin/sh
# Benchmarks the IMAP server against Dovecot (Debian's dovecot-imapd) on the
# same generated mailbox with the same client, and prints a Markdown table.
# Runs as root (Dovecot is started with a throwaway configuration and runs
# its mail processes as nobody). Takes 10-20 minutes with the defaults.
#
# Usage: scripts/bench-imap.sh [imapbench flags...]
#   e.g. scripts/bench-imap.sh -n 20000 -idle 200 -append-ours 20000 -append-dovecot 10000
#   -only ours | dovecot   measures one server
#   -pprof 127.0.0.1:6061  has our server serve net/http/pprof
set -eu
cd "$(dirname "$0")/.."
command -v dovecot >/dev/null || { echo "bench-imap: dovecot not installed (apt-get install dovecot-imapd)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench-imap: run as root (Dovecot needs it)" >&2; exit 1; }
# Dovecot's unprivileged processes must reach the data: no directory under
# a private home.
work=$(mktemp -d /var/tmp/cabalmail-bench-imap.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
go build -o "$work/crashsrv" ./internal/imapd/internal/crashsrv
go build -o "$work/imapbench" ./internal/imapd/internal/imapbench
# 1,000 idle connections, each end on this host: raise the descriptor limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
"$work/imapbench" -dir "$work" -server "$work/crashsrv" "$@"
