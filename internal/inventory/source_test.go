package inventory

import (
	"strings"
	"testing"
)

func TestSplitSourceRPM(t *testing.T) {
	for _, c := range []struct {
		file, name, vr string
		ok             bool
	}{
		{"openssl-3.0.7-27.el9.src.rpm", "openssl", "3.0.7-27.el9", true},
		{"python3.11-setuptools-65.5.1-2.el9.src.rpm", "python3.11-setuptools", "65.5.1-2.el9", true},
		{"kernel-5.14.0-427.13.1.el9_4.nosrc.rpm", "kernel", "5.14.0-427.13.1.el9_4", true},
		{"", "", "", false},
		{"openssl-3.0.7-27.el9.x86_64.rpm", "", "", false},
		{"noversion.src.rpm", "", "", false},
		{"-1-2.src.rpm", "", "", false},
		{"a--2.src.rpm", "", "", false},
		{"a-1-.src.rpm", "", "", false},
	} {
		name, vr, ok := splitSourceRPM(c.file)
		if name != c.name || vr != c.vr || ok != c.ok {
			t.Errorf("splitSourceRPM(%q) = %q, %q, %v; want %q, %q, %v", c.file, name, vr, ok, c.name, c.vr, c.ok)
		}
	}
}

func FuzzSplitSourceRPM(f *testing.F) {
	for _, s := range []string{"openssl-3.0.7-27.el9.src.rpm", "a-b-c.nosrc.rpm", "--.src.rpm", ".src.rpm"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		name, vr, ok := splitSourceRPM(file)
		if !ok {
			return
		}
		if name == "" || strings.Count(vr, "-") != 1 || strings.HasPrefix(vr, "-") || strings.HasSuffix(vr, "-") {
			t.Errorf("splitSourceRPM(%q) = %q, %q", file, name, vr)
		}
		if !strings.HasPrefix(file, name+"-"+vr+".") {
			t.Errorf("splitSourceRPM(%q) = %q, %q: not the file's parts", file, name, vr)
		}
	})
}

// TestRPMSourcePackage: SOURCERPM gives the source package, with the
// binary's epoch.
func TestRPMSourcePackage(t *testing.T) {
	epoch := int32(1)
	blob := encodeRPMHeader([]rpmHeaderEntry{
		{tag: rpmTagName, typ: rpmTypeString, value: "openssl-libs"},
		{tag: rpmTagVersion, typ: rpmTypeString, value: "3.0.7"},
		{tag: rpmTagRelease, typ: rpmTypeString, value: "27.el9"},
		{tag: rpmTagEpoch, typ: rpmTypeInt32, value: epoch},
		{tag: rpmTagArch, typ: rpmTypeString, value: "x86_64"},
		{tag: rpmTagSourceRPM, typ: rpmTypeString, value: "openssl-3.0.7-27.el9.src.rpm"},
	})
	pkgs, err := rpmPackagesFromBlobs([][]byte{blob})
	if err != nil {
		t.Fatal(err)
	}
	want := Package{Name: "openssl-libs", Version: "1:3.0.7-27.el9", Arch: "x86_64", Source: SourceRPM, SourceName: "openssl", SourceVersion: "1:3.0.7-27.el9"}
	if len(pkgs) != 1 || pkgs[0] != want {
		t.Errorf("rpmPackagesFromBlobs = %+v, want [%+v]", pkgs, want)
	}
}
