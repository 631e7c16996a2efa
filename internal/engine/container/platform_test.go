package container

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/binfmt"
	"github.com/kiln-build/kiln/internal/platform"
)

func TestBuildPlatforms(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the expected orders are an amd64 host's")
	}
	for _, tc := range []struct {
		in, want []string
		err      bool
	}{
		{in: nil, want: nil},
		{in: []string{"linux/arm64"}, want: []string{"linux/arm64"}},
		// The host's architecture is built first, and tested.
		{in: []string{"linux/arm64/v8", "linux/amd64"}, want: []string{"linux/amd64", "linux/arm64/v8"}},
		{in: []string{"linux/amd64", "linux/arm64"}, want: []string{"linux/amd64", "linux/arm64"}},
		{in: []string{"linux/mips"}, err: true},
	} {
		ps, err := buildPlatforms(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("buildPlatforms(%v) succeeded", tc.in)
			}
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, platform.String(p))
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("buildPlatforms(%v) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestIndexOfAndWithPlatform(t *testing.T) {
	oci := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	docker := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	for _, tc := range []struct {
		name   string
		images []v1.Image
		want   types.MediaType
	}{
		{"oci images", []v1.Image{oci, oci}, types.OCIImageIndex},
		{"docker images", []v1.Image{docker, docker}, types.DockerManifestList},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var imgs []v1.Image
			ps := []v1.Platform{platform.LinuxAMD64, platform.LinuxARM64}
			for i, img := range tc.images {
				img, err := withPlatform(img, ps[i])
				if err != nil {
					t.Fatal(err)
				}
				cf, err := img.ConfigFile()
				if err != nil || cf.Architecture != ps[i].Architecture || cf.OS != "linux" {
					t.Fatalf("withPlatform: config %v/%v, %v", cf.OS, cf.Architecture, err)
				}
				imgs = append(imgs, img)
			}
			idx, err := indexOf(imgs, ps)
			if err != nil {
				t.Fatal(err)
			}
			if mt, _ := idx.MediaType(); mt != tc.want {
				t.Errorf("index media type %s, want %s", mt, tc.want)
			}
			im, err := idx.IndexManifest()
			if err != nil || len(im.Manifests) != 2 {
				t.Fatalf("index: %v, %v", im, err)
			}
			for i, d := range im.Manifests {
				if d.Platform == nil || !d.Platform.Equals(ps[i]) {
					t.Errorf("manifest %d platform %v, want %v", i, d.Platform, ps[i])
				}
			}
		})
	}
}

// TestEnsureRunnableRefusals: a host whose binfmt_misc cannot run arm64
// programs fails the build with the reason and the fix. A fake
// binfmt_misc directory stands for the host's (the real one is shared).
func TestEnsureRunnableRefusals(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("arm64 is native here")
	}
	for _, tc := range []struct {
		name   string
		status string
		interp string
		want   string
	}{
		{"binfmt_misc disabled", "disabled", "", "binfmt_misc is disabled on this host"},
		{"no handler and no emulator", "enabled", "/nonexistent/qemu-aarch64-static", "apt-get install qemu-user-static"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range map[string]string{"register": "", "status": tc.status + "\n"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := ensureRunnable(platform.LinuxARM64, binfmt.Options{Dir: dir, Interpreter: tc.interp, ProbeDir: t.TempDir()}, t.Logf)
			if err == nil || !strings.Contains(err.Error(), "the image is linux/arm64 and this host cannot run its programs") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want the reason with %q", err, tc.want)
			}
		})
	}
	if err := ensureRunnable(platform.LinuxAMD64, binfmt.Options{Dir: "/nonexistent"}, t.Logf); err != nil {
		t.Errorf("a native platform needs no binfmt_misc: %v", err)
	}
	if err := ensureRunnable(v1.Platform{OS: "linux", Architecture: "s390x"}, binfmt.Options{}, t.Logf); err == nil || !strings.Contains(err.Error(), "linux/s390x") {
		t.Errorf("s390x: %v", err)
	}
}
