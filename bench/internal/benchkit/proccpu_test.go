package benchkit

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name, stat string
		want       time.Duration
	}{
		{"plain", "683 (kiln) S 675 683 675 0 -1 4194560 100 0 0 0 700 33 0 0 20 0 9 0 1 2 3", 733 * clockTick},
		{"name with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0", 11 * clockTick},
		{"truncated", "7 (x) R 1 2", 0},
		{"no name", "garbage", 0},
		{"not numbers", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 a b 0 0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseStatCPU(tt.stat); got != tt.want {
				t.Errorf("parseStatCPU = %v; want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("683 (kiln) S 675 683 675 0 -1 4194560 100 0 0 0 700 33 0 0 20 0 9 0 1 2 3")
	f.Add("7 (a) b) R")
	f.Fuzz(func(t *testing.T, stat string) {
		if got := parseStatCPU(stat); got < 0 {
			t.Errorf("parseStatCPU(%q) = %v, negative", stat, got)
		}
	})
}

func TestProcessCPUOfSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if got := ProcessCPU(os.Getpid()); got < 0 {
		t.Errorf("ProcessCPU(self) = %v", got)
	}
	if got := ProcessCPU(-1); got != 0 {
		t.Errorf("ProcessCPU(-1) = %v; want 0", got)
	}
}
