//go:build !linux

package benchkit

import "syscall"

// ChildProcAttr: only Linux can tie a child's life to its parent.
func ChildProcAttr() *syscall.SysProcAttr { return nil }
