package parentimage

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"go.yaml.in/yaml/v3"
)

// AlpineRelease is one entry of an Alpine mirror's latest-releases.yaml,
// the file Alpine's release tooling writes next to the release tarballs
// (a YAML list; only the fields kiln uses).
type AlpineRelease struct {
	Flavor  string `yaml:"flavor"` // alpine-minirootfs
	Arch    string `yaml:"arch"`   // x86_64
	File    string `yaml:"file"`   // alpine-minirootfs-3.20.3-x86_64.tar.gz
	Version string `yaml:"version"`
	Branch  string `yaml:"branch"`
	Date    string `yaml:"date"` // 2024-09-06
	Time    string `yaml:"time"` // 10:23:44
	Size    int64  `yaml:"size"`
	SHA256  string `yaml:"sha256"`
}

var (
	sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// A release file is a plain name in the releases directory: the yaml
	// comes from the same untrusted transport as the file, so it must not
	// send the download anywhere else.
	releaseFile = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]*\.tar\.gz$`)
)

// ParseAlpineReleases parses latest-releases.yaml.
func ParseAlpineReleases(data []byte) ([]AlpineRelease, error) {
	var rels []AlpineRelease
	if err := yaml.Unmarshal(data, &rels); err != nil {
		return nil, fmt.Errorf("latest-releases.yaml: %w", err)
	}
	return rels, nil
}

// Minirootfs picks the minirootfs release for arch (Alpine's name:
// x86_64, aarch64) and checks what the download depends on.
func Minirootfs(rels []AlpineRelease, arch string) (AlpineRelease, error) {
	for _, r := range rels {
		if r.Flavor != "alpine-minirootfs" || r.Arch != arch {
			continue
		}
		switch {
		case !releaseFile.MatchString(r.File):
			return r, fmt.Errorf("latest-releases.yaml: the minirootfs file %q is not a plain .tar.gz name", r.File)
		case !sha256Hex.MatchString(r.SHA256):
			return r, fmt.Errorf("latest-releases.yaml: the minirootfs sha256 %q is not 64 lowercase hex digits", r.SHA256)
		case r.Size < 0:
			return r, fmt.Errorf("latest-releases.yaml: the minirootfs size %d is negative", r.Size)
		}
		return r, nil
	}
	return AlpineRelease{}, fmt.Errorf("latest-releases.yaml has no alpine-minirootfs for %s", arch)
}

// alpineArch is Alpine's name for p's architecture.
func alpineArch(p v1.Platform) (string, error) {
	switch p.Architecture + "/" + p.Variant {
	case "amd64/":
		return "x86_64", nil
	case "arm64/", "arm64/v8":
		return "aarch64", nil
	case "arm/v7":
		return "armv7", nil
	case "arm/v6", "arm/":
		return "armhf", nil
	case "386/":
		return "x86", nil
	case "ppc64le/", "s390x/", "riscv64/", "loong64/":
		return p.Architecture, nil
	}
	return "", fmt.Errorf("no Alpine minirootfs is published for %s", p.String())
}

// mirrorBase checks a mirror URL: HTTPS, or plain HTTP to loopback with
// Insecure (the yaml that carries the checksum comes over the same
// connection, so plain HTTP elsewhere would check nothing).
func (f *Fetcher) mirrorBase(mirror string) (*url.URL, error) {
	u, err := url.Parse(mirror)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("--mirror %q is not an http(s) URL", mirror)
	}
	if u.Scheme == "http" && !(f.Insecure && isLoopbackHost(u.Host)) {
		return nil, fmt.Errorf("--mirror %s: plain HTTP is allowed only to loopback with --insecure; use https", mirror)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// FromAlpineMirror gets d's minirootfs for f.Platform from an Alpine
// mirror (URL/BRANCH/releases/ARCH/latest-releases.yaml names the
// tarball and its sha256) and makes it a one-layer image; the tarball is
// the layer as published.
func (f *Fetcher) FromAlpineMirror(ctx context.Context, d Distribution, mirror string) (v1.Image, string, error) {
	base, err := f.mirrorBase(mirror)
	if err != nil {
		return nil, "", err
	}
	arch, err := alpineArch(f.Platform)
	if err != nil {
		return nil, "", err
	}
	dir := base.JoinPath(d.AlpineBranch, "releases", arch)
	ctx, w, stop := f.watch(ctx)
	defer stop()
	yamlURL := dir.JoinPath("latest-releases.yaml").String()
	resp, err := f.get(ctx, yamlURL)
	if err != nil {
		return nil, "", cause(ctx, err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxIndexSize+1))
	resp.Body.Close()
	if err != nil {
		return nil, "", cause(ctx, err)
	}
	if len(data) > maxIndexSize {
		return nil, "", fmt.Errorf("%s is over %d bytes", yamlURL, maxIndexSize)
	}
	rels, err := ParseAlpineReleases(data)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", yamlURL, err)
	}
	rel, err := Minirootfs(rels, arch)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", yamlURL, err)
	}
	fileURL := dir.JoinPath(rel.File).String()
	resp, err = f.get(ctx, fileURL)
	if err != nil {
		return nil, "", cause(ctx, err)
	}
	defer resp.Body.Close()
	size := rel.Size
	if size == 0 && resp.ContentLength > 0 {
		size = resp.ContentLength
	}
	path := filepath.Join(f.Workdir, rel.File)
	if err := f.saveVerified(w, resp.Body, path, rel.File, size, rel.SHA256); err != nil {
		return nil, "", cause(ctx, err)
	}
	layer, err := tarball.LayerFromFile(path, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", rel.File, err)
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		return nil, "", fmt.Errorf("%s is not a gzip tar: %w", rel.File, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, "", err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Variant = f.Platform.OS, f.Platform.Architecture, f.Platform.Variant
	// The release's own date, so pulling the same release twice gives the
	// same image digest.
	if t, err := time.Parse("2006-01-02 15:04:05", rel.Date+" "+rel.Time); err == nil {
		cfg.Created = v1.Time{Time: t.UTC()}
	}
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = []string{"/bin/sh"}
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.version": rel.Version}
	cfg.History = []v1.History{{Created: cfg.Created, CreatedBy: "kiln images pull-parent: " + fileURL}}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, "", err
	}
	return img, "Alpine " + rel.Version + " (" + rel.File + ", sha256 checked against latest-releases.yaml)", nil
}
