// Package parent tests `kiln images pull-parent` end to end, never
// reaching the internet: the real kiln binary pulls a busybox-made image
// from Debian's docker-registry standing in for a Docker Hub mirror, and a
// busybox-made minirootfs from an httptest Alpine mirror, pushes it into
// a running kiln, and a container build uses it as its parent.
package parent

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ggtypes "github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// pullParent runs `kiln images pull-parent args...` against srv signed
// with creds and returns its standard output, standard error and exit
// code.
func pullParent(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, args ...string) (string, string, int) {
	t.Helper()
	return pullParentEnv(t, srv, creds, nil, args...)
}

// pullParentEnv is pullParent with variables added to its environment.
func pullParentEnv(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(kilntest.Binary(t), append([]string{"images", "pull-parent", "--endpoint", srv.URL}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_REGION=us-east-1", "TMPDIR="+t.TempDir())
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// startMirrorRegistry starts Debian's docker-registry on a free loopback
// port, without authentication (a pull-through cache as most sites run
// one), and returns host:port.
func startMirrorRegistry(t *testing.T) string {
	t.Helper()
	kilntest.RequireTool(t, "/usr/bin/docker-registry", "docker-registry")
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var log kilntest.SyncBuffer
	cmd := exec.Command("/usr/bin/docker-registry", "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not come up on %s: %v\n%s", addr, err, log.String())
		}
	}
}

// manifestDigest is the digest skopeo sees for ref.
func manifestDigest(t *testing.T, ref string, args ...string) string {
	t.Helper()
	out := kilntest.Skopeo(t, append(append([]string{"inspect", "--tls-verify=false", "--format", "{{.Digest}}"}, args...), "docker://"+ref)...)
	return strings.TrimSpace(out)
}

// buildOn builds a container recipe with one component on parent as
// creds' account and fails the test unless the image is AVAILABLE.
func buildOn(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, parent, name string) {
	t.Helper()
	ctx := kilntest.Context(t)
	client := srv.Client(creds)
	comp, err := client.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String("name: mark\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo built on the pulled parent > /etc/marker\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := client.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage:            aws.String(parent),
		DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		Components:             []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("built/" + name)},
	})
	if err != nil {
		t.Fatalf("CreateContainerRecipe on %s: %v", parent, err)
	}
	infra, err := client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String(name), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	img, err := client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ContainerRecipeArn: recipe.ContainerRecipeArn, InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn,
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	for {
		got, err := client.GetImage(wait, &imagebuilder.GetImageInput{ImageBuildVersionArn: img.ImageBuildVersionArn})
		if err == nil && got.Image.State != nil {
			switch got.Image.State.Status {
			case types.ImageStatusAvailable:
				return
			case types.ImageStatusFailed, types.ImageStatusCancelled:
				t.Fatalf("the build on %s is %s: %s\n%s", parent, got.Image.State.Status, aws.ToString(got.Image.State.Reason), srv.Log())
			}
		}
		select {
		case <-wait.Done():
			t.Fatalf("the build on %s did not finish:\n%s", parent, srv.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestPullFromRegistryMirrorUnderStrictAuth: the Docker-Hub-shaped path
// library/alpine:3 on a loopback mirror is pulled with the caller's
// credentials into a kiln under --auth strict, keeps its digest, and the
// caller's container build on it reaches AVAILABLE. Wrong credentials
// are refused before anything is downloaded.
func TestPullFromRegistryMirrorUnderStrictAuth(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	mirror := startMirrorRegistry(t)
	kilntest.Skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+kilntest.BusyboxLayout(t)+":latest", "docker://"+mirror+"/library/alpine:3")
	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte("[tenant]\naws_access_key_id = AKIDTENANT\naws_secret_access_key = tenant-secret\naws_account_id = 222222222222\n"), 0o600)
	tenant := kilntest.Creds{AccessKeyID: "AKIDTENANT", SecretAccessKey: "tenant-secret"}
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", creds)

	_, errOut, code := pullParent(t, srv, kilntest.Creds{AccessKeyID: "AKIDTENANT", SecretAccessKey: "wrong"}, "alpine-3", "--registry", mirror, "--insecure")
	if code != 1 || !strings.Contains(errOut, "GetAuthorizationToken") || strings.Contains(errOut, "layer 1/1") {
		t.Fatalf("wrong credentials: exit %d, want 1 before any download:\n%s", code, errOut)
	}

	// The busybox layer is 1.1 MiB.
	_, errOut, code = pullParent(t, srv, tenant, "alpine-3", "--registry", mirror, "--insecure", "--max-blob-mib", "1")
	if code != 1 || !strings.Contains(errOut, "layer 1 (sha256:") || !strings.Contains(errOut, "over the limit of 1.0 MiB (--max-blob-mib)") {
		t.Fatalf("a layer over the limit: exit %d, want 1 naming the layer:\n%s", code, errOut)
	}

	out, errOut, code := pullParent(t, srv, tenant, "alpine-3", "--registry", mirror, "--insecure")
	want := srv.Addr + "/parents/alpine:3"
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("pull-parent: exit %d, stdout %q, want %q:\n%s", code, out, want, errOut)
	}
	t.Logf("pull-parent said on standard error:\n%s", errOut)
	for _, s := range []string{"pulling " + mirror + "/library/alpine:3 for linux/", "layer 1/1 sha256:", "push " + want, "--parent-image " + want} {
		if !strings.Contains(errOut, s) {
			t.Errorf("standard error lacks %q:\n%s", s, errOut)
		}
	}
	if strings.Contains(errOut, "\r") {
		t.Errorf("not a terminal, yet the progress redraws in place:\n%q", errOut)
	}
	token := strings.TrimSpace(ecrPassword(t, srv, tenant))
	got := manifestDigest(t, want, "--creds", "AWS:"+token)
	if src := manifestDigest(t, mirror+"/library/alpine:3"); got != src {
		t.Errorf("kiln holds %s, the mirror %s: the manifest was not kept byte for byte", got, src)
	}
	buildOn(t, srv, tenant, want, "on-registry-parent")

	// Docker Hub serves an index; --platform picks its image.
	armDigest := pushTwoPlatformIndex(t, mirror+"/library/debian:12")
	out, errOut, code = pullParent(t, srv, tenant, "debian-12", "--registry", mirror, "--insecure", "--platform", "linux/arm64", "--to", "parents/debian-arm64")
	want = srv.Addr + "/parents/debian-arm64:12"
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("pull-parent --platform linux/arm64: exit %d, stdout %q, want %q:\n%s", code, out, want, errOut)
	}
	if got := manifestDigest(t, want, "--creds", "AWS:"+token); got != armDigest {
		t.Errorf("kiln holds %s, the index's arm64 image is %s", got, armDigest)
	}
}

