package inventory

import (
	"encoding/binary"
	"os"
	"slices"
	"testing"
	"testing/fstest"
)

func TestPackagesEveryDatabase(t *testing.T) {
	root := fstest.MapFS{
		"etc/os-release":                {Data: []byte("ID=debian\nVERSION_ID=12\n")},
		"var/lib/dpkg/status":           {Data: []byte("Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13\nArchitecture: amd64\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.15-2\nArchitecture: amd64\n")},
		"var/lib/dpkg/status.d/zlib1g":  {Data: []byte("Package: zlib1g\nVersion: 1:1.2.13\nArchitecture: amd64\n")},
		"lib/apk/db/installed":          {Data: []byte("P:apk-tools\nV:2.14.0-r5\nA:x86_64\n")},
		"var/lib/rpm/rpmdb.sqlite":      {Data: sqliteFile(t, rpmTestBlobs()[:1])},
		"usr/lib/sysimage/rpm/Packages": {Data: encodeBDB(rpmTestBlobs()[1:2], binary.LittleEndian, 4096)},
	}
	got, err := Packages(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []Package{
		{Name: "apk-tools", Version: "2.14.0-r5", Arch: "x86_64", Source: SourceApk},
		{Name: "bash", Version: "5.2.15-2", Arch: "amd64", Source: SourceDpkg, SourceName: "bash", SourceVersion: "5.2.15-2"},
		{Name: "bash", Version: "5.2.15-2.amzn2023.0.2", Arch: "x86_64", Source: SourceRPM},
		{Name: "openssl-libs", Version: "1:3.0.8-1.amzn2023.0.14", Arch: "x86_64", Source: SourceRPM},
		{Name: "zlib1g", Version: "1:1.2.13", Arch: "amd64", Source: SourceDpkg, SourceName: "zlib1g", SourceVersion: "1:1.2.13"}, // once, though listed twice
	}
	if !slices.Equal(got, want) {
		t.Errorf("Packages =\n%+v\nwant\n%+v", got, want)
	}
}

func TestPackagesEmptyRoot(t *testing.T) {
	got, err := Packages(fstest.MapFS{"app": {Data: []byte("static binary")}})
	if err != nil || len(got) != 0 {
		t.Errorf("Packages(scratch) = %+v, %v; want none", got, err)
	}
}

// TestHostRoot reads the machine's own root as a smoke test of real
// databases; it is skipped where the host has none.
func TestHostRoot(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("host has no dpkg database")
	}
	root := os.DirFS("/")
	o, err := ReadOS(root)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID == "" || o.ImageBuilderVersion() == "" {
		t.Errorf("ReadOS(/) = %+v (%q), want an ID", o, o.ImageBuilderVersion())
	}
	pkgs, err := Packages(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pkgs, func(p Package) bool {
		return p.Name == "bash" && p.Source == SourceDpkg && p.Version != "" && p.Arch != ""
	}) {
		t.Errorf("Packages(/) has no dpkg bash among %d packages", len(pkgs))
	}
	if !slices.IsSortedFunc(pkgs, comparePackages) {
		t.Error("Packages(/) is not sorted")
	}
}
