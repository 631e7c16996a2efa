package main

import (
	"context"
	"log/slog"

	"github.com/kiln-build/kiln/internal/vm"
)

// chooseAccel settles the accelerator of the QEMU guests that test machine
// images, once at start-up: --accel (KILN_ACCEL) auto probes KVM (the
// verdict cached in the data directory), kvm insists on it and fails here
// when it does not work, tcg never tries it. The choice and its reason are
// logged: an operator whose builds are slow needs to see why.
func chooseAccel(ctx context.Context, mode, dataDir string, log *slog.Logger) (string, error) {
	c, err := vm.ChooseAccel(ctx, vm.AccelOptions{Mode: mode, CacheDir: dataDir})
	if err != nil {
		return "", err
	}
	log.Info("machine images: QEMU accelerator", "accel", c.Accel, "why", c.Reason)
	return c.Accel, nil
}
