#!/bin/sh
# run-sched.sh builds kiln (statically, as released) and runs the scheduler
# benchmark against it — 10,000 ENABLED pipelines, a few hundred of them
# due every minute — saving the report as
# bench/results/sched-<UTC date and time>.md (and .json). Takes about six
# minutes with the defaults. Arguments are passed to schedbench, e.g.:
#   bench/run-sched.sh -pipelines 20000 -due 500 -measure 5m
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

CGO_ENABLED=0 go build -o "$work/kiln" ./cmd/kiln
go build -o "$work/schedbench" ./bench/schedbench

mkdir -p bench/results
out="bench/results/sched-$(date -u +%Y%m%d-%H%M%S)"
# Progress goes to stderr as it happens; the report is written at the end,
# so it is captured first and shown after (a pipe through tee would hide
# schedbench's exit status from a POSIX shell).
status=0
"$work/schedbench" -kiln "$work/kiln" -json "$out.json" "$@" >"$out.md" || status=$?
if [ -s "$out.md" ]; then
	cat "$out.md"
	echo "report: $out.md" >&2
else
	rm -f "$out.md"
fi
exit "$status"
