#!/bin/sh
# run-nodes.sh measures kiln as several nodes on this one host: for 1, 2
# and 3 `kiln serve` processes on one PostgreSQL database (a throwaway
# cluster, internal/pgtest) and one bucket (versitygw, internal/s3gw), the
# container builds per minute and the time from SIGKILL of the node
# running a build to that build being AVAILABLE. The report goes to
# bench/results/nodes-<UTC date>-<time>.md. Needs root, PostgreSQL 15's
# binaries, versitygw and skopeo (as the tests do).
#   bench/run-nodes.sh            # 6 builds per row
#   BUILDS=12 bench/run-nodes.sh
set -eu
cd "$(dirname "$0")/.."
mkdir -p bench/results
out="bench/results/nodes-$(date -u +%Y%m%d-%H%M%S).md"
log="${TMPDIR:-/tmp}/kiln-nodebench-$$.log"
KILN_NODEBENCH=1 KILN_NODEBENCH_BUILDS="${BUILDS:-6}" \
  go test -count=1 -timeout 90m -run '^TestNodeBench$' -v ./test/nodes/ 2>&1 | tee "$log"
# Keep the table (the lines the test logged after its heading).
sed -n '/## Nodes: builds per minute/,/^---/p' "$log" | sed 's/^ *//' | grep -v '^---' > "$out"
if [ ! -s "$out" ]; then
  echo "the benchmark failed; its output is in $log" >&2
  rm -f "$out"
  exit 1
fi
rm -f "$log"
echo "report: $out"
