package vulndb

import (
	"strings"

	"github.com/kiln-build/kiln/internal/inventory"
	"github.com/kiln-build/kiln/internal/pkgversion"
)

// EcosystemFor returns the OSV ecosystem, with its release, of a root file
// system's distribution as its os-release describes it: "Debian:12",
// "Ubuntu:22.04:LTS" (OSV marks LTS releases), "Alpine:v3.20",
// "Rocky Linux:9", "AlmaLinux:9", "Mageia:9", "Wolfi", "Chainguard". It is
// "" when OSV has no ecosystem kiln can name for it (Debian testing has
// no VERSION_ID; Red Hat's ecosystems are CPE product streams and SUSE's
// are marketing names that os-release does not carry reliably), and
// then nothing matches.
func EcosystemFor(os inventory.OS) string {
	v := os.VersionID
	major, _, _ := strings.Cut(v, ".")
	switch os.ID {
	case "debian":
		if major == "" {
			return ""
		}
		return "Debian:" + major
	case "ubuntu":
		parts := strings.Split(v, ".")
		if len(parts) < 2 {
			return ""
		}
		release := parts[0] + "." + parts[1]
		if ubuntuLTS(parts[0], parts[1], os.PrettyName) {
			return "Ubuntu:" + release + ":LTS"
		}
		return "Ubuntu:" + release
	case "alpine":
		parts := strings.Split(v, ".")
		if len(parts) < 2 {
			return ""
		}
		return "Alpine:v" + parts[0] + "." + parts[1]
	case "rocky":
		if major == "" {
			return ""
		}
		return "Rocky Linux:" + major
	case "almalinux":
		if major == "" {
			return ""
		}
		return "AlmaLinux:" + major
	case "mageia":
		if major == "" {
			return ""
		}
		return "Mageia:" + major
	case "wolfi":
		return "Wolfi"
	case "chainguard":
		return "Chainguard"
	}
	return ""
}

// ubuntuLTS: PRETTY_NAME says "LTS" on LTS releases ("Ubuntu 22.04.5
// LTS"); when it is missing, the rule that LTS releases are the April
// releases of even years decides.
func ubuntuLTS(year, month, pretty string) bool {
	if strings.Contains(pretty, "LTS") {
		return true
	}
	if pretty != "" {
		return false
	}
	n := len(year)
	return month == "04" && n > 0 && (year[n-1]-'0')%2 == 0
}

// ecosystemBase is the ecosystem's name without its release:
// "Debian:12" → "Debian".
func ecosystemBase(eco string) string {
	base, _, _ := strings.Cut(eco, ":")
	return base
}

// versionKind is the version scheme of an ecosystem's packages; ok is
// false for ecosystems kiln cannot order versions of.
func versionKind(eco string) (pkgversion.Kind, bool) {
	switch ecosystemBase(eco) {
	case "Debian", "Ubuntu":
		return pkgversion.Dpkg, true
	case "Alpine", "Wolfi", "Chainguard":
		return pkgversion.APK, true
	case "Rocky Linux", "AlmaLinux", "Mageia", "Red Hat", "SUSE", "openSUSE", "openEuler", "Photon OS", "Azure Linux":
		return pkgversion.RPM, true
	}
	return 0, false
}

// sourceNamed reports whether an ecosystem's records name source packages
// only (as the OSV schema says of Debian, Ubuntu, Rocky Linux, Mageia,
// SUSE and openSUSE; Alpine's secdb is per aports origin). Elsewhere a
// record may name binary or source packages, and both are looked up.
func sourceNamed(eco string) bool {
	switch ecosystemBase(eco) {
	case "Debian", "Ubuntu", "Alpine", "Rocky Linux", "Mageia", "SUSE", "openSUSE":
		return true
	}
	return false
}

// PackagesFor turns an image's inventory into the packages to match in
// ecosystem.
func PackagesFor(ecosystem string, pkgs []inventory.Package) []Package {
	out := make([]Package, 0, len(pkgs))
	for _, p := range pkgs {
		out = append(out, Package{
			Name: p.Name, Version: p.Version,
			SourceName: p.SourceName, SourceVersion: p.SourceVersion,
			Ecosystem: ecosystem,
		})
	}
	return out
}
