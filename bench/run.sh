#!/bin/sh
# run.sh NAME [ARGS...] builds kiln (statically: its runner executes inside
# the images it builds) and the benchmark bench/NAMEbench, runs it against
# kiln with ARGS, and saves the report as
# bench/results/NAME-<UTC date and time>.md (and .json). The run-*.sh
# scripts are this with their name filled in.
set -eu

name=$1
shift
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

CGO_ENABLED=0 go build -o "$work/kiln" ./cmd/kiln
go build -o "$work/${name}bench" "./bench/${name}bench"

mkdir -p bench/results
out="bench/results/${name}-$(date -u +%Y%m%d-%H%M%S)"
# Progress goes to stderr as it happens; the report is written at the end,
# so it is captured first and shown after (a pipe through tee would hide
# the benchmark's exit status from a POSIX shell).
status=0
"$work/${name}bench" -kiln "$work/kiln" -json "$out.json" "$@" >"$out.md" || status=$?
if [ -s "$out.md" ]; then
	cat "$out.md"
	echo "report: $out.md" >&2
else
	rm -f "$out.md"
fi
exit "$status"
