package benchkit

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// LoadAverage returns the 1-minute load average, or -1 if unknown. Other
// work on the machine skews every number a benchmark takes, so reports
// state it before and after a run.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}

// Busy reports whether a load average says other work had more than half
// the machine's CPUs: the threshold above which the reports warn that
// their numbers are skewed.
func Busy(load float64) bool {
	return load > float64(runtime.NumCPU())/2
}

// CPUModel returns the first "model name" of /proc/cpuinfo, or "unknown".
func CPUModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// KernelRelease returns the running kernel's release, or "" if unknown.
func KernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// CommandOutput runs name with args and returns its standard output,
// trimmed, or ifFailed when it cannot run or fails: reports name the
// versions of the tools they measured, and a missing tool must not stop
// the report.
func CommandOutput(ifFailed, name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return ifFailed
	}
	return strings.TrimSpace(string(out))
}
