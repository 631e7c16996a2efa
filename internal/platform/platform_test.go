package platform

import (
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "linux/amd64,linux/arm64", want: []string{"linux/amd64", "linux/arm64"}},
		{in: " linux/arm64/v8 ", want: []string{"linux/arm64/v8"}},
		{in: "linux/arm64, linux/amd64", want: []string{"linux/arm64", "linux/amd64"}},
		{in: "", err: "empty"},
		{in: "linux", err: "not OS/ARCH"},
		{in: "linux/arm64/v8/x", err: "not OS/ARCH"},
		{in: "windows/amd64", err: "linux images only"},
		{in: "linux/riscv64", err: "amd64 and arm64"},
		{in: "linux/amd64/v3", err: "no variant"},
		{in: "linux/arm64/v7", err: "only variant is v8"},
		{in: "linux/arm64,linux/arm64/v8", err: "listed twice"},
		{in: "linux/amd64,", err: "not OS/ARCH"},
	} {
		got, err := Parse(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		var names []string
		for _, p := range got {
			names = append(names, String(p))
		}
		if !slices.Equal(names, tc.want) {
			t.Errorf("Parse(%q) = %v, want %v", tc.in, names, tc.want)
		}
	}
}

func TestSameArchAndEC2(t *testing.T) {
	v8 := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	for _, tc := range []struct {
		p, q v1.Platform
		same bool
	}{
		{LinuxARM64, v8, true},
		{LinuxARM64, LinuxAMD64, false},
		{LinuxAMD64, LinuxAMD64, true},
	} {
		if got := SameArch(tc.p, tc.q); got != tc.same {
			t.Errorf("SameArch(%v, %v) = %v", tc.p, tc.q, got)
		}
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		p, ok := ForEC2Arch(arch)
		if !ok || EC2Arch(p) != arch {
			t.Errorf("ForEC2Arch(%q) = %v, %v; EC2Arch back = %q", arch, p, ok, EC2Arch(p))
		}
	}
	if _, ok := ForEC2Arch("mips"); ok {
		t.Error("ForEC2Arch(mips) succeeded")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"linux/amd64,linux/arm64", "linux/arm64/v8", "", ",,", "linux//", "linux/arm64,linux/arm64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := Parse(s)
		if err != nil {
			return
		}
		if len(ps) == 0 || len(ps) > maxPlatforms {
			t.Fatalf("Parse(%q) gave %d platforms", s, len(ps))
		}
		// What Parse accepts prints back to a list it accepts the same.
		var names []string
		for _, p := range ps {
			names = append(names, String(p))
		}
		again, err := Parse(strings.Join(names, ","))
		if err != nil || !slices.EqualFunc(again, ps, func(a, b v1.Platform) bool { return a.Equals(b) }) {
			t.Fatalf("Parse(%q) = %v, but its printing parses to %v, %v", s, ps, again, err)
		}
	})
}
