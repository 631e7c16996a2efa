package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of a process's CPU time and memory.
type procSample struct {
	At     time.Time
	CPU    time.Duration // utime + stime since the process started
	RSSKiB int64         // VmRSS
}

// parseStatCPU returns utime+stime of a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces and parentheses,
// so fields are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in /proc stat line")
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state(3) ... utime(14) stime(15), so indexes 11, 12.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat line has %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("/proc stat: bad CPU time %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseVmRSS returns the VmRSS line of /proc/PID/status in KiB.
func parseVmRSS(status string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc status: VmRSS line %q", line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("/proc status: VmRSS line %q", line)
		}
		return n, nil
	}
	return 0, fmt.Errorf("/proc status has no VmRSS line")
}

func readSample(pid int) (procSample, error) {
	now := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseStatCPU(string(stat))
	if err != nil {
		return procSample{}, err
	}
	rss, err := parseVmRSS(string(status))
	if err != nil {
		return procSample{}, err
	}
	return procSample{At: now, CPU: cpu, RSSKiB: rss}, nil
}

// sample reads pid's CPU time and memory once a second for d, starting
// now, and returns the readings (the first at the start, the last at the
// end).
func sample(ctx context.Context, pid int, d time.Duration) ([]procSample, error) {
	first, err := readSample(pid)
	if err != nil {
		return nil, err
	}
	out := []procSample{first}
	end := first.At.Add(d)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		s, err := readSample(pid)
		if err != nil {
			return nil, fmt.Errorf("kiln (pid %d) is gone? %w", pid, err)
		}
		out = append(out, s)
		if !s.At.Before(end.Add(-100 * time.Millisecond)) {
			return out, nil
		}
	}
}
