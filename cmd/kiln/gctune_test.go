package main

import "testing"

func TestMemTotal(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want int64
	}{
		{"debian", "MemTotal:       24567892 kB\nMemFree:         1234 kB\n", 24567892 << 10},
		{"second line", "Foo: 1 kB\nMemTotal: 2048 kB\n", 2048 << 10},
		{"missing", "MemFree: 1 kB\n", -1},
		{"no unit", "MemTotal: 2048\n", -1},
		{"other unit", "MemTotal: 2048 MB\n", -1},
		{"negative", "MemTotal: -5 kB\n", -1},
		{"huge", "MemTotal: 99999999999999999999 kB\n", -1},
		{"empty", "", -1},
	} {
		if got := memTotal([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: memTotal = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestCgroupFiles(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"0::/system.slice/kiln.service\n", "/system.slice/kiln.service", true},
		{"0::/\n", "", true},
		{"12:memory:/docker/abc\n1:name=systemd:/x\n", "", false},
		{"0::/a/../../etc\n", "", false},
		{"0::relative\n", "", false},
		{"", "", false},
	} {
		got, ok := cgroupV2Path([]byte(tc.in))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("cgroupV2Path(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
	for _, tc := range []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"max\n", 0, false},
		{"1073741824\n", 1 << 30, true},
		{"0\n", 0, false},
		{"junk", 0, false},
	} {
		got, ok := cgroupMemoryMax([]byte(tc.in))
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("cgroupMemoryMax(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.wantOK)
		}
	}
}

func FuzzMemoryFiles(f *testing.F) {
	f.Add([]byte("MemTotal: 1024 kB\n0::/x\n"))
	f.Add([]byte("max"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if n := memTotal(data); n < -1 || (n >= 0 && n%1024 != 0) {
			t.Fatalf("memTotal = %d", n)
		}
		if p, ok := cgroupV2Path(data); ok && (len(p) > 0 && p[0] != '/') {
			t.Fatalf("cgroupV2Path = %q", p)
		}
		if n, ok := cgroupMemoryMax(data); ok && n <= 0 {
			t.Fatalf("cgroupMemoryMax = %d", n)
		}
	})
}
