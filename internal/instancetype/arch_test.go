package instancetype

import "testing"

func TestArchitecture(t *testing.T) {
	tests := []struct{ name, want string }{
		{"t4g.micro", "arm64"},
		{"c7g.large", "arm64"},
		{"m7g.medium", "arm64"},
		{"c6gn.16xlarge", "arm64"},
		{"m6gd.xlarge", "arm64"},
		{"r8g.2xlarge", "arm64"},
		{"x2gd.medium", "arm64"},
		{"im4gn.large", "arm64"},
		{"is4gen.xlarge", "arm64"},
		{"g5g.xlarge", "arm64"},
		{"hpc7g.4xlarge", "arm64"},
		{"a1.metal", "arm64"},
		{"mac2-m2pro.metal", "arm64"},
		{"mac1.metal", "x86_64"},
		{"t3.medium", "x86_64"},
		{"t2.micro", "x86_64"},
		{"m5.large", "x86_64"},
		{"c6i.24xlarge", "x86_64"},
		{"r7a.large", "x86_64"},
		{"p4d.24xlarge", "x86_64"},
		{"g4dn.xlarge", "x86_64"},
		{"m7i-flex.large", "x86_64"},
		{"inf2.xlarge", "x86_64"},
		{"M7G.LARGE", "arm64"},
		{"t3", ""},
		{"t3.", ""},
		{"", ""},
		{"9x.large", ""},
		{"m.large", ""},
		{"m5_x.large", ""},
	}
	for _, tt := range tests {
		if got := Architecture(tt.name); got != tt.want {
			t.Errorf("Architecture(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func FuzzArchitecture(f *testing.F) {
	f.Add("c7g.large")
	f.Add("mac2-m2.metal")
	f.Fuzz(func(t *testing.T, s string) {
		switch Architecture(s) {
		case "", "arm64", "x86_64":
		default:
			t.Fatalf("Architecture(%q) gave an unknown architecture", s)
		}
	})
}
