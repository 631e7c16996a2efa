#!/bin/sh
# run-build.sh builds kiln (statically: its runner executes inside images)
# and runs the container build benchmark against it — kiln, buildah and the
# floor side by side — saving the report as
# bench/results/build-<UTC date and time>.md (and .json). Needs root.
# Arguments are passed to buildbench, e.g.:  bench/run-build.sh -runs 9
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

CGO_ENABLED=0 go build -o "$work/kiln" ./cmd/kiln
go build -o "$work/buildbench" ./bench/buildbench

mkdir -p bench/results
out="bench/results/build-$(date -u +%Y%m%d-%H%M%S)"
# Progress goes to stderr as it happens; the report is written at the end,
# so it is captured first and shown after (a pipe through tee would hide
# buildbench's exit status from a POSIX shell).
status=0
"$work/buildbench" -kiln "$work/kiln" -json "$out.json" "$@" >"$out.md" || status=$?
if [ -s "$out.md" ]; then
	cat "$out.md"
	echo "report: $out.md" >&2
else
	rm -f "$out.md"
fi
exit "$status"
