package inventory

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const dpkgStatus = `Package: base-files
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 340
Maintainer: Santiago Vila <sanvila@debian.org>
Architecture: amd64
Multi-Arch: foreign
Version: 12.4+deb12u5
Replaces: base, dpkg (<= 1.15.0), miscutils
Provides: base
Conffiles:
 /etc/debian_version 9e2ad8b8e3e3a5d7d2cde8fd6e2b0b4a
 /etc/dpkg/origins/debian c47b6815f67ad1aeccb0d4529bd0b990
Description: Debian base system miscellaneous files
 This package contains the basic filesystem hierarchy of a Debian system.
Homepage: https://tracker.debian.org/pkg/base-files

Package: removed-but-configured
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libc6
Status: install ok installed
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u7

Package: pinned
Status: hold ok installed
Architecture: all
Version: 1:2.0-1

Package: libbinnmu1
Status: install ok installed
Architecture: amd64
Source: binnmu-src (1:2.0-1)
Version: 1:2.0-1+b2

Package: half
Status: install reinstreq half-installed
Version: 3

package: lower-case-fields
status: install ok installed
version: 0.1
architecture: arm64
`

func TestParseDpkgStatus(t *testing.T) {
	got := parseDpkgStatus(dpkgStatus, false)
	want := []Package{
		{Name: "base-files", Version: "12.4+deb12u5", Arch: "amd64", Source: SourceDpkg, SourceName: "base-files", SourceVersion: "12.4+deb12u5"},
		{Name: "libc6", Version: "2.36-9+deb12u7", Arch: "amd64", Source: SourceDpkg, SourceName: "glibc", SourceVersion: "2.36-9+deb12u7"},
		{Name: "pinned", Version: "1:2.0-1", Arch: "all", Source: SourceDpkg, SourceName: "pinned", SourceVersion: "1:2.0-1"},
		{Name: "libbinnmu1", Version: "1:2.0-1+b2", Arch: "amd64", Source: SourceDpkg, SourceName: "binnmu-src", SourceVersion: "1:2.0-1"},
		{Name: "lower-case-fields", Version: "0.1", Arch: "arm64", Source: SourceDpkg, SourceName: "lower-case-fields", SourceVersion: "0.1"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseDpkgStatus =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseDpkgStatusDir(t *testing.T) {
	// Distroless writes stanzas without Status into status.d; in the main
	// status file the same stanza is not an installed package.
	const stanza = "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n"
	if got := parseDpkgStatus(stanza, true); len(got) != 1 || got[0].Name != "tzdata" {
		t.Errorf("status.d stanza without Status: got %+v, want tzdata", got)
	}
	if got := parseDpkgStatus(stanza, false); len(got) != 0 {
		t.Errorf("status stanza without Status: got %+v, want none", got)
	}
	if got := parseDpkgStatus(stanza+"Status: deinstall ok config-files\n", true); len(got) != 0 {
		t.Errorf("status.d stanza with config-files Status: got %+v, want none", got)
	}
}

const apkInstalled = `C:Q1mXtEe1r6kKp2u0tFNgq9y0lYQ7U=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:407278
I:663552
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teräs <timo.teras@iki.fi>
t:1705413484
c:e57b47b8d3ba6b4f1d0d4b7c5d6d1e2f3a4b5c6d
p:so:libc.musl-x86_64.so.1=1
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1yBmf3fXzB3KtQNLtWgEbtDbAGTM=

C:Q1abc=
P:busybox
V:1.36.1-r15
A:x86_64
F:bin
R:busybox

V:9
A:noname-record-is-skipped
`

func TestParseApkInstalled(t *testing.T) {
	got := parseApkInstalled(apkInstalled)
	want := []Package{
		{Name: "musl", Version: "1.2.4_git20230717-r4", Arch: "x86_64", Source: SourceApk, SourceName: "musl", SourceVersion: "1.2.4_git20230717-r4"},
		{Name: "busybox", Version: "1.36.1-r15", Arch: "x86_64", Source: SourceApk},
	}
	if !slices.Equal(got, want) {
		t.Errorf("parseApkInstalled =\n%+v\nwant\n%+v", got, want)
	}
}

func TestReadDpkgDistroless(t *testing.T) {
	root := fstest.MapFS{
		"var/lib/dpkg/status.d/base":          {Data: []byte("Package: base-files\nVersion: 12.4\nArchitecture: amd64\n")},
		"var/lib/dpkg/status.d/base.md5sums":  {Data: []byte("Package: not-a-package\n")},
		"var/lib/dpkg/status.d/tzdata":        {Data: []byte("Package: tzdata\nVersion: 2024a\nArchitecture: all\n")},
		"var/lib/dpkg/status.d/.hidden":       {Data: []byte("Package: hidden\n")},
		"var/lib/dpkg/status.d/subdir/nested": {Data: []byte("Package: nested\n")},
	}
	got, err := readDpkg(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "base-files", Version: "12.4", Arch: "amd64", Source: SourceDpkg, SourceName: "base-files", SourceVersion: "12.4"},
		{Name: "tzdata", Version: "2024a", Arch: "all", Source: SourceDpkg, SourceName: "tzdata", SourceVersion: "2024a"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("readDpkg =\n%+v\nwant\n%+v", got, want)
	}
}

func FuzzParseDpkgStatus(f *testing.F) {
	f.Add(dpkgStatus, false)
	f.Add("Package: a\n", true)
	f.Add("Package:\r\n\r\nStatus: x y installed\n \n", false)
	f.Fuzz(func(t *testing.T, text string, statusDir bool) {
		for _, p := range parseDpkgStatus(text, statusDir) {
			if p.Name == "" || p.Source != SourceDpkg {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

func FuzzParseApkInstalled(f *testing.F) {
	f.Add(apkInstalled)
	f.Add("P:x\r\nV:1\r\n")
	f.Add("P:\n\nP")
	f.Fuzz(func(t *testing.T, text string) {
		for _, p := range parseApkInstalled(text) {
			if p.Name == "" || p.Source != SourceApk {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

func TestDpkgSource(t *testing.T) {
	for _, c := range []struct {
		field, name, version, wantName, wantVersion string
	}{
		{"", "bash", "5.2.15-2+b7", "bash", "5.2.15-2+b7"},
		{"glibc", "libc6", "2.36-9+deb12u7", "glibc", "2.36-9+deb12u7"},
		{"openssl (3.0.15-1~deb12u1)", "libssl3", "3.0.15-1~deb12u1+b1", "openssl", "3.0.15-1~deb12u1"},
		{"  util-linux   ( 2.38.1-5 ) ", "libblkid1", "2.38.1-5+deb12u1", "util-linux", "2.38.1-5"},
		{"broken (", "x", "1", "broken", "1"},
		{"empty ()", "x", "1", "empty", "1"},
	} {
		gotName, gotVersion := dpkgSource(c.field, c.name, c.version)
		if gotName != c.wantName || gotVersion != c.wantVersion {
			t.Errorf("dpkgSource(%q, %q, %q) = %q, %q; want %q, %q", c.field, c.name, c.version, gotName, gotVersion, c.wantName, c.wantVersion)
		}
	}
}

func FuzzDpkgSource(f *testing.F) {
	for _, s := range []string{"", "glibc", "openssl (3.0.15-1~deb12u1)", "a (", "a ()", " ( ) "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, field string) {
		name, version := dpkgSource(field, "bin", "1.0")
		if name == "" && strings.TrimSpace(field) != "" {
			t.Errorf("dpkgSource(%q) lost the name", field)
		}
		if version == "" {
			t.Errorf("dpkgSource(%q) gave no version", field)
		}
	})
}
