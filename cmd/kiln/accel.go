package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/kiln-build/kiln/internal/vm"
)

// testKVMDeviceEnv names a file kiln opens instead of /dev/kvm: end-to-end
// tests on hosts without KVM use it, with a fake QEMU first on PATH, to
// drive the KVM path and its fallback to TCG. Never set it otherwise.
const testKVMDeviceEnv = "KILN_TEST_KVM_DEVICE"

// chooseAccel settles the accelerator of the QEMU guests that test machine
// images, once at start-up: --accel (KILN_ACCEL) auto probes KVM (the
// verdict cached in the data directory), kvm insists on it and fails here
// when it does not work, tcg never tries it. The choice and its reason are
// logged: an operator whose builds are slow needs to see why.
func chooseAccel(ctx context.Context, mode, dataDir string, log *slog.Logger) (vm.AccelChoice, error) {
	opts := vm.AccelOptions{Mode: mode, CacheDir: dataDir}
	if dev := os.Getenv(testKVMDeviceEnv); dev != "" {
		log.Warn("the KVM device is replaced (tests only)", "env", testKVMDeviceEnv, "device", dev)
		opts.KVMDevice = dev
	}
	c, err := vm.ChooseAccel(ctx, opts)
	if err != nil {
		return vm.AccelChoice{}, err
	}
	log.Info("machine images: QEMU accelerator", "accel", c.Accel, "why", c.Reason)
	return c, nil
}
