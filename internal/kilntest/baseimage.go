package kilntest

import (
	"archive/tar"
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

// RequireTool skips (or, under CI, fails) a test when a Debian tool it
// drives is missing.
func RequireTool(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run must install %s", path, pkg)
		}
		t.Skipf("%s is not installed (apt-get install %s)", path, pkg)
	}
}

// RequireRoot skips a test that builds images (sandboxes need root).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("image builds need root (namespaces, overlayfs)")
	}
}

// dpkgStanzas are the host packages whose dpkg status entries the base
// image carries, so inventory tests see a real dpkg database.
var dpkgStanzas = []string{"base-files", "busybox-static", "debianutils"}

// BusyboxLayout writes a small Debian-flavoured base image — Debian's
// static busybox with its applets, /etc/passwd with root and a "builder"
// user, the host's os-release and three entries of the host's dpkg status
// — as an OCI layout directory tagged "latest", for skopeo's oci:DIR:latest.
// Nothing is downloaded.
func BusyboxLayout(t testing.TB) string {
	t.Helper()
	RequireTool(t, BusyboxPath, "busybox-static")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string) {
		tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o755, Typeflag: tar.TypeDir})
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	for _, d := range []string{"bin", "etc", "root", "tmp", "var", "var/lib", "var/lib/dpkg", "usr", "usr/lib", "home", "home/builder", "opt", "proc", "dev"} {
		dir(d)
	}
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	file("bin/busybox", 0o755, bb)
	list, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" || applet == "bash" || strings.Contains(applet, "/") {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, Typeflag: tar.TypeSymlink})
	}
	// ExecuteBash runs bash; busybox's ash stands in for it.
	file("bin/bash", 0o755, []byte("#!/bin/sh\nexec /bin/sh \"$@\"\n"))
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:builder:/home/builder:/bin/sh\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nbuilder:x:1000:\n"))
	if osr, err := os.ReadFile("/usr/lib/os-release"); err == nil {
		file("usr/lib/os-release", 0o644, osr)
		tw.WriteHeader(&tar.Header{Name: "etc/os-release", Linkname: "../usr/lib/os-release", Mode: 0o777, Typeflag: tar.TypeSymlink})
	}
	file("var/lib/dpkg/status", 0o644, hostDpkgStanzas(t))
	tw.WriteHeader(&tar.Header{Name: "home/builder/", Mode: 0o755, Uid: 1000, Gid: 1000, Typeflag: tar.TypeDir})
	tw.Close()
	img := OCIImage(t, buf.Bytes(), func(cfg *v1.ConfigFile) {
		cfg.Config.Env = []string{"PATH=/bin"}
		cfg.Config.Cmd = []string{"/bin/sh"}
		cfg.Config.Labels = map[string]string{"org.kiln.base": "busybox"}
	})
	return WriteLayout(t, img)
}

// OCIImage makes a one-layer linux/amd64 OCI image (OCI media types
// throughout: skopeo's oci: transport ignores layout entries of Docker
// types) from an uncompressed tar; edit, when set, adjusts the config.
func OCIImage(t testing.TB, tarBytes []byte, edit func(*v1.ConfigFile)) v1.Image {
	t.Helper()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	if edit != nil {
		edit(cfg)
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	return img
}

// WriteLayout writes img into a fresh OCI layout directory, tagged latest
// (skopeo's oci:<dir>:latest reads the ref.name annotation).
func WriteLayout(t testing.TB, img v1.Image) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(out, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"})); err != nil {
		t.Fatal(err)
	}
	return out
}

// hostDpkgStanzas returns the host's dpkg status entries of dpkgStanzas.
func hostDpkgStanzas(t testing.TB) []byte {
	f, err := os.Open("/var/lib/dpkg/status")
	if err != nil {
		t.Skipf("no dpkg database on this host: %v", err)
	}
	defer f.Close()
	want := map[string]bool{}
	for _, p := range dpkgStanzas {
		want[p] = true
	}
	var out, cur bytes.Buffer
	keep := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if keep {
				out.Write(cur.Bytes())
				out.WriteByte('\n')
			}
			cur.Reset()
			keep = false
			continue
		}
		if name, ok := strings.CutPrefix(line, "Package: "); ok {
			keep = want[name]
		}
		cur.WriteString(line + "\n")
	}
	if keep {
		out.Write(cur.Bytes())
	}
	return out.Bytes()
}

// Skopeo runs Debian's skopeo with a private auth file and returns its
// standard output.
func Skopeo(t testing.TB, args ...string) string {
	t.Helper()
	RequireTool(t, "/usr/bin/skopeo", "skopeo")
	cmd := exec.Command("/usr/bin/skopeo", append([]string{"--insecure-policy"}, args...)...)
	cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "auth.json"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// PushBusyboxBase pushes BusyboxLayout into the server's registry as
// REPO:latest with skopeo and returns the reference.
func (s *Server) PushBusyboxBase(t testing.TB, repo string) string {
	t.Helper()
	ref := s.Addr + "/" + repo + ":latest"
	Skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+BusyboxLayout(t)+":latest", "docker://"+ref)
	return ref
}
