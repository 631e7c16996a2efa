package main

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// tinyImage is a one-layer OCI image made locally: a tar holding one
// file, with a linux/amd64 config.
func tinyImage(t *testing.T) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	content := []byte("hello from kiln\n")
	tw.WriteHeader(&tar.Header{Name: "etc/kiln-hello", Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write(content)
	tw.Close()
	return kilntest.OCIImage(t, buf.Bytes(), func(cfg *v1.ConfigFile) { cfg.Config.Cmd = []string{"/bin/sh"} })
}

func writeLayout(t *testing.T, img v1.Image) string { return kilntest.WriteLayout(t, img) }

func skopeo(t *testing.T, args ...string) string { return kilntest.Skopeo(t, args...) }

func mustDigest(t *testing.T, img interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestRegistrySkopeo copies a locally made image into kiln's registry
// with Debian's skopeo, inspects it, converts it to Docker schema 2 on the
// way to a second repository, copies it back out and compares digests.
func TestRegistrySkopeo(t *testing.T) {
	t.Parallel()
	requireTool(t, "/usr/bin/skopeo")
	srv := kilntest.Start(t)
	img := tinyImage(t)
	want := mustDigest(t, img)
	src := writeLayout(t, img)
	dest := "docker://" + srv.Addr + "/team/app:1.0.0"

	skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+src+":latest", dest)

	var inspect struct {
		Digest       string
		Architecture string
		Layers       []string
	}
	if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--tls-verify=false", dest)), &inspect); err != nil {
		t.Fatal(err)
	}
	if inspect.Digest != want || inspect.Architecture != "amd64" || len(inspect.Layers) != 1 {
		t.Fatalf("skopeo inspect = %+v, want digest %s", inspect, want)
	}
	raw := skopeo(t, "inspect", "--raw", "--tls-verify=false", dest)
	if !strings.Contains(raw, "application/vnd.oci.image.manifest.v1+json") {
		t.Errorf("raw manifest %s", raw)
	}

	// registry → registry, converting to Docker schema 2 (a new digest,
	// the same layer blob, mounted or reused).
	skopeo(t, "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "v2s2",
		dest, "docker://"+srv.Addr+"/team/app-docker:1.0.0")
	raw = skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+srv.Addr+"/team/app-docker:1.0.0")
	if !strings.Contains(raw, "application/vnd.docker.distribution.manifest.v2+json") {
		t.Errorf("v2s2 copy stored %s", raw)
	}

	var tags struct{ Tags []string }
	json.Unmarshal([]byte(skopeo(t, "list-tags", "--tls-verify=false", "docker://"+srv.Addr+"/team/app")), &tags)
	if strings.Join(tags.Tags, ",") != "1.0.0" {
		t.Errorf("list-tags = %v", tags.Tags)
	}

	// And back out into a new layout: the same image.
	out := filepath.Join(t.TempDir(), "out")
	skopeo(t, "copy", "--src-tls-verify=false", dest, "oci:"+out+":pulled")
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest.String() != want {
		t.Fatalf("pulled layout holds %+v, want %s", m.Manifests, want)
	}
	pulled, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := pulled.Layers()
	wantLayers, _ := img.Layers()
	if len(layers) != 1 || mustDigest(t, layers[0]) != mustDigest(t, wantLayers[0]) {
		t.Fatalf("layer differs after the round trip")
	}

	skopeo(t, "delete", "--tls-verify=false", "docker://"+srv.Addr+"/team/app-docker:1.0.0")
	resp, err := http.Get(srv.URL + "/v2/team/app-docker/manifests/1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("after skopeo delete: %d", resp.StatusCode)
	}
}

