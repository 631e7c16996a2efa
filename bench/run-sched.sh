#!/bin/sh
# run-sched.sh builds kiln (statically, as released) and runs the scheduler
# benchmark against it — 10,000 ENABLED pipelines, a few hundred of them
# due every minute — saving the report as
# bench/results/sched-<UTC date and time>.md (and .json). Takes about six
# minutes with the defaults. Arguments are passed to schedbench, e.g.:
#   bench/run-sched.sh -pipelines 20000 -due 500 -measure 5m
exec "$(dirname "$0")/run.sh" sched "$@"
