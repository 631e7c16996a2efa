package vulndb

import (
	"github.com/kiln-build/kiln/internal/inventory"
)

// EcosystemFor returns the OSV ecosystem, with its release, of a root file
// system's distribution, e.g. "Debian:12" for ID=debian VERSION_ID=12;
// "" when OSV has no ecosystem for it (then nothing can match).
func EcosystemFor(os inventory.OS) string {
	return "" // TODO
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
