package sandbox

import (
	"encoding/binary"
	"testing"
)

// runFilter interprets the subset of classic BPF the filter uses over one
// struct seccomp_data, as the kernel would, and returns the verdict.
func runFilter(t *testing.T, prog []bpfInsn, arch, nr uint32, arg0 uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	binary.LittleEndian.PutUint64(data[16:], arg0)
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLdWAbs:
			if in.K%4 != 0 || int(in.K)+4 > len(data) {
				t.Fatalf("pc %d: load at %d", pc, in.K)
			}
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case bpfRetK:
			return in.K
		case bpfJeqK, bpfJgeK, bpfJsetK:
			var taken bool
			switch in.Code {
			case bpfJeqK:
				taken = acc == in.K
			case bpfJgeK:
				taken = acc >= in.K
			case bpfJsetK:
				taken = acc&in.K != 0
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		default:
			t.Fatalf("pc %d: opcode %#x", pc, in.Code)
		}
	}
	t.Fatal("the program fell off its end")
	return 0
}

func TestSeccompProgram(t *testing.T) {
	const (
		newUser = 0x10000000
		newNet  = 0x40000000
		sigchld = 17
		vmVfork = 0x4000 | 0x100 // CLONE_VFORK|CLONE_VM, what Go's fork uses
	)
	eperm, enosys := uint32(seccompRetErrno|errnoEPERM), uint32(seccompRetErrno|errnoENOSYS)
	for goarch, arch := range syscallArches {
		prog, err := seccompProgram(goarch)
		if err != nil {
			t.Fatal(err)
		}
		if len(prog) > 4096 {
			t.Fatalf("%s: %d instructions, more than the kernel takes", goarch, len(prog))
		}
		nr := func(name string) uint32 {
			n, ok := arch.nr[name]
			if !ok {
				t.Fatalf("%s: no number for %s", goarch, name)
			}
			return n
		}
		tests := []struct {
			name string
			arch uint32
			nr   uint32
			arg0 uint64
			want uint32
		}{
			{"getpid", arch.audit, nr("getpid"), 0, seccompRetAllow},
			{"ptrace", arch.audit, nr("ptrace"), 0, seccompRetAllow},
			{"keyctl", arch.audit, nr("keyctl"), 0, eperm},
			{"bpf", arch.audit, nr("bpf"), 0, eperm},
			{"unshare", arch.audit, nr("unshare"), newUser, eperm},
			{"mount", arch.audit, nr("mount"), 0, eperm},
			{"kexec_load", arch.audit, nr("kexec_load"), 0, eperm},
			{"open_by_handle_at", arch.audit, nr("open_by_handle_at"), 0, eperm},
			{"userfaultfd", arch.audit, nr("userfaultfd"), 0, eperm},
			{"clone fork", arch.audit, nr("clone"), sigchld, seccompRetAllow},
			{"clone vfork", arch.audit, nr("clone"), vmVfork | sigchld, seccompRetAllow},
			{"clone thread", arch.audit, nr("clone"), 0x3d0f00, seccompRetAllow},
			{"clone new user ns", arch.audit, nr("clone"), newUser | sigchld, eperm},
			{"clone new net ns", arch.audit, nr("clone"), newNet, eperm},
			{"clone new ns in the high word only", arch.audit, nr("clone"), 1<<32 | sigchld, seccompRetAllow},
			{"clone3", arch.audit, nr("clone3"), 0, enosys},
			{"personality query", arch.audit, nr("personality"), 0xffffffff, seccompRetAllow},
			{"personality linux", arch.audit, nr("personality"), 0, seccompRetAllow},
			{"personality linux32", arch.audit, nr("personality"), 8, seccompRetAllow},
			{"personality no ASLR", arch.audit, nr("personality"), 0x0040000, eperm},
			{"personality read implies exec", arch.audit, nr("personality"), 0x0400000, eperm},
			{"foreign arch", 0x40000003, nr("getpid"), 0, seccompRetKillProcess},
		}
		if arch.x32 {
			tests = append(tests, struct {
				name string
				arch uint32
				nr   uint32
				arg0 uint64
				want uint32
			}{"x32", arch.audit, x32ABIBit | 39, 0, seccompRetKillProcess})
		}
		for _, d := range deniedSyscalls {
			if n, ok := arch.nr[d.name]; ok {
				tests = append(tests, struct {
					name string
					arch uint32
					nr   uint32
					arg0 uint64
					want uint32
				}{"denied " + d.name, arch.audit, n, 0, eperm})
			}
		}
		for _, tt := range tests {
			t.Run(goarch+"/"+tt.name, func(t *testing.T) {
				if got := runFilter(t, prog, tt.arch, tt.nr, tt.arg0); got != tt.want {
					t.Errorf("got %#x, want %#x", got, tt.want)
				}
			})
		}
	}
}

// Every denied call has a number on x86_64 (the widest table); names that
// do not exist on arm64 must really be absent there, not forgotten.
func TestSeccompTablesCoverDenied(t *testing.T) {
	absentOnArm64 := map[string]bool{"create_module": true, "get_kernel_syms": true, "query_module": true,
		"iopl": true, "ioperm": true, "uselib": true, "ustat": true, "sysfs": true, "_sysctl": true}
	for _, d := range deniedSyscalls {
		if _, ok := syscallArches["amd64"].nr[d.name]; !ok {
			t.Errorf("amd64: no number for %s", d.name)
		}
		if _, ok := syscallArches["arm64"].nr[d.name]; !ok && !absentOnArm64[d.name] {
			t.Errorf("arm64: no number for %s", d.name)
		}
	}
	for goarch, arch := range syscallArches {
		seen := map[uint32]string{}
		for name, n := range arch.nr {
			if other, dup := seen[n]; dup {
				t.Errorf("%s: %s and %s share number %d", goarch, name, other, n)
			}
			seen[n] = name
		}
	}
}
