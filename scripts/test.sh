#!/usr/bin/env bash
# The whole test suite: installs the Debian peers the end-to-end tests drive,
# checks formatting and static analysis, then runs every test (fuzz targets
# run their seed corpora; benchmarks are not run here).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [[ -n $unformatted ]]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
go test -count=1 -timeout 45m "$@" ./...
