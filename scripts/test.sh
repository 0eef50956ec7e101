#!/usr/bin/env bash
# The whole test suite (README "Quick start"): installs what the tests need,
# then runs the unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"
go vet ./...
go test ./...
