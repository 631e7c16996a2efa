#!/bin/sh
# run-machine.sh builds kiln (statically: its runner executes inside images
# and guests) and runs the machine image benchmark against it — kiln's
# CreateImage with image tests on, beside the same build, disk and boot
# test done by hand — saving the report as
# bench/results/machine-<UTC date and time>.md (and .json). Needs root.
# The first run debootstraps a minbase Debian parent (a few minutes) and
# caches it under /var/tmp/kiln-machinebench; later runs take about ten
# minutes with the defaults. Arguments are passed to machinebench, e.g.:
#   bench/run-machine.sh -runs 5 -cache /srv/cache
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

CGO_ENABLED=0 go build -o "$work/kiln" ./cmd/kiln
go build -o "$work/machinebench" ./bench/machinebench

mkdir -p bench/results
out="bench/results/machine-$(date -u +%Y%m%d-%H%M%S)"
# Progress goes to stderr as it happens; the report is written at the end,
# so it is captured first and shown after (a pipe through tee would hide
# machinebench's exit status from a POSIX shell).
status=0
"$work/machinebench" -kiln "$work/kiln" -json "$out.json" "$@" >"$out.md" || status=$?
if [ -s "$out.md" ]; then
	cat "$out.md"
	echo "report: $out.md" >&2
else
	rm -f "$out.md"
fi
exit "$status"
