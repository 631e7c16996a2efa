// Package platform names the OS/architecture pairs kiln builds container
// images for, as OCI image indexes and `docker build --platform` name them
// ("linux/amd64", "linux/arm64/v8"), and reads the kiln:platforms recipe
// tag through which a container recipe asks for more than one.
//
// Image Builder has no way to ask for a multi-architecture container
// image: a build makes one image for the architecture of its instance
// type. kiln's extension is a recipe tag, so a recipe that uses it stays a
// valid Image Builder recipe (AWS ignores the tag).
package platform

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Tag is the container recipe tag listing the platforms to build, e.g.
// "linux/amd64,linux/arm64": the build makes one image per platform, in
// turn, and pushes an OCI image index of them under the recipe's tag.
const Tag = "kiln:platforms"

// maxPlatforms bounds a list: kiln builds for two architectures.
const maxPlatforms = 4

// The platforms kiln can build.
var (
	LinuxAMD64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	LinuxARM64 = v1.Platform{OS: "linux", Architecture: "arm64"}
)

// Parse reads a comma-separated list of platforms, each OS/ARCH or
// OS/ARCH/VARIANT. Only linux on amd64 and arm64 (variant v8, the only
// one there is) are accepted; a platform may not be listed twice. The
// error says which entry is wrong and what is accepted.
func Parse(list string) ([]v1.Platform, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("the list of platforms is empty; give e.g. linux/amd64,linux/arm64")
	}
	var out []v1.Platform
	for _, item := range strings.Split(list, ",") {
		p, err := ParseOne(strings.TrimSpace(item))
		if err != nil {
			return nil, err
		}
		if slices.ContainsFunc(out, func(q v1.Platform) bool { return SameArch(p, q) }) {
			return nil, fmt.Errorf("platform %q is listed twice", item)
		}
		out = append(out, p)
		if len(out) > maxPlatforms {
			return nil, fmt.Errorf("more than %d platforms", maxPlatforms)
		}
	}
	return out, nil
}

// ParseOne reads one platform, OS/ARCH[/VARIANT].
func ParseOne(s string) (v1.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return v1.Platform{}, fmt.Errorf("platform %q is not OS/ARCH or OS/ARCH/VARIANT (kiln builds linux/amd64 and linux/arm64)", s)
	}
	p := v1.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	switch {
	case p.OS != "linux":
		return v1.Platform{}, fmt.Errorf("platform %q: kiln builds linux images only", s)
	case p.Architecture != "amd64" && p.Architecture != "arm64":
		return v1.Platform{}, fmt.Errorf("platform %q: kiln builds amd64 and arm64 images only", s)
	case p.Architecture == "amd64" && p.Variant != "":
		return v1.Platform{}, fmt.Errorf("platform %q: amd64 has no variant kiln knows", s)
	case p.Architecture == "arm64" && p.Variant != "" && p.Variant != "v8":
		return v1.Platform{}, fmt.Errorf("platform %q: arm64's only variant is v8", s)
	}
	return p, nil
}

// String is p as OS/ARCH[/VARIANT].
func String(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// SameArch reports whether p and q are the same OS and architecture;
// arm64's variant v8 is arm64 with or without it.
func SameArch(p, q v1.Platform) bool {
	return p.OS == q.OS && p.Architecture == q.Architecture && (p.Variant == q.Variant || p.Variant == "" || q.Variant == "")
}

// ForEC2Arch is the linux platform of an EC2 architecture name ("x86_64",
// "arm64"), and false for any other.
func ForEC2Arch(arch string) (v1.Platform, bool) {
	switch arch {
	case "x86_64":
		return LinuxAMD64, true
	case "arm64":
		return LinuxARM64, true
	}
	return v1.Platform{}, false
}

// EC2Arch is the EC2 architecture name of p's architecture: "x86_64" for
// amd64, p.Architecture otherwise.
func EC2Arch(p v1.Platform) string {
	if p.Architecture == "amd64" {
		return "x86_64"
	}
	return p.Architecture
}
