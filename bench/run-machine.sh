#!/bin/sh
# run-machine.sh builds kiln (statically: its runner executes inside images
# and guests) and runs the machine image benchmark against it — kiln's
# CreateImage with image tests on, beside the same build, disk and boot
# test done by hand — once per test boot in TEST_BOOTS (default "direct
# bios": kiln serve --test-boot, the test instance booting its kernel
# directly, then through SeaBIOS and the disk's GRUB), saving each report
# as bench/results/machine-<UTC date and time>.md (and .json). Needs root.
# The first run debootstraps a minbase Debian parent (a few minutes) and
# caches it under /var/tmp/kiln-machinebench; later runs take about ten
# minutes each with the defaults. Arguments are passed to machinebench, e.g.:
#   bench/run-machine.sh -runs 5 -cache /srv/cache
#   TEST_BOOTS=uefi bench/run-machine.sh -runs 1
status=0
for boot in ${TEST_BOOTS:-direct bios}; do
	"$(dirname "$0")/run.sh" machine -test-boot "$boot" "$@" || status=$?
done
exit "$status"
