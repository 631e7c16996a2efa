//go:build !linux

package oci

import (
	"context"
	"errors"
	"io"
)

// errNotSupported is returned where overlayfs does not exist.
var errNotSupported = errors.New("oci: layer directories need Linux")

func extract(ctx context.Context, dir string, r io.Reader) error    { return errNotSupported }
func writeTar(ctx context.Context, upper string, w io.Writer) error { return errNotSupported }
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	return nil, errNotSupported
}
func syncFS(dir string) error  { return errNotSupported }
func syncDir(dir string) error { return errNotSupported }