// pushTwoPlatformIndex pushes an image index of the busybox image for
// linux/amd64 and linux/arm64 (the same layer, the config saying arm64)
// to ref over plain HTTP and returns the arm64 manifest's digest.
func pushTwoPlatformIndex(t *testing.T, ref string) string {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(kilntest.BusyboxLayout(t))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	amd, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := amd.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture, cfg.Variant = "arm64", "v8"
	arm, err := mutate.ConfigFile(amd, cfg)
	if err != nil {
		t.Fatal(err)
	}
	both := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, ggtypes.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, both); err != nil {
		t.Fatalf("pushing the index to the mirror: %v", err)
	}
	d, err := arm.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// ecrPassword is `aws ecr get-login-password` for creds.
func ecrPassword(t *testing.T, srv *kilntest.Server, creds kilntest.Creds) string {
	t.Helper()
	kilntest.RequireTool(t, "/usr/bin/aws", "awscli")
	cmd := exec.Command("/usr/bin/aws", "--endpoint-url", srv.URL, "ecr", "get-login-password")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_DEFAULT_REGION=us-east-1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws ecr get-login-password: %v", err)
	}
	return string(out)
}

// alpineMirror is an httptest Alpine mirror: /alpine/BRANCH/releases/x86_64/
// holds latest-releases.yaml and the minirootfs tarball.
type alpineMirror struct {
	*httptest.Server
	mu sync.Mutex
	// yaml and file are served; stall, when set, sends half the file and
	// then nothing until the client gives up.
	yaml  string
	file  []byte
	stall bool
}

