package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/machine"
)

// configureTestBoot sets how machine images' test instances boot
// (kiln serve --test-boot): directly, the fast default, or through a
// firmware and the disk's bootloader, which tests the disk as a user who
// exports it will boot it.
func configureTestBoot(mode string, eng *engine.Engine) error {
	if !slices.Contains(machine.TestBoots, mode) {
		return fmt.Errorf("--test-boot %q: want %s", mode, strings.Join(machine.TestBoots, ", "))
	}
	if x, ok := eng.Executors[awsapi.ImageTypeAmi].(*machine.Executor); ok {
		x.TestBoot = mode
	}
	return nil
}
