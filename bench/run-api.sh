#!/bin/sh
# run-api.sh builds kiln and runs the API benchmark against it, saving the
# report as bench/results/api-<UTC date and time>.md (and .json). Arguments
# are passed to apibench, e.g.:  bench/run-api.sh -duration 10s -concurrency 1,8,32
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

go build -o "$work/kiln" ./cmd/kiln
go build -o "$work/apibench" ./bench/apibench

mkdir -p bench/results
out="bench/results/api-$(date -u +%Y%m%d-%H%M%S)"
# Progress goes to stderr as it happens; the report is written at the end,
# so it is captured first and shown after (a pipe through tee would hide
# apibench's exit status from a POSIX shell).
status=0
"$work/apibench" -kiln "$work/kiln" -json "$out.json" "$@" >"$out.md" || status=$?
if [ -s "$out.md" ]; then
	cat "$out.md"
	echo "report: $out.md" >&2
else
	rm -f "$out.md"
fi
exit "$status"
