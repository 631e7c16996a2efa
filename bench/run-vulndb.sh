#!/bin/sh
# run-vulndb.sh builds kiln and runs the vulnerability database benchmark
# against it — the server's import time and peak memory for 100,000
# synthetic OSV records in a zip, and the time to match this host's dpkg
# packages against them beside the time to read them — saving the report
# as bench/results/vulndb-<UTC date and time>.md (and .json). Runs on a
# Debian, Ubuntu, Alpine, Rocky or Alma host; takes a few minutes.
# Arguments are passed to vulndbbench, e.g.:
#   bench/run-vulndb.sh -records 300000 -runs 11
exec "$(dirname "$0")/run.sh" vulndb "$@"
