package catalog_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/catalog"
	"github.com/kiln-build/kiln/internal/semver"
)

// TestImages checks every built-in parent image has what the service
// needs to seed and resolve it: an ARN-safe name, a semantic version, a
// known type and platform, an OS version, and an architecture matching
// the name's suffix.
func TestImages(t *testing.T) {
	imgs := catalog.Images()
	if len(imgs) < 6 {
		t.Fatalf("only %d built-in images", len(imgs))
	}
	name := regexp.MustCompile(`^[a-z0-9-]+$`)
	if !slices.IsSortedFunc(imgs, func(a, b catalog.Image) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("images are not sorted by name")
	}
	for i, img := range imgs {
		if i > 0 && imgs[i-1].Name == img.Name {
			t.Errorf("%s listed twice", img.Name)
		}
		if !name.MatchString(img.Name) {
			t.Errorf("%s: name is not ARN-safe", img.Name)
		}
		if _, err := semver.Parse(img.Version); err != nil {
			t.Errorf("%s: version %q: %v", img.Name, img.Version, err)
		}
		if img.Type != "AMI" && img.Type != "DOCKER" {
			t.Errorf("%s: type %q", img.Name, img.Type)
		}
		if img.Platform != "Linux" || img.OsVersion == "" {
			t.Errorf("%s: platform %q, osVersion %q", img.Name, img.Platform, img.OsVersion)
		}
		wantArch := "x86_64"
		if strings.Contains(img.Name, "arm64") {
			wantArch = "arm64"
		}
		if img.Architecture != wantArch {
			t.Errorf("%s: architecture %q, want %q", img.Name, img.Architecture, wantArch)
		}
	}
	imgs[0].Name = "changed"
	if catalog.Images()[0].Name == "changed" {
		t.Error("Images returns the package's own slice")
	}
}
