package sandboxed

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/sandbox"
)

func TestLimits(t *testing.T) {
	cores := runtime.NumCPU()
	tests := []struct {
		types    []string
		cpus     int
		memMiB   int64
		pids     int64
		from     string
		oomWords string
	}{
		{nil, 2, 4096, 4096, "the default instance size (2 vCPUs, 4 GiB)", "allows 4 GiB"},
		{[]string{"t3.nano"}, 2, 512, 1024, "the instance type t3.nano", "the instance type t3.nano allows 512 MiB"},
		{[]string{"t3.micro", "t3.large"}, 2, 1024, 1024, "the instance type t3.micro", "the instance type t3.micro allows 1 GiB"},
		{[]string{"c7i.24xlarge"}, 96, 196608, 32768, "the instance type c7i.24xlarge", "allows 192 GiB"},
		{[]string{"x9.huge"}, 2, 4096, 4096, "the default instance size (2 vCPUs, 4 GiB; kiln does not know the instance type x9.huge)", "allows 4 GiB"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.types), func(t *testing.T) {
			in := &Instance{B: &engine.Build{Image: awsapi.Image{
				InfrastructureConfiguration: &awsapi.InfrastructureConfiguration{InstanceTypes: tt.types},
			}}}
			got, from := in.limits()
			want := sandbox.Limits{MilliCPU: min(tt.cpus, cores) * 1000, Memory: tt.memMiB << 20, Pids: tt.pids}
			if got != want || from != tt.from {
				t.Errorf("limits = %v from %q, want %v from %q", got, from, want, tt.from)
			}
			err := in.explainOOM("component x", fmt.Errorf("wrapped: %w", sandbox.ErrOutOfMemory))
			if err == nil || !errors.Is(err, sandbox.ErrOutOfMemory) || !strings.Contains(err.Error(), "component x: the build ran out of memory: ") || !strings.Contains(err.Error(), tt.oomWords) {
				t.Errorf("explainOOM = %v", err)
			}
			if in.explainOOM("x", errors.New("other")) != nil {
				t.Error("explainOOM explained another error")
			}
		})
	}
}
