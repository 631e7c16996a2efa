//go:build linux

package sandbox

import "testing"

func TestParseMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"max\n", 0, false},
		{"1073741824\n", 1 << 30, true},
		{"0\n", 0, false},
		{"-5\n", 0, false},
		{"junk", 0, false},
		{"", 0, false},
		{"9223372036854771712\n", 0, false}, // cgroup v1's "no limit"
	} {
		got, ok := parseMemoryLimit([]byte(tc.in))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

// TestOwnMemoryLimit reads this process's own cgroup: whatever the host,
// a limit it reports is positive.
func TestOwnMemoryLimit(t *testing.T) {
	if n, ok := OwnMemoryLimit(); ok && n <= 0 {
		t.Fatalf("OwnMemoryLimit = %d, true", n)
	}
}

func FuzzParseMemoryLimit(f *testing.F) {
	f.Add([]byte("max"))
	f.Add([]byte("1073741824\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if n, ok := parseMemoryLimit(data); ok && n <= 0 {
			t.Fatalf("parseMemoryLimit = %d, true", n)
		}
	})
}