func kilnRef(t *testing.T, srv *kilntest.Server, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(srv.Addr+"/"+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// pullAndCheck pulls ref and reads every blob, which makes
// go-containerregistry verify each digest, and compares the manifest
// digest with want.
func pullAndCheck(t *testing.T, ref name.Reference, want string, opts ...remote.Option) {
	t.Helper()
	img, err := remote.Image(ref, opts...)
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	if got := mustDigest(t, img); got != want {
		t.Fatalf("pull %s: digest %s, want %s", ref, got, want)
	}
	if _, err := img.RawConfigFile(); err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("layer of %s: %v", ref, err)
		}
		if err := rc.Close(); err != nil {
			t.Fatalf("layer of %s: %v", ref, err)
		}
	}
}

// TestRegistryDurableAfterKill pushes crane-style (go-containerregistry's
// remote.Write, in process), kills kiln with SIGKILL and pulls the image
// from the restarted server.
func TestRegistryDurableAfterKill(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	img, err := random.Image(64<<10, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := mustDigest(t, img)
	if err := remote.Write(kilnRef(t, srv, "team/app:1.0.0"), img); err != nil {
		t.Fatalf("remote.Write: %v", err)
	}
	idx, err := random.Index(1024, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(kilnRef(t, srv, "team/multi:latest"), idx); err != nil {
		t.Fatalf("remote.WriteIndex: %v", err)
	}
	pullAndCheck(t, kilnRef(t, srv, "team/app:1.0.0"), want)

	srv.Kill()
	again := kilntest.StartIn(t, srv.DataDir)
	pullAndCheck(t, kilnRef(t, again, "team/app:1.0.0"), want)
	pulledIdx, err := remote.Index(kilnRef(t, again, "team/multi:latest"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := mustDigest(t, pulledIdx), mustDigest(t, idx); got != want {
		t.Fatalf("index digest %s, want %s", got, want)
	}
}

// TestRegistryStrictAuth: under --auth strict the registry wants HTTP
// Basic with a token from ECR's GetAuthorizationToken (user AWS), as ECR
// does; the long-term secret key is no longer a registry password.
func TestRegistryStrictAuth(t *testing.T) {
	t.Parallel()
	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte("[ci]\naws_access_key_id = AKIDREGISTRY\naws_secret_access_key = s3cret/registry\naws_account_id = 111122223333\n"), 0o600)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", creds)
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := kilnRef(t, srv, "private/app:1")

	var terr *transport.Error
	err = remote.Write(ref, img)
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous push: %v, want 401", err)
	}
	secret := remote.WithAuth(&authn.Basic{Username: "AKIDREGISTRY", Password: "s3cret/registry"})
	if err := remote.Write(ref, img, secret); err == nil {
		t.Fatal("push with the long-term secret key as password succeeded")
	}
	ci := kilntest.Creds{AccessKeyID: "AKIDREGISTRY", SecretAccessKey: "s3cret/registry"}
	answer := ecrCall(t, srv, ci, "GetAuthorizationToken", map[string]any{})
	data, _ := answer.Body["authorizationData"].([]any)
	if answer.Status != http.StatusOK || len(data) != 1 {
		t.Fatalf("GetAuthorizationToken: %d %s", answer.Status, answer.Raw)
	}
	encoded, _ := data[0].(map[string]any)["authorizationToken"].(string)
	decoded, err := base64.StdEncoding.DecodeString(encoded)
	user, password, ok := strings.Cut(string(decoded), ":")
	if err != nil || !ok || user != "AWS" {
		t.Fatalf("authorizationToken %q does not decode to AWS:token", encoded)
	}
	right := remote.WithAuth(&authn.Basic{Username: "AWS", Password: password})
	if err := remote.Write(ref, img, right); err != nil {
		t.Fatalf("authenticated push: %v", err)
	}
	pullAndCheck(t, ref, mustDigest(t, img), right)

	if _, err := os.Stat("/usr/bin/skopeo"); err == nil {
		out := skopeo(t, "inspect", "--tls-verify=false", "--creds", "AWS:"+password, "docker://"+srv.Addr+"/private/app:1")
		if !strings.Contains(out, mustDigest(t, img)) {
			t.Errorf("skopeo --creds inspect: %s", out)
		}
	}
}
