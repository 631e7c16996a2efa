package lifecycle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/oci/registry"
)

func TestParseImageURI(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		uri             string
		host, repo, ref string
		bad             string
	}{
		{uri: "127.0.0.1:8080/app:1.0.0-1", host: "127.0.0.1:8080", repo: "app", ref: "1.0.0-1"},
		{uri: "localhost/team/app:latest", host: "localhost", repo: "team/app", ref: "latest"},
		{uri: "h:1/a/b@" + digest, host: "h:1", repo: "a/b", ref: digest},
		{uri: "h:1/app", bad: "no tag"},
		{uri: "h:1/app:v1/x", bad: "no tag"},
		{uri: "app:1", bad: "HOST/REPOSITORY"},
		{uri: "h:1/App:1", bad: "repository name"},
		{uri: "h:1/app:-x", bad: "tag"},
		{uri: "h:1/app@sha256:12", bad: "digest"},
		{uri: "", bad: "HOST/REPOSITORY"},
	} {
		host, repo, ref, err := ParseImageURI(tc.uri)
		if tc.bad != "" {
			if err == nil || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%q: err = %v, want one saying %q", tc.uri, err, tc.bad)
			}
			continue
		}
		if err != nil || host != tc.host || repo != tc.repo || ref != tc.ref {
			t.Errorf("%q = %q %q %q %v", tc.uri, host, repo, ref, err)
		}
	}
}

func FuzzParseImageURI(f *testing.F) {
	for _, s := range []string{"127.0.0.1:8080/app:1.0.0-1", "h/a/b@sha256:00", "h/a:", "/a:b", "h//a:b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		host, repo, ref, err := ParseImageURI(uri)
		if err != nil {
			return
		}
		if !registry.ValidName(repo) || host == "" || strings.Contains(host, "/") {
			t.Fatalf("%q parsed to host %q repo %q", uri, host, repo)
		}
		if _, isDigest := registry.ParseDigest(ref); !isDigest && !registry.ValidTag(ref) {
			t.Fatalf("%q parsed to ref %q", uri, ref)
		}
	})
}

// TestDeleteContainerImage: a build's tag goes, and its image with it
// unless another tag still points at it; an image already gone and a
// foreign registry's URI are told apart.
func TestDeleteContainerImage(t *testing.T) {
	ctx := context.Background()
	reg, err := registry.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Artifacts{Registry: reg, Hosts: []string{"kiln:5000"}, DataDir: t.TempDir()}
	push := func(tags ...string) string {
		img, err := random.Image(64, 1)
		if err != nil {
			t.Fatal(err)
		}
		d, err := oci.PushLocal(ctx, reg, "app", tags, img)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	alone := push("1.0.0-1")
	shared := push("1.0.0-2", "latest")
	for _, tc := range []struct {
		what, uri string
		err       string
	}{
		{"by tag", "kiln:5000/app:1.0.0-1", ""},
		{"again", "kiln:5000/app:1.0.0-1", ""},
		{"a tag shared with latest", "kiln:5000/app:1.0.0-2", ""},
		{"another registry", "elsewhere:5000/app:latest", "not in kiln's registry"},
		{"unknown repository", "kiln:5000/nothing:1", ""},
	} {
		err := a.DeleteContainerImage(ctx, tc.uri)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err = %v, want %q", tc.what, err, tc.err)
		}
	}
	if _, err := reg.Resolve("app", alone); err == nil {
		t.Error("the image whose only tag was deleted is still stored")
	}
	if d, err := reg.Resolve("app", "latest"); err != nil || d != shared {
		t.Errorf("latest = %s, %v; want the shared image %s kept", d, err, shared)
	}
	if _, err := reg.Resolve("app", "1.0.0-2"); err == nil {
		t.Error("the deleted tag still resolves")
	}
	if err := a.DeleteContainerImage(ctx, "kiln:5000/app@"+shared); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Resolve("app", "latest"); err == nil {
		t.Error("deleting by digest left a tag")
	}

	disk := filepath.Join("disks", "x.raw")
	os.MkdirAll(filepath.Join(a.DataDir, "disks"), 0o755)
	os.WriteFile(filepath.Join(a.DataDir, disk), []byte("disk"), 0o644)
	if err := a.RemoveDisk(disk); err != nil {
		t.Fatal(err)
	}
	if err := a.RemoveDisk(disk); err != nil {
		t.Errorf("removing a disk already gone: %v", err)
	}
	if err := a.RemoveDisk("../escape.raw"); err == nil {
		t.Error("a disk path outside the data directory was accepted")
	}
}