func newAlpineMirror(t *testing.T) *alpineMirror {
	m := &alpineMirror{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		yaml, file, stall := m.yaml, m.file, m.stall
		m.mu.Unlock()
		switch {
		case r.URL.Path == "/alpine/latest-stable/releases/x86_64/latest-releases.yaml":
			io.WriteString(w, yaml)
		case r.URL.Path == "/alpine/latest-stable/releases/x86_64/alpine-minirootfs-3.99.1-x86_64.tar.gz":
			if stall {
				w.Header().Set("Content-Length", fmt.Sprint(len(file)))
				w.Write(file[:len(file)/2])
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return
			}
			w.Write(file)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *alpineMirror) set(yaml string, stall bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.yaml, m.stall = yaml, stall
}

// releasesYAML is a latest-releases.yaml as Alpine writes it, with the
// minirootfs entry's size and sha256 given.
func releasesYAML(size int, sum string) string {
	return fmt.Sprintf(`---
-
  title: "Standard"
  flavor: alpine-standard
  file: alpine-standard-3.99.1-x86_64.iso
  arch: x86_64
  sha256: %[2]s
-
  title: "Mini root filesystem"
  desc: "Minimal root filesystem.\nFor use in containers\nand minimal chroots."
  profile: minirootfs
  image: alpine-minirootfs-3.99.1-x86_64.tar.gz
  branch: v3.99
  arch: x86_64
  version: 3.99.1
  flavor: alpine-minirootfs
  file: alpine-minirootfs-3.99.1-x86_64.tar.gz
  iso: alpine-minirootfs-3.99.1-x86_64.tar.gz
  date: 2026-11-30
  time: 08:15:00
  size: %[1]d
  sha256: %[2]s
  sha512: 00
`, size, sum)
}

// busyboxRootfs is the busybox base image's one layer: a gzip tar, as a
// minirootfs is.
func busyboxRootfs(t *testing.T) []byte {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(kilntest.BusyboxLayout(t))
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPullFromAlpineMirror: the minirootfs named by an Alpine mirror's
// latest-releases.yaml becomes a one-layer image whose layer is the
// tarball as published and a container build on it reaches AVAILABLE;
// a tarball whose sha256 differs from the yaml's, one over the size
// limit and a stalled transfer are refused and push nothing; unknown
// names, plain HTTP beyond loopback and a failing debootstrap are refused
// with the reason.
func TestPullFromAlpineMirror(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	srv := kilntest.Start(t)
	creds := kilntest.DefaultCreds
	rootfs := busyboxRootfs(t)
	sum := sha256.Sum256(rootfs)
	good := hex.EncodeToString(sum[:])
	m := newAlpineMirror(t)
	m.file = rootfs
	mirror := m.URL + "/alpine"

	m.set(releasesYAML(len(rootfs), good), false)
	out, errOut, code := pullParent(t, srv, creds, "alpine-3", "--mirror", mirror, "--insecure", "--platform", "linux/amd64")
	want := srv.Addr + "/parents/alpine:3"
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("pull-parent --mirror: exit %d, stdout %q, want %q:\n%s", code, out, want, errOut)
	}
	if !strings.Contains(errOut, "alpine-minirootfs-3.99.1-x86_64.tar.gz") || !strings.Contains(errOut, "Alpine 3.99.1") {
		t.Errorf("standard error does not name the release:\n%s", errOut)
	}
	inspect := kilntest.Skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Architecture}} {{.Os}} {{range .Layers}}{{.}} {{end}}", "docker://"+want)
	if wantInspect := "amd64 linux sha256:" + good; strings.TrimSpace(inspect) != wantInspect {
		t.Errorf("skopeo inspect: %q, want %q (the tarball as published is the layer)", inspect, wantInspect)
	}
	buildOn(t, srv, creds, want, "on-minirootfs")

	t.Run("on a terminal", func(t *testing.T) {
		// script(1) gives the command a pseudo-terminal: the bar is one
		// line redrawn in place, then ended.
		kilntest.RequireTool(t, "/usr/bin/script", "bsdutils")
		line := strings.Join([]string{kilntest.Binary(t), "images", "pull-parent", "--endpoint", srv.URL,
			"alpine-3", "--mirror", mirror, "--insecure", "--platform", "linux/amd64", "--to", "parents/alpine-tty"}, " ")
		cmd := exec.Command("/usr/bin/script", "-q", "-e", "-c", line, "/dev/null")
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "TMPDIR="+t.TempDir())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pull-parent on a terminal: %v\n%q", err, out)
		}
		if !strings.Contains(string(out), "\ralpine-minirootfs-3.99.1-x86_64.tar.gz  ") || !strings.Contains(string(out), "\x1b[K") {
			t.Errorf("no redrawn progress line on a terminal:\n%q", out)
		}
	})

	refused := []struct {
		name    string
		yaml    string
		stall   bool
		args    []string
		code    int
		message []string
	}{
		{"wrong sha256", releasesYAML(len(rootfs), strings.Repeat("ab", 32)), false, []string{"alpine-3", "--mirror", mirror, "--insecure"},
			1, []string{"sha256 is " + good, "refusing it"}},
		{"over the size limit", releasesYAML(3<<20, good), false, []string{"alpine-3", "--mirror", mirror, "--insecure", "--max-blob-mib", "2"},
			1, []string{"over the limit of 2.0 MiB", "--max-blob-mib"}},
		{"stalled", releasesYAML(len(rootfs), good), true, []string{"alpine-3", "--mirror", mirror, "--insecure", "--stall-timeout", "2s"},
			1, []string{"transfer stalled: nothing received for 2s"}},
		{"yaml without a minirootfs", "---\n- flavor: alpine-standard\n  arch: x86_64\n", false, []string{"alpine-3", "--mirror", mirror, "--insecure"},
			1, []string{"no alpine-minirootfs for x86_64"}},
		{"plain HTTP mirror without --insecure", releasesYAML(len(rootfs), good), false, []string{"alpine-3", "--mirror", mirror},
			1, []string{"plain HTTP is allowed only to loopback with --insecure"}},
		{"plain HTTP beyond loopback", "", false, []string{"alpine-3", "--registry", "192.0.2.1:5000", "--insecure"},
			1, []string{"--insecure allows plain HTTP to loopback registries only"}},
		{"unknown name", "", false, []string{"fedora-41"},
			2, []string{`unknown parent image "fedora-41": known are debian-12, ubuntu-24.04, alpine-3, alpine-3.NN`}},
		{"two sources", "", false, []string{"alpine-3", "--mirror", mirror, "--registry", "127.0.0.1:1"},
			2, []string{"give one"}},
		{"debootstrap from a mirror without a Release file", "", false, []string{"debian-12", "--mirror", m.URL + "/debian"},
			1, []string{"debootstrap bookworm from " + m.URL + "/debian failed"}},
		{"debootstrap without the archive keyring", "", false, []string{"ubuntu-24.04", "--mirror", m.URL + "/ubuntu"},
			1, []string{"ubuntu-archive-keyring.gpg, which is missing (apt-get install ubuntu-keyring)"}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "debootstrap") {
				kilntest.RequireTool(t, "/usr/sbin/debootstrap", "debootstrap")
				kilntest.RequireTool(t, "/usr/share/keyrings/debian-archive-keyring.gpg", "debian-archive-keyring")
			}
			if tc.name == "debootstrap without the archive keyring" {
				if _, err := os.Stat("/usr/share/keyrings/ubuntu-archive-keyring.gpg"); err == nil {
					t.Skip("ubuntu-keyring is installed here")
				}
			}
			m.set(tc.yaml, tc.stall)
			args := append([]string{"--to", "refused/" + strings.ToLower(strings.ReplaceAll(tc.name, " ", "-"))}, tc.args...)
			out, errOut, code := pullParent(t, srv, creds, args...)
			if code != tc.code || out != "" {
				t.Errorf("exit %d, stdout %q; want exit %d and nothing:\n%s", code, out, tc.code, errOut)
			}
			for _, s := range tc.message {
				if !strings.Contains(errOut, s) {
					t.Errorf("standard error lacks %q:\n%s", s, errOut)
				}
			}
		})
	}
	// Nothing refused reached kiln's registry.
	resp, err := http.Get(srv.URL + "/v2/_catalog")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	catalog, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(catalog), "refused/") {
		t.Errorf("a refused pull pushed something: %s", catalog)
	}
}

