package carm64_test

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// The arm64 parent is Debian's busybox-static:arm64, fetched with apt-get
// download (the host's apt sources and proxy) into a cache kept between
// runs; test/arm64's cache of the same package is used when present.
var (
	busyboxOnce sync.Once
	busyboxPath string
	busyboxErr  error
)

// arm64Busybox returns the path of an arm64 busybox, or skips the test
// saying why it cannot be had here.
func arm64Busybox(t *testing.T) string {
	t.Helper()
	busyboxOnce.Do(func() { busyboxPath, busyboxErr = fetchArm64Busybox() })
	if busyboxErr != nil {
		t.Skipf("the arm64 busybox cannot be downloaded here (offline, or no Debian mirror in apt's sources): %v", busyboxErr)
	}
	return busyboxPath
}

func fetchArm64Busybox() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	if p := filepath.Join(cache, "kiln-test-arm64", "root", "bin", "busybox"); fileExists(filepath.Join(cache, "kiln-test-arm64", "root", ".complete")) && fileExists(p) {
		return p, nil
	}
	dir := filepath.Join(cache, "kiln-test-carm64")
	p := filepath.Join(dir, "root", "bin", "busybox")
	if fileExists(p) {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	arches, _ := exec.Command("dpkg", "--print-foreign-architectures").Output()
	if !strings.Contains(string(arches), "arm64") {
		if os.Geteuid() != 0 {
			return "", fmt.Errorf("dpkg has no arm64 architecture (dpkg --add-architecture arm64 && apt-get update)")
		}
		if out, err := exec.Command("dpkg", "--add-architecture", "arm64").CombinedOutput(); err != nil {
			return "", fmt.Errorf("dpkg --add-architecture arm64: %v: %s", err, out)
		}
		if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get update: %v: %s", err, out)
		}
	}
	debs, err := os.MkdirTemp(dir, "debs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(debs)
	dl := exec.Command("apt-get", "download", "-q", "busybox-static:arm64")
	dl.Dir = debs
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download busybox-static:arm64: %v: %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	if len(files) != 1 {
		return "", fmt.Errorf("apt-get download gave %d packages, want 1", len(files))
	}
	if out, err := exec.Command("dpkg-deb", "-x", files[0], filepath.Join(dir, "root")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x: %v: %s", err, out)
	}
	if !fileExists(p) {
		return "", fmt.Errorf("busybox-static:arm64 has no bin/busybox")
	}
	return p, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// arm64Image is a one-layer linux/arm64 image of the arm64 busybox with
// its applets (the host's busybox-static lists them: the same Debian
// version), /bin/bash standing in for bash as in kilntest's amd64 base,
// and root in /etc/passwd.
func arm64Image(t *testing.T) v1.Image {
	t.Helper()
	kilntest.RequireTool(t, kilntest.BusyboxPath, "busybox-static")
	bb, err := os.ReadFile(arm64Busybox(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin", "etc", "root", "tmp", "usr", "var"} {
		tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	file("bin/busybox", 0o755, bb)
	list, err := exec.Command(kilntest.BusyboxPath, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" || applet == "bash" || strings.Contains(applet, "/") {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, Typeflag: tar.TypeSymlink})
	}
	file("bin/bash", 0o755, []byte("#!/bin/sh\nexec /bin/sh \"$@\"\n"))
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\n"))
	tw.Close()
	return kilntest.OCIImage(t, buf.Bytes(), func(cfg *v1.ConfigFile) {
		cfg.Architecture, cfg.Variant = "arm64", "v8"
		cfg.Config.Env = []string{"PATH=/bin"}
		cfg.Config.Cmd = []string{"/bin/sh"}
	})
}

// amd64Image is kilntest's busybox base.
func amd64Image(t *testing.T) v1.Image {
	t.Helper()
	p, err := layout.FromPath(kilntest.BusyboxLayout(t))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 {
		t.Fatalf("the busybox layout's index: %v, %v", im, err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// parents pushes the parents into srv's registry: base/multi (an OCI index
// of the amd64 and arm64 images), base/arm64 and base/amd64 (each alone).
type parents struct{ multi, arm64, amd64 string }

func pushParents(t *testing.T, srv *kilntest.Server) parents {
	t.Helper()
	arm, amd := arm64Image(t), amd64Image(t)
	ctx := kilntest.Context(t)
	ref := func(s string) name.Reference {
		r, err := name.ParseReference(srv.Addr+"/"+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	p := parents{multi: srv.Addr + "/base/multi:latest", arm64: srv.Addr + "/base/arm64:latest", amd64: srv.Addr + "/base/amd64:latest"}
	if err := remote.WriteIndex(ref("base/multi:latest"), idx, remote.WithContext(ctx)); err != nil {
		t.Fatalf("pushing the parent index: %v", err)
	}
	if err := remote.Write(ref("base/arm64:latest"), arm, remote.WithContext(ctx)); err != nil {
		t.Fatalf("pushing the arm64 parent: %v", err)
	}
	if err := remote.Write(ref("base/amd64:latest"), amd, remote.WithContext(ctx)); err != nil {
		t.Fatalf("pushing the amd64 parent: %v", err)
	}
	return p
}
