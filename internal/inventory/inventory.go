// Package inventory reads what an image's root file system says about
// itself: the distribution (from os-release) and the installed packages
// (from the dpkg, apk and rpm databases). It is what kiln runs where Image
// Builder's CollectImageMetadata step asks SSM Inventory, and feeds
// Image.osVersion and ListImagePackages.
//
// Everything is read through an fs.FS rooted at the image's root, such as
// os.DirFS(rootDir). Symbolic links are resolved inside that root as a
// chroot would, so a hostile image cannot make kiln read host files. No
// external tools (rpm, dpkg-query) are run.
package inventory

import (
	"cmp"
	"errors"
	"io/fs"
	"slices"
)

// Package managers, as they appear in Package.Source.
const (
	SourceDpkg = "dpkg"
	SourceRPM  = "rpm"
	SourceApk  = "apk"
)

// Package is one installed package.
type Package struct {
	Name string
	// Version is the version as the package manager prints it: dpkg's
	// "[epoch:]upstream[-revision]", apk's "version-rN", and rpm's
	// "[epoch:]version-release" (the epoch shown whenever the header has
	// one, as rpm's %{EVR} does).
	Version string
	Arch    string // "amd64", "x86_64", "noarch", "all"; may be empty
	Source  string // SourceDpkg, SourceRPM or SourceApk

	// SourceName and SourceVersion name the source package the binary
	// package was built from: dpkg's Source field (which carries its own
	// version in parentheses when it differs from Version; no field means
	// the source has the binary's name and version), the name and version
	// in rpm's SOURCERPM (with the binary's epoch), apk's origin (o:, the
	// version being the binary's). Vulnerability records of Debian and
	// Ubuntu name source packages, so a scan needs them. Both are set, or
	// both empty when the database does not say.
	SourceName    string
	SourceVersion string
}

// Packages returns the packages installed in the root file system root,
// from every package database found there:
//   - dpkg: /var/lib/dpkg/status and /var/lib/dpkg/status.d/* (distroless);
//   - apk: /lib/apk/db/installed;
//   - rpm: rpmdb.sqlite (SQLite), Packages.db (NDB) or Packages (Berkeley
//     DB hash) in /var/lib/rpm and /usr/lib/sysimage/rpm.
//
// The result is sorted by name, then version, architecture and source,
// with exact duplicates removed. A root without any database (scratch,
// distroless-static) yields no packages and no error.
//
// If a database is damaged or unreadable the error says which, and the
// result still holds every package that could be read, so callers may
// choose to report a partial inventory.
func Packages(root fs.FS) ([]Package, error) {
	var pkgs []Package
	var errs []error
	for _, read := range []func(fs.FS) ([]Package, error){readDpkg, readApk, readRPM} {
		found, err := read(root)
		pkgs = append(pkgs, found...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	slices.SortFunc(pkgs, comparePackages)
	pkgs = slices.Compact(pkgs)
	return pkgs, errors.Join(errs...)
}

func comparePackages(a, b Package) int {
	return cmp.Or(
		cmp.Compare(a.Name, b.Name),
		cmp.Compare(a.Version, b.Version),
		cmp.Compare(a.Arch, b.Arch),
		cmp.Compare(a.Source, b.Source),
		cmp.Compare(a.SourceName, b.SourceName),
		cmp.Compare(a.SourceVersion, b.SourceVersion),
	)
}
