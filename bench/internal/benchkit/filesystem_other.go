//go:build !linux

package benchkit

// FilesystemType is only known on Linux.
func FilesystemType(string) string { return "unknown" }
