//go:build !linux

package benchkit

// MountsUnder: mounts are only tracked on Linux.
func MountsUnder(string) []string { return nil }

// UnmountUnder: mounts are only tracked on Linux.
func UnmountUnder(string) {}
