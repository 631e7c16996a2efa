package kilntest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The modes of FakeKVMQEMU.
const (
	// KVMAbortsAll aborts every run under KVM, the probe boot included:
	// a host whose KVM refuses every guest.
	KVMAbortsAll = "abort"
	// KVMAbortsBoot lets the probe boot through and aborts real boots
	// (those with -kernel): a host whose KVM fails only real guests, which
	// the fallback to TCG during a build must catch.
	KVMAbortsBoot = "abort-boot"
)

// fakeQEMUScript fails as QEMU does on hosts whose /dev/kvm opens but
// cannot set MSR 0x10a (IA32_ARCH_CAPABILITIES) — the message, then
// SIGABRT from QEMU's failed assertion — and otherwise runs REAL with
// KVM's options turned into TCG's, so a run it lets through really boots.
const fakeQEMUScript = `#!/bin/sh
kvm=no kernel=no
for a; do
	case "$a" in kvm) kvm=yes ;; -kernel) kernel=yes ;; esac
done
if [ $kvm = yes ] && { [ MODE = abort ] || [ $kernel = yes ]; }; then
	echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x2000000e1" >&2
	echo "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:2997: kvm_buf_set_msrs: Assertion failed." >&2
	kill -ABRT $$
fi
for a; do
	shift
	case "$a" in kvm) a=tcg ;; host) a=max ;; esac
	set -- "$@" "$a"
done
exec REAL "$@"
`

// FakeKVMQEMU writes a qemu-system-x86_64 that aborts under KVM in mode
// (KVMAbortsAll or KVMAbortsBoot) into a new directory, to be put first
// on PATH or named as the QEMU binary, and returns the directory, the
// fake's path and a file that opens as /dev/kvm does on a host with KVM.
// It skips the test when the real QEMU is not installed.
func FakeKVMQEMU(t testing.TB, mode string) (dir, qemu, kvmDevice string) {
	t.Helper()
	const real = "/usr/bin/qemu-system-x86_64"
	RequireTool(t, real, "qemu-system-x86")
	dir = t.TempDir()
	qemu = filepath.Join(dir, "qemu-system-x86_64")
	script := strings.NewReplacer("REAL", real, "MODE", mode).Replace(fakeQEMUScript)
	if err := os.WriteFile(qemu, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	kvmDevice = filepath.Join(dir, "kvm")
	if err := os.WriteFile(kvmDevice, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, qemu, kvmDevice
}
