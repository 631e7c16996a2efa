// Package pkgversion orders the version strings of distribution package
// managers the way the managers themselves do: dpkg (Debian, Ubuntu), rpm
// (RHEL, Rocky Linux, AlmaLinux, Fedora, SUSE, Amazon Linux) and apk
// (Alpine, Wolfi). A vulnerability record says "fixed in 1:2.3-4"; whether
// an installed "1:2.3-4~deb12u1" is before it depends on exactly these
// rules, and a plain string or semver comparison gets them wrong.
//
// Every comparison is total: any two strings, however malformed, compare
// without error, the way the tools themselves degrade, so one odd version
// in an image never stops a scan.
package pkgversion

import "fmt"

// Kind names a package manager's version scheme.
type Kind int

const (
	// Dpkg is Debian's scheme: [epoch:]upstream[-revision], with "~"
	// sorting before everything, even the end of the string.
	Dpkg Kind = iota + 1
	// RPM is rpm's: [epoch:]version[-release], compared with rpmvercmp
	// (alphanumeric segments, "~" before anything, "^" after the end only).
	RPM
	// APK is apk-tools': digits.digits...[letter][_suffixN...][-rN].
	APK
)

// String returns the scheme's name.
func (k Kind) String() string {
	switch k {
	case Dpkg:
		return "dpkg"
	case RPM:
		return "rpm"
	case APK:
		return "apk"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Compare returns -1 when a is older than b, 0 when the package manager
// considers them the same version and +1 when a is newer. An unknown kind
// compares byte-wise, which is at least a total order.
func Compare(kind Kind, a, b string) int {
	switch kind {
	case Dpkg:
		return compareDpkg(a, b)
	case RPM:
		return compareRPM(a, b)
	case APK:
		return compareAPK(a, b)
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
