#!/usr/bin/env bash
# The README's test command. Run as root on a fresh Debian 12 machine with
# Go, it first installs the Debian packages in scripts/debian-packages that
# are missing, then runs every test. Not as root, it names what is missing
# (the tests that need it say so when they skip) and runs the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for p in $(grep -v '^#' scripts/debian-packages); do
  if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" != installed ]; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
  else
    echo "scripts/test.sh: not root, so these Debian packages stay missing: ${missing[*]}" >&2
  fi
fi
# The S3 tests run the Versity S3 gateway (internal/s3gw); it is built
# once from the module proxy, about three minutes on two cores.
if [ ! -x "$(go env GOPATH)/bin/versitygw" ]; then
  go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
# cmd/kiln's end-to-end tests take about five of the ten minutes Go
# allows a package by default, with the test/ packages running beside them
# on two cores; the longer limit keeps a loaded machine from failing them.
exec go test -count=1 -timeout 20m "$@" ./...
