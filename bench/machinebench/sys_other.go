//go:build !linux

package main

import "syscall"

func childProcAttr() *syscall.SysProcAttr { return nil }

func filesystemType(string) string { return "unknown" }

func mountsUnder(string) []string { return nil }

func unmountUnder(string) {}
