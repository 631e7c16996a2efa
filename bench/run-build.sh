#!/bin/sh
# run-build.sh builds kiln (statically: its runner executes inside images)
# and runs the container build benchmark against it — kiln, buildah and the
# floor side by side — saving the report as
# bench/results/build-<UTC date and time>.md (and .json). Needs root.
# Arguments are passed to buildbench, e.g.:  bench/run-build.sh -runs 9
exec "$(dirname "$0")/run.sh" build "$@"
