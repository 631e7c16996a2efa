#!/bin/sh
# run-api.sh builds kiln and runs the API benchmark against it, saving the
# report as bench/results/api-<UTC date and time>.md. Arguments are passed to
# apibench, e.g.:  bench/run-api.sh -duration 10s -concurrency 1,8,32
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

go build -o "$work/kiln" ./cmd/kiln
go build -o "$work/apibench" ./bench/apibench

mkdir -p bench/results
out="bench/results/api-$(date -u +%Y%m%d-%H%M%S).md"
# The report goes to stdout (and the file); progress lines go to stderr.
set +e
"$work/apibench" -kiln "$work/kiln" -json "${out%.md}.json" "$@" | tee "$out"
status=$?
set -e
# tee's status hides apibench's; recover it portably.
if [ "$status" -eq 0 ] && [ ! -s "$out" ]; then status=1; fi
echo "report: $out" >&2
exit "$status"
