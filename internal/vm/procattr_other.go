//go:build !linux

package vm

import "syscall"

func qemuProcAttr() *syscall.SysProcAttr { return nil }
