package instancetype

import "testing"

func TestLookup(t *testing.T) {
	tests := []struct {
		name string
		want Size
		ok   bool
	}{
		{"t3.medium", Size{2, 4096}, true},
		{"t3.micro", Size{2, 1024}, true},
		{"t3a.nano", Size{2, 512}, true},
		{"t4g.2xlarge", Size{8, 32768}, true},
		{"t2.micro", Size{1, 1024}, true},
		{"m5.large", Size{2, 8192}, true},
		{"m7i.4xlarge", Size{16, 65536}, true},
		{"m7g.medium", Size{1, 4096}, true},
		{"c5.9xlarge", Size{36, 73728}, true},
		{"c7g.xlarge", Size{4, 8192}, true},
		{"c6i.24xlarge", Size{96, 196608}, true},
		{"r6i.large", Size{2, 16384}, true},
		{"R5.XLARGE", Size{4, 32768}, true},
		{"m5.medium", Size{}, false},
		{"c6i.9xlarge", Size{}, false},
		{"m5.3xlarge", Size{}, false},
		{"p4d.24xlarge", Size{}, false},
		{"t3", Size{}, false},
		{"", Size{}, false},
		{"t3.", Size{}, false},
		{"m5.xxlarge", Size{}, false},
	}
	for _, tt := range tests {
		got, ok := Lookup(tt.name)
		if ok != tt.ok || got != tt.want {
			t.Errorf("Lookup(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

func TestMemory(t *testing.T) {
	for s, want := range map[Size]string{{2, 4096}: "4 GiB", {2, 512}: "512 MiB", {1, 1536}: "1536 MiB"} {
		if got := s.Memory(); got != want {
			t.Errorf("%v: %q, want %q", s, got, want)
		}
	}
}

func FuzzLookup(f *testing.F) {
	for _, s := range []string{"t3.medium", "c5.18xlarge", "m7g.medium", "x.-1xlarge", "m5.0xlarge"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		s, ok := Lookup(name)
		if ok && (s.VCPU <= 0 || s.MemoryMiB <= 0) {
			t.Fatalf("Lookup(%q) = %v", name, s)
		}
		if !ok && s != (Size{}) {
			t.Fatalf("Lookup(%q) failed with %v", name, s)
		}
	})
}
