package main

import (
	"testing"
	"time"
)

func TestParseStatusKiB(t *testing.T) {
	status := "Name:\tkiln\nVmPeak:\t  812344 kB\nVmHWM:\t   90112 kB\nVmRSS:\t   61440 kB\n"
	for _, c := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"VmHWM", 90112, true},
		{"VmRSS", 61440, true},
		{"VmSwap", 0, false},
	} {
		got, err := parseStatusKiB(status, c.field)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("parseStatusKiB(%s) = %d, %v; want %d, ok %v", c.field, got, err, c.want, c.ok)
		}
	}
	for _, bad := range []string{"VmRSS: 12 MB\n", "VmRSS: -1 kB\n", "VmRSS: x kB\n", "VmRSS:\n"} {
		if _, err := parseStatusKiB(bad, "VmRSS"); err == nil {
			t.Errorf("parseStatusKiB(%q) accepted", bad)
		}
	}
}

func FuzzParseStatusKiB(f *testing.F) {
	f.Add("VmHWM:\t   90112 kB\n")
	f.Add("VmHWM: 1 kB")
	f.Fuzz(func(t *testing.T, status string) {
		if n, err := parseStatusKiB(status, "VmHWM"); err == nil && n < 0 {
			t.Errorf("parseStatusKiB(%q) = %d", status, n)
		}
	})
}

func TestParseStatCPU(t *testing.T) {
	line := "4242 (kiln (serve)) S 1 4242 4242 0 -1 4194560 2914 0 0 0 250 75 0 0 20 0 9 0 1234 812344 15360 18446744073709551615"
	if got, err := parseStatCPU(line); err != nil || got != 3250*time.Millisecond {
		t.Errorf("parseStatCPU = %v, %v; want 3.25s", got, err)
	}
	for _, bad := range []string{"", "4242 kiln S", "1 (x) S 1 2 3", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 3"} {
		if _, err := parseStatCPU(bad); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("4242 (kiln) S 1 4242 4242 0 -1 4194560 2914 0 0 0 250 75 0 0")
	f.Fuzz(func(t *testing.T, line string) {
		if d, err := parseStatCPU(line); err == nil && d < 0 {
			t.Errorf("parseStatCPU(%q) = %v", line, d)
		}
	})
}
