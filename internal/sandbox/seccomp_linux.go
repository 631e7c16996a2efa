//go:build linux

package sandbox

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// installSeccomp loads the build's filter (seccomp.go) on the calling
// thread, which must already have no_new_privs set (dropCapabilities sets
// it) and must be the locked thread that then forks the build's program:
// a filter is per thread and inherited across fork and exec. The init's
// other threads stay unfiltered; they never run build code.
func installSeccomp() error {
	prog, err := seccompProgram(runtime.GOARCH)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filter[i] = unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	// seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog): flags 0, so no TSYNC:
	// only this thread.
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("installing the seccomp filter: %w", e)
	}
	runtime.KeepAlive(filter)
	return nil
}
