//go:build !linux

package sandbox

import (
	"context"
	"errors"
)

// Init does nothing where sandboxes are not supported.
func Init() {}

// Run fails: sandboxes need Linux namespaces and overlayfs.
func Run(ctx context.Context, cfg Config, argv ...string) (exitCode int, err error) {
	return -1, errors.New("sandbox: only supported on Linux")
}

// OwnMemoryLimit reports no limit where cgroups are not read.
func OwnMemoryLimit() (limit int64, ok bool) { return 0, false }
