package sandbox

import (
	"fmt"
	"sort"
)

// The build's system call filter follows Docker's default profile in
// effect: the calls that profile refuses to a container without
// CAP_SYS_ADMIN and the other capabilities a build does not have fail with
// EPERM, clone3 fails with ENOSYS (so C libraries fall back to clone, whose
// flags a classic filter can see), and a call made under a foreign
// architecture (i386 or x32 on x86_64, arm32 on arm64) kills the process,
// since its numbers mean other calls. Everything else is allowed.
//
// It is a deny-list where Docker's is an allow-list: the capability set
// (caps_linux.go) already refuses what needs privilege, so the filter is
// the second fence around the kernel's most exposed code (keyrings, BPF,
// perf, userfaultfd, io_uring, module loading, the mount API, new
// namespaces), not the only one.
//
// ptrace, process_vm_readv and process_vm_writev stay allowed, as Docker
// allows them on kernels from 4.8 on: since 4.8 the kernel re-checks the
// filter after a tracer changes a call, so ptrace cannot be used to slip
// past it, and the PID namespace leaves a build only its own processes to
// trace. strace and gdb in a failing build are worth having.

// Filter return values (linux/seccomp.h).
const (
	seccompRetKillProcess = 0x80000000
	seccompRetErrno       = 0x00050000
	seccompRetAllow       = 0x7fff0000
)

// Audit architectures (linux/audit.h).
const (
	auditArchX86_64  = 0xc000003e
	auditArchAarch64 = 0xc00000b7
)

const (
	errnoEPERM  = 1
	errnoENOSYS = 38
)

// x32ABIBit marks x32 system calls on x86_64: same audit architecture,
// other numbers.
const x32ABIBit = 0x40000000

// cloneNamespaceFlags are the clone(2) flags that make new namespaces
// (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET).
const cloneNamespaceFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000

