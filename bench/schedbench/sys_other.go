//go:build !linux

package main

import "syscall"

// childProcAttr: only Linux can tie a child's life to its parent.
func childProcAttr() *syscall.SysProcAttr { return nil }

// filesystemType is only known on Linux.
func filesystemType(string) string { return "unknown" }
