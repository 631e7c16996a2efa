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

func FuzzMemTotal(f *testing.F) {
	f.Add([]byte("MemTotal: 1024 kB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if n := memTotal(data); n < -1 || (n >= 0 && n%1024 != 0) {
			t.Fatalf("memTotal = %d", n)
		}
	})
}
