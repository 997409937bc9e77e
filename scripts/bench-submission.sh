#!/bin/sh
# Benchmarks submission acceptance (the 250 after the data) of the smtp-out
# tier against Postfix from Debian as a submission server relaying to
# smtp-sink, side by side in one run with the same client: 4 concurrent
# STARTTLS connections, 5 KB messages. Prints messages/s and p50/p99 per
# transaction for both, and the queue's share of our transactions.
# Runs as root (Postfix is started from a private configuration on a
# loopback port and stopped afterwards).
#
# Usage: scripts/bench-submission.sh [go test flags...]
#   CABALMAIL_BENCH_MESSAGES=10000 scripts/bench-submission.sh
#   scripts/bench-submission.sh -cpuprofile /tmp/submission.cpu
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-submission: run as root (Postfix needs it)" >&2; exit 1; }
command -v postfix >/dev/null || { echo "bench-submission: postfix not installed (apt-get install postfix)" >&2; exit 1; }
exec go test -run '^$' -bench '^BenchmarkSubmission$' -benchtime 1x "$@" ./internal/submission