// personalityAllowed are the personality(2) values Docker's profile lets
// through: the default Linux one, PER_LINUX32, UNAME26 with either, and
// the query 0xffffffff. Others (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, ...)
// weaken the process's own hardening.
var personalityAllowed = []uint32{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// deniedSyscalls fail with EPERM, by name, with why.
var deniedSyscalls = []struct{ name, why string }{
	{"acct", "process accounting is host-wide"},
	{"add_key", "kernel keyrings are not namespaced"},
	{"request_key", "kernel keyrings are not namespaced"},
	{"keyctl", "kernel keyrings are not namespaced"},
	{"bpf", "loads programs into the kernel"},
	{"perf_event_open", "observes the host, a long record of kernel bugs"},
	{"userfaultfd", "a common exploitation primitive for kernel races"},
	{"io_uring_setup", "a large kernel attack surface, refused by Docker since 2023"},
	{"io_uring_enter", "a large kernel attack surface"},
	{"io_uring_register", "a large kernel attack surface"},
	{"kexec_load", "replaces the running kernel"},
	{"kexec_file_load", "replaces the running kernel"},
	{"init_module", "loads kernel modules"},
	{"finit_module", "loads kernel modules"},
	{"delete_module", "unloads kernel modules"},
	{"create_module", "loads kernel modules (obsolete)"},
	{"get_kernel_syms", "reads kernel symbols (obsolete)"},
	{"query_module", "reads kernel modules (obsolete)"},
	{"open_by_handle_at", "opens any inode by handle, past the root"},
	{"name_to_handle_at", "the other half of open_by_handle_at"},
	{"mount", "mounts"},
	{"umount2", "unmounts"},
	{"pivot_root", "changes the root"},
	{"open_tree", "the new mount API"},
	{"move_mount", "the new mount API"},
	{"fsopen", "the new mount API"},
	{"fsconfig", "the new mount API"},
	{"fsmount", "the new mount API"},
	{"fspick", "the new mount API"},
	{"mount_setattr", "the new mount API"},
	{"open_tree_attr", "the new mount API"},
	{"unshare", "new namespaces (a user namespace gives back every capability inside it)"},
	{"setns", "joins other namespaces"},
	{"swapon", "host swap"},
	{"swapoff", "host swap"},
	{"reboot", "reboots the host"},
	{"settimeofday", "the host clock"},
	{"clock_settime", "the host clock"},
	{"clock_adjtime", "the host clock"},
	{"adjtimex", "the host clock"},
	{"syslog", "the kernel log"},
	{"quotactl", "filesystem quotas"},
	{"quotactl_fd", "filesystem quotas"},
	{"lookup_dcookie", "kernel profiling"},
	{"nfsservctl", "the kernel NFS server (obsolete)"},
	{"iopl", "raw I/O ports"},
	{"ioperm", "raw I/O ports"},
	{"kcmp", "compares other processes' kernel objects"},
	{"fanotify_init", "watches whole filesystems"},
	{"mbind", "NUMA policy (CAP_SYS_NICE in Docker's profile)"},
	{"set_mempolicy", "NUMA policy"},
	{"get_mempolicy", "NUMA policy"},
	{"set_mempolicy_home_node", "NUMA policy"},
	{"move_pages", "NUMA placement of other processes' pages"},
	{"uselib", "obsolete a.out loading"},
	{"ustat", "obsolete"},
	{"sysfs", "obsolete"},
	{"_sysctl", "obsolete sysctl interface"},
}

// syscallArch is one architecture's numbers for the filter.
type syscallArch struct {
	audit uint32
	x32   bool // reject numbers with the x32 bit
	nr    map[string]uint32
}

// syscallArches are the architectures kiln builds for. Numbers from the
// kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl and the
// generic include/uapi/asm-generic/unistd.h arm64 uses); a test checks the
// native one against golang.org/x/sys/unix.
var syscallArches = map[string]syscallArch{
	"amd64": {audit: auditArchX86_64, x32: true, nr: map[string]uint32{
		"clone": 56, "clone3": 435, "personality": 135,
		"acct": 163, "add_key": 248, "request_key": 249, "keyctl": 250, "bpf": 321,
		"perf_event_open": 298, "userfaultfd": 323,
		"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
		"kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
		"delete_module": 176, "create_module": 174, "get_kernel_syms": 177, "query_module": 178,
		"open_by_handle_at": 304, "name_to_handle_at": 303,
		"mount": 165, "umount2": 166, "pivot_root": 155,
		"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
		"fspick": 433, "mount_setattr": 442, "open_tree_attr": 467,
		"unshare": 272, "setns": 308, "swapon": 167, "swapoff": 168, "reboot": 169,
		"settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
		"syslog": 103, "quotactl": 179, "quotactl_fd": 443, "lookup_dcookie": 212,
		"nfsservctl": 180, "iopl": 172, "ioperm": 173, "kcmp": 312, "fanotify_init": 300,
		"mbind": 237, "set_mempolicy": 238, "get_mempolicy": 239, "set_mempolicy_home_node": 450,
		"move_pages": 279, "uselib": 134, "ustat": 136, "sysfs": 139, "_sysctl": 156,
		// Allowed: in tests only.
		"getpid": 39, "ptrace": 101,
	}},
	"arm64": {audit: auditArchAarch64, nr: map[string]uint32{
		"clone": 220, "clone3": 435, "personality": 92,
		"acct": 89, "add_key": 217, "request_key": 218, "keyctl": 219, "bpf": 280,
		"perf_event_open": 241, "userfaultfd": 282,
		"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
		"kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273,
		"delete_module":     106,
		"open_by_handle_at": 265, "name_to_handle_at": 264,
		"mount": 40, "umount2": 39, "pivot_root": 41,
		"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
		"fspick": 433, "mount_setattr": 442, "open_tree_attr": 467,
		"unshare": 97, "setns": 268, "swapon": 224, "swapoff": 225, "reboot": 142,
		"settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
		"syslog": 116, "quotactl": 60, "quotactl_fd": 443, "lookup_dcookie": 18,
		"nfsservctl": 42, "kcmp": 272, "fanotify_init": 262,
		"mbind": 235, "set_mempolicy": 237, "get_mempolicy": 236, "set_mempolicy_home_node": 450,
		"move_pages": 239,
		"getpid":     172, "ptrace": 117,
	}},
}

// bpfInsn is one classic BPF instruction (struct sock_filter).
type bpfInsn struct {
	Code   uint16
	Jt, Jf uint8
	K      uint32
}

// Classic BPF opcodes the filter uses.
const (
	bpfLdWAbs = 0x20 // BPF_LD|BPF_W|BPF_ABS
	bpfJeqK   = 0x15 // BPF_JMP|BPF_JEQ|BPF_K
	bpfJgeK   = 0x35 // BPF_JMP|BPF_JGE|BPF_K
	bpfJsetK  = 0x45 // BPF_JMP|BPF_JSET|BPF_K
	bpfRetK   = 0x06 // BPF_RET|BPF_K
)

// Offsets in struct seccomp_data: int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6]. Both architectures are little
// endian, so an argument's low word comes first.
const (
	offNr      = 0
	offArch    = 4
	offArg0Low = 16
)

// asm assembles a program whose jumps name labels, all forward.
type asm struct {
	insns  []bpfInsn
	labels map[string]int
	fixups []fixup
}

type fixup struct {
	at     int
	jt, jf string
}

func (a *asm) label(name string) { a.labels[name] = len(a.insns) }

func (a *asm) stmt(code uint16, k uint32) { a.insns = append(a.insns, bpfInsn{Code: code, K: k}) }

// jump adds a conditional jump; "" as a target means the next instruction.
func (a *asm) jump(code uint16, k uint32, jt, jf string) {
	a.fixups = append(a.fixups, fixup{len(a.insns), jt, jf})
	a.insns = append(a.insns, bpfInsn{Code: code, K: k})
}

func (a *asm) assemble() ([]bpfInsn, error) {
	for _, f := range a.fixups {
		for i, target := range []string{f.jt, f.jf} {
			if target == "" {
				continue
			}
			to, ok := a.labels[target]
			if !ok {
				return nil, fmt.Errorf("seccomp: no label %s", target)
			}
			off := to - f.at - 1
			if off < 0 || off > 255 {
				return nil, fmt.Errorf("seccomp: jump to %s out of range (%d)", target, off)
			}
			if i == 0 {
				a.insns[f.at].Jt = uint8(off)
			} else {
				a.insns[f.at].Jf = uint8(off)
			}
		}
	}
	return a.insns, nil
}

// seccompProgram assembles the build's filter for goarch.
func seccompProgram(goarch string) ([]bpfInsn, error) {
	arch, ok := syscallArches[goarch]
	if !ok {
		return nil, fmt.Errorf("seccomp: no system call table for %s", goarch)
	}
	a := &asm{labels: map[string]int{}}
	a.stmt(bpfLdWAbs, offArch)
	a.jump(bpfJeqK, arch.audit, "", "kill")
	a.stmt(bpfLdWAbs, offNr)
	if arch.x32 {
		a.jump(bpfJgeK, x32ABIBit, "kill", "")
	}
	// Sorted numbers: a stable program, easy to read in a dump.
	var nrs []uint32
	for _, d := range deniedSyscalls {
		if n, ok := arch.nr[d.name]; ok {
			nrs = append(nrs, n)
		}
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	for _, n := range nrs {
		a.jump(bpfJeqK, n, "eperm", "")
	}
	a.jump(bpfJeqK, arch.nr["clone3"], "enosys", "")
	a.jump(bpfJeqK, arch.nr["clone"], "clone", "")
	a.jump(bpfJeqK, arch.nr["personality"], "personality", "")
	a.stmt(bpfRetK, seccompRetAllow)

	// clone: the flags are the first argument on both architectures; the
	// namespace flags all live in its low word.
	a.label("clone")
	a.stmt(bpfLdWAbs, offArg0Low)
	a.jump(bpfJsetK, cloneNamespaceFlags, "eperm", "allow")

	// personality takes an unsigned int: only the low word counts.
	a.label("personality")
	a.stmt(bpfLdWAbs, offArg0Low)
	for _, p := range personalityAllowed {
		a.jump(bpfJeqK, p, "allow", "")
	}
	a.label("eperm")
	a.stmt(bpfRetK, seccompRetErrno|errnoEPERM)
	a.label("enosys")
	a.stmt(bpfRetK, seccompRetErrno|errnoENOSYS)
	a.label("kill")
	a.stmt(bpfRetK, seccompRetKillProcess)
	a.label("allow")
	a.stmt(bpfRetK, seccompRetAllow)
	return a.assemble()
}
