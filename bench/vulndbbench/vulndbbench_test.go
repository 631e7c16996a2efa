package main

import "testing"

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
