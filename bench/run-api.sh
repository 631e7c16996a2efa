#!/bin/sh
# run-api.sh builds kiln and runs the API benchmark against it, saving the
# report as bench/results/api-<UTC date and time>.md (and .json). Arguments
# are passed to apibench, e.g.:  bench/run-api.sh -duration 10s -concurrency 1,8,32
exec "$(dirname "$0")/run.sh" api "$@"
