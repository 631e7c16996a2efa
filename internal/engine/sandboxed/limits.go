package sandboxed

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/kiln-build/kiln/internal/instancetype"
	"github.com/kiln-build/kiln/internal/sandbox"
)

// limits are the sandbox limits of the build: what the first instance type
// of its infrastructure configuration offers (EC2 Image Builder launches
// the first one that is available), CPUs capped by this host's cores; and
// which instance type that was, for messages.
func (in *Instance) limits() (sandbox.Limits, string) {
	size, name := instancetype.Default, "the default instance size (2 vCPUs, 4 GiB)"
	if infra := in.B.Image.InfrastructureConfiguration; infra != nil && len(infra.InstanceTypes) > 0 {
		t := infra.InstanceTypes[0]
		if s, ok := instancetype.Lookup(t); ok {
			size, name = s, "the instance type "+t
		} else {
			name = fmt.Sprintf("the default instance size (2 vCPUs, 4 GiB; kiln does not know the instance type %s)", t)
		}
	}
	return LimitsFor(size), name
}

// LimitsFor turns an instance size into sandbox limits: its vCPUs (at most
// the host's cores), its memory with no swap, and 1024 processes per GiB
// (at least 1024, at most 32768), generous for package managers and
// compilers, tight for a fork bomb.
func LimitsFor(s instancetype.Size) sandbox.Limits {
	cpus := min(s.VCPU, runtime.NumCPU())
	return sandbox.Limits{
		MilliCPU: cpus * 1000,
		Memory:   s.MemoryMiB << 20,
		Pids:     min(max(s.MemoryMiB, 1024), 32768),
	}
}

// outOfMemoryError says which instance type's memory a build exceeded.
type outOfMemoryError struct {
	what, instance, memory string
	err                    error
}

func (e *outOfMemoryError) Error() string {
	return fmt.Sprintf("%s: the build ran out of memory: %s allows %s", e.what, e.instance, e.memory)
}

func (e *outOfMemoryError) Unwrap() error { return e.err }

// explainOOM turns the sandbox's out-of-memory error into one that names
// the instance type's limit.
func (in *Instance) explainOOM(what string, err error) error {
	if !errors.Is(err, sandbox.ErrOutOfMemory) {
		return nil
	}
	_, name := in.limits()
	size := instancetype.Default
	if infra := in.B.Image.InfrastructureConfiguration; infra != nil && len(infra.InstanceTypes) > 0 {
		if s, ok := instancetype.Lookup(infra.InstanceTypes[0]); ok {
			size = s
		}
	}
	return &outOfMemoryError{what: what, instance: name, memory: size.Memory(), err: err}
}
