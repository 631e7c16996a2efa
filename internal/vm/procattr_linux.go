package vm

import "syscall"

// qemuProcAttr makes the kernel kill QEMU when kiln dies, whatever kills
// kiln: a machine must not outlive the build that started it.
func qemuProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
