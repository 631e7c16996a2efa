package registry

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestGoContainerRegistryClient drives the registry with
// go-containerregistry's remote package, the client under crane and ko:
// image and index pushes (with chunked and monolithic uploads and
// cross-repository mounts), pulls, tag listing and catalog.
func TestGoContainerRegistryClient(t *testing.T) {
	r := newTestRegistry(t)
	srv := httptest.NewServer(r)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	ref := func(s string) name.Reference {
		t.Helper()
		parsed, err := name.ParseReference(host+"/"+s, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		return parsed
	}

	img, err := random.Image(3000, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref("team/app:1.0.0"), img); err != nil {
		t.Fatalf("remote.Write: %v", err)
	}
	// Copying a pulled image into a second repository: ggcr mounts its
	// layers (POST ?mount=&from=) instead of uploading them again.
	src, err := remote.Image(ref("team/app:1.0.0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref("team/copy:latest"), src); err != nil {
		t.Fatalf("remote.Write (mount): %v", err)
	}
	// A docker-typed variant and an index over both.
	dockerImg := mutate.MediaType(img, types.DockerManifestSchema2)
	if err := remote.Write(ref("team/app:docker"), dockerImg); err != nil {
		t.Fatalf("remote.Write (docker): %v", err)
	}
	idx, err := random.Index(1000, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref("team/app:multi"), idx); err != nil {
		t.Fatalf("remote.WriteIndex: %v", err)
	}

	for _, tc := range []struct {
		ref  string
		want v1.Image
	}{{"team/app:1.0.0", img}, {"team/copy:latest", img}, {"team/app:docker", dockerImg}} {
		pulled, err := remote.Image(ref(tc.ref))
		if err != nil {
			t.Fatalf("remote.Image(%s): %v", tc.ref, err)
		}
		wantDigest, _ := tc.want.Digest()
		gotDigest, _ := pulled.Digest()
		if gotDigest != wantDigest {
			t.Errorf("%s: digest %s, want %s", tc.ref, gotDigest, wantDigest)
		}
		layers, err := pulled.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			// Reading the whole layer verifies its digest client-side.
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4096)
			for {
				if _, err := rc.Read(buf); err != nil {
					break
				}
			}
			rc.Close()
		}
		if _, err := pulled.ConfigFile(); err != nil {
			t.Errorf("%s config: %v", tc.ref, err)
		}
	}
	pulledIdx, err := remote.Index(ref("team/app:multi"))
	if err != nil {
		t.Fatal(err)
	}
	wantIdx, _ := idx.Digest()
	if got, _ := pulledIdx.Digest(); got != wantIdx {
		t.Errorf("index digest %s, want %s", got, wantIdx)
	}

	repo, _ := name.NewRepository(host+"/team/app", name.Insecure)
	tags, err := remote.List(repo)
	if err != nil || !slices.Equal(tags, []string{"1.0.0", "docker", "multi"}) {
		t.Errorf("remote.List = %v, %v", tags, err)
	}
	reg, _ := name.NewRegistry(host, name.Insecure)
	repos, err := remote.Catalog(t.Context(), reg)
	if err != nil || !slices.Equal(repos, []string{"team/app", "team/copy"}) {
		t.Errorf("remote.Catalog = %v, %v", repos, err)
	}
	// An artifact attached to the image through its subject, found again
	// with the referrers API (ggcr checks the API before any tag fallback).
	subject, err := partial.Descriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := random.Image(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	attached := mutate.Subject(sig, *subject).(v1.Image)
	attachedDigest, _ := attached.Digest()
	if err := remote.Write(ref("team/app@"+attachedDigest.String()), attached); err != nil {
		t.Fatalf("remote.Write (with subject): %v", err)
	}
	subjectRef, _ := name.NewDigest(host+"/team/app@"+subject.Digest.String(), name.Insecure)
	referrers, err := remote.Referrers(subjectRef)
	if err != nil {
		t.Fatalf("remote.Referrers: %v", err)
	}
	im, err := referrers.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Digest != attachedDigest {
		t.Errorf("referrers = %+v, %v; want %s", im, err, attachedDigest)
	}
	if tags, _ := remote.List(repo); slices.ContainsFunc(tags, func(s string) bool { return strings.HasPrefix(s, "sha256-") }) {
		t.Errorf("ggcr fell back to a referrers tag: %v", tags)
	}

	if err := remote.Delete(ref("team/app:docker")); err != nil {
		t.Errorf("remote.Delete: %v", err)
	}
}
