package benchkit

import "syscall"

// ChildProcAttr makes a child die with the benchmark, so an interrupted
// run leaves no servers behind.
func ChildProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