// fakeDebootstrap stands in for debootstrap, which cannot run here: a
// Debian mirror is on the internet. It records its arguments and makes a
// busybox tree with a device node in /dev, as debootstrap's is.
const fakeDebootstrap = `#!/bin/sh
echo "$@" > "$FAKE_DEBOOTSTRAP_ARGS"
target=$5
mkdir -p "$target/bin" "$target/dev" "$target/etc"
cp /bin/busybox "$target/bin/busybox"
ln -s busybox "$target/bin/sh"
mknod "$target/dev/null" c 1 3
echo 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' > "$target/etc/os-release"
echo "I: Base system installed successfully."
`

// TestDebootstrapRoute: with --mirror, debian-12 runs debootstrap
// --variant=minbase for bookworm against the mirror, and its tree becomes
// a one-layer image without /dev's device nodes. debootstrap itself is a
// stand-in (see fakeDebootstrap); the real one is refused a mirror
// without a Release file in TestPullFromAlpineMirror.
func TestDebootstrapRoute(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	kilntest.RequireTool(t, kilntest.BusyboxPath, "busybox-static")
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "debootstrap"), []byte(fakeDebootstrap), 0o755); err != nil {
		t.Fatal(err)
	}
	argsFile := filepath.Join(t.TempDir(), "args")
	srv := kilntest.Start(t)
	mirror := "http://deb.debian.example/debian"
	out, errOut, code := pullParentEnv(t, srv, kilntest.DefaultCreds,
		[]string{"PATH=" + bin + ":" + os.Getenv("PATH"), "FAKE_DEBOOTSTRAP_ARGS=" + argsFile}, "debian-12", "--mirror", mirror)
	want := srv.Addr + "/parents/debian:12"
	if code != 0 || strings.TrimSpace(out) != want {
		t.Fatalf("pull-parent debian-12 --mirror: exit %d, stdout %q, want %q:\n%s", code, out, want, errOut)
	}
	args, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(args)); len(f) != 6 || f[0] != "--variant=minbase" || !strings.HasPrefix(f[1], "--arch=") ||
		f[2] != "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg" || f[3] != "bookworm" || f[5] != mirror {
		t.Errorf("debootstrap ran with %q", args)
	}
	if !strings.Contains(errOut, "Base system installed successfully") {
		t.Errorf("debootstrap's own output is not shown:\n%s", errOut)
	}
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+want, "oci:"+dir+":latest")
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" || len(cfg.Config.Cmd) != 1 || cfg.Config.Cmd[0] != "bash" || len(cfg.RootFS.DiffIDs) != 1 {
		t.Errorf("config %+v", cfg)
	}
	layers, _ := img.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	names := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimPrefix(h.Name, "./")] = true
	}
	if !names["bin/busybox"] || !names["etc/os-release"] || names["dev/null"] {
		t.Errorf("layer holds %v; want bin/busybox and etc/os-release, no dev/null", names)
	}
}
