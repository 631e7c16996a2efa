package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/internal/blob"
	"io"
	"slices"
	"strings"
	"testing"
)

func digestOf(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// testImage is a hand-made single-layer image: its blobs and manifest.
type testImage struct {
	config, layer, manifest []byte
}

func makeImage(t testing.TB, seed string, mediaType string) testImage {
	t.Helper()
	config := []byte(`{"architecture":"amd64","os":"linux","seed":"` + seed + `"}`)
	layer := []byte("layer bytes for " + seed)
	layerType := "application/vnd.oci.image.layer.v1.tar"
	configType := "application/vnd.oci.image.config.v1+json"
	if mediaType == MediaTypeDockerManifest {
		layerType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
		configType = "application/vnd.docker.container.image.v1+json"
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaType,
		"config":        map[string]any{"mediaType": configType, "digest": digestOf(config), "size": len(config)},
		"layers":        []any{map[string]any{"mediaType": layerType, "digest": digestOf(layer), "size": len(layer)}},
	}
	body, err := json.MarshalIndent(m, "", "   ") // odd indentation: bytes must round-trip exactly
	if err != nil {
		t.Fatal(err)
	}
	return testImage{config, layer, body}
}

func (img testImage) push(t testing.TB, r *Registry, repo, tag string) string {
	t.Helper()
	ctx := context.Background()
	for _, b := range [][]byte{img.config, img.layer} {
		if err := r.PutBlob(ctx, repo, bytes.NewReader(b), digestOf(b)); err != nil {
			t.Fatalf("PutBlob: %v", err)
		}
	}
	d, err := r.PutManifest(ctx, repo, tag, "", img.manifest)
	if err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	return d
}

func newTestRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPutGetManifestRoundTrip(t *testing.T) {
	for _, mt := range []string{MediaTypeOCIManifest, MediaTypeDockerManifest} {
		t.Run(mt, func(t *testing.T) {
			r := newTestRegistry(t)
			img := makeImage(t, mt, mt)
			d := img.push(t, r, "team/app", "1.0.0")
			if d != digestOf(img.manifest) {
				t.Fatalf("digest %s, want %s", d, digestOf(img.manifest))
			}
			for _, ref := range []string{"1.0.0", d} {
				m, err := r.GetManifest(context.Background(), "team/app", ref)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(m.Body, img.manifest) || m.MediaType != mt || m.Digest != d {
					t.Errorf("GetManifest(%s) = %s %s, body changed: %v", ref, m.MediaType, m.Digest, !bytes.Equal(m.Body, img.manifest))
				}
			}
			if got, _ := r.Resolve("team/app", "1.0.0"); got != d {
				t.Errorf("Resolve = %s", got)
			}
			tags, err := r.Tags("team/app")
			if err != nil || !slices.Equal(tags, []string{"1.0.0"}) {
				t.Errorf("Tags = %v, %v", tags, err)
			}
		})
	}
}

func TestStoreErrors(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	img := makeImage(t, "x", MediaTypeOCIManifest)
	img.push(t, r, "a/b", "v1")
	other := makeImage(t, "y", MediaTypeOCIManifest)

	tests := []struct {
		name string
		do   func() error
		want *Error
	}{
		{"blob with wrong content", func() error {
			return r.PutBlob(ctx, "a/b", strings.NewReader("not it"), digestOf([]byte("something else")))
		}, ErrDigestInvalid},
		{"blob with malformed digest", func() error {
			return r.PutBlob(ctx, "a/b", strings.NewReader("x"), "sha256:abc")
		}, ErrDigestInvalid},
		{"upper-case digest", func() error {
			return r.PutBlob(ctx, "a/b", strings.NewReader("x"), strings.ToUpper(digestOf([]byte("x"))))
		}, ErrDigestInvalid},
		{"bad repository name", func() error {
			return r.PutBlob(ctx, "A/../b", strings.NewReader("x"), digestOf([]byte("x")))
		}, ErrNameInvalid},
		{"manifest with missing blobs", func() error {
			_, err := r.PutManifest(ctx, "a/b", "v2", MediaTypeOCIManifest, other.manifest)
			return err
		}, ErrManifestBlobUnknown},
		{"blob of another repository is not ours", func() error {
			_, err := r.PutManifest(ctx, "c", "v1", MediaTypeOCIManifest, img.manifest)
			return err
		}, ErrManifestBlobUnknown},
		{"manifest under the wrong digest", func() error {
			_, err := r.PutManifest(ctx, "a/b", digestOf([]byte("no")), MediaTypeOCIManifest, img.manifest)
			return err
		}, ErrDigestInvalid},
		{"Content-Type disagrees with mediaType", func() error {
			_, err := r.PutManifest(ctx, "a/b", "v3", MediaTypeDockerManifest, img.manifest)
			return err
		}, ErrManifestInvalid},
		{"not JSON", func() error {
			_, err := r.PutManifest(ctx, "a/b", "v3", MediaTypeOCIManifest, []byte("{"))
			return err
		}, ErrManifestInvalid},
		{"schema 1", func() error {
			_, err := r.PutManifest(ctx, "a/b", "v3", "", []byte(`{"schemaVersion":1,"fsLayers":[]}`))
			return err
		}, ErrManifestInvalid},
		{"invalid tag", func() error {
			_, err := r.PutManifest(ctx, "a/b", "-bad", MediaTypeOCIManifest, img.manifest)
			return err
		}, ErrTagInvalid},
		{"index of unknown manifest", func() error {
			idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":1}]}`,
				MediaTypeOCIIndex, MediaTypeOCIManifest, digestOf(other.manifest))
			_, err := r.PutManifest(ctx, "a/b", "idx", MediaTypeOCIIndex, []byte(idx))
			return err
		}, ErrManifestBlobUnknown},
		{"unknown tag", func() error {
			_, err := r.GetManifest(ctx, "a/b", "nope")
			return err
		}, ErrManifestUnknown},
		{"unknown repository tags", func() error {
			_, err := r.Tags("nope")
			return err
		}, ErrNameUnknown},
		{"blob not linked in repository", func() error {
			_, err := r.StatBlob(ctx, "elsewhere", digestOf(img.layer))
			return err
		}, ErrBlobUnknown},
		{"mount from a repository without the blob", func() error {
			return r.MountBlob(ctx, "d", "c", digestOf(img.layer))
		}, ErrBlobUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want.Code)
			}
		})
	}
	// Nothing half-written may remain from the failures.
	if n := countKeys(t, r, "tmp/"); n != 0 {
		t.Errorf("tmp/ holds %d leftovers", n)
	}
}

func TestIndexAndDedup(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	img := makeImage(t, "shared", MediaTypeOCIManifest)
	d1 := img.push(t, r, "one", "latest")
	d2 := img.push(t, r, "two/nested/deep", "latest")
	if d1 != d2 {
		t.Fatalf("same manifest, different digests %s %s", d1, d2)
	}
	// One copy of each blob, three (config, layer, manifest) in total.
	if n := countKeys(t, r, "blobs/"); n != 3 {
		t.Errorf("%d blob files, want 3 (deduplicated)", n)
	}

	idx := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"manifests":[{"mediaType":%q,"digest":%q,"size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`,
		MediaTypeOCIIndex, MediaTypeOCIManifest, d1, len(img.manifest))
	di, err := r.PutManifest(ctx, "one", "multi", MediaTypeOCIIndex, []byte(idx))
	if err != nil {
		t.Fatal(err)
	}
	m, err := r.GetManifest(ctx, "one", "multi")
	if err != nil || m.Digest != di || m.MediaType != MediaTypeOCIIndex {
		t.Fatalf("GetManifest(multi) = %+v, %v", m, err)
	}

	// Mounting links without copying.
	if err := r.MountBlob(ctx, "three", "one", digestOf(img.layer)); err != nil {
		t.Fatal(err)
	}
	if size, err := r.StatBlob(ctx, "three", digestOf(img.layer)); err != nil || size != int64(len(img.layer)) {
		t.Fatalf("StatBlob after mount = %d, %v", size, err)
	}

	repos, err := r.Repositories()
	if err != nil || !slices.Equal(repos, []string{"one", "three", "two/nested/deep"}) {
		t.Fatalf("Repositories = %v, %v", repos, err)
	}

	// Deleting by digest removes the manifest and its tags.
	if err := r.DeleteManifest(ctx, "one", d1); err != nil {
		t.Fatal(err)
	}
	if tags, _ := r.Tags("one"); !slices.Equal(tags, []string{"multi"}) {
		t.Errorf("tags after delete = %v", tags)
	}
	if _, err := r.GetManifest(ctx, "two/nested/deep", "latest"); err != nil {
		t.Errorf("other repository lost its manifest: %v", err)
	}
}

func TestResumableUploadSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	r, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789"), 1000)
	id, err := r.startUpload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r.appendUpload(ctx, id, bytes.NewReader(content[:4000]), 0, 4000); err != nil || n != 4000 {
		t.Fatalf("append = %d, %v", n, err)
	}
	// A chunk at the wrong offset is refused and changes nothing.
	if _, err := r.appendUpload(ctx, id, bytes.NewReader(content[:10]), 10, 10); !errors.Is(err, ErrBlobUploadInvalid) {
		t.Fatalf("out-of-order chunk: %v", err)
	}
	// A chunk shorter than its range is refused and rolled back.
	if _, err := r.appendUpload(ctx, id, bytes.NewReader(content[4000:4005]), 4000, 10); !errors.Is(err, ErrSizeInvalid) {
		t.Fatalf("short chunk: %v", err)
	}

	// A new Registry on the same root (a restart) continues the session.
	r2, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := r2.uploadSize(ctx, id); err != nil || n != 4000 {
		t.Fatalf("size after reopen = %d, %v", n, err)
	}
	if err := r2.finishUpload(ctx, "repo", id, digestOf(content), bytes.NewReader(content[4000:]), -1, -1); err != nil {
		t.Fatal(err)
	}
	rc, size, err := r2.OpenBlob(ctx, "repo", digestOf(content))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, _ := io.ReadAll(rc)
	if size != int64(len(content)) || !bytes.Equal(got, content) {
		t.Fatalf("blob differs: %d bytes", size)
	}
	if _, err := r2.uploadSize(ctx, id); !errors.Is(err, ErrBlobUploadUnknown) {
		t.Errorf("finished session still known: %v", err)
	}
}

func TestFinishUploadWrongDigest(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	id, _ := r.startUpload(ctx)
	err := r.finishUpload(ctx, "repo", id, digestOf([]byte("other")), strings.NewReader("data"), -1, -1)
	if !errors.Is(err, ErrDigestInvalid) {
		t.Fatalf("err = %v", err)
	}
	if n := countKeys(t, r, "uploads/"); n != 0 {
		t.Errorf("failed upload left %d objects", n)
	}
	if _, err := r.StatBlob(ctx, "repo", digestOf([]byte("data"))); !errors.Is(err, ErrBlobUnknown) {
		t.Errorf("unverified blob was stored: %v", err)
	}
}

// TestConcurrentPushes pushes the same content from many goroutines at
// once, in-process and through upload sessions: every push succeeds and
// one copy of the content is stored.
func TestConcurrentPushes(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	content := bytes.Repeat([]byte("concurrent"), 5000)
	d := digestOf(content)
	const workers = 8
	errs := make(chan error, 2*workers)
	for i := range workers {
		repo := fmt.Sprintf("r%d", i%3)
		go func() { errs <- r.PutBlob(ctx, repo, bytes.NewReader(content), d) }()
		go func() {
			id, err := r.startUpload(ctx)
			if err == nil {
				_, err = r.appendUpload(ctx, id, bytes.NewReader(content[:100]), 0, 100)
			}
			if err == nil {
				err = r.finishUpload(ctx, repo, id, d, bytes.NewReader(content[100:]), -1, -1)
			}
			errs <- err
		}()
	}
	for range 2 * workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, repo := range []string{"r0", "r1", "r2"} {
		if size, err := r.StatBlob(ctx, repo, d); err != nil || size != int64(len(content)) {
			t.Errorf("%s: %d, %v", repo, size, err)
		}
	}
	for _, dir := range []string{"tmp/", "uploads/"} {
		if n := countKeys(t, r, dir); n != 0 {
			t.Errorf("%s holds %d leftovers", dir, n)
		}
	}
}

func TestAddBlobComputesDigest(t *testing.T) {
	ctx := context.Background()
	r := newTestRegistry(t)
	content := []byte("streamed layer")
	for range 2 { // the second time the content is already stored
		d, size, err := r.AddBlob(ctx, "engine/out", bytes.NewReader(content))
		if err != nil || d != digestOf(content) || size != int64(len(content)) {
			t.Fatalf("AddBlob = %s %d %v", d, size, err)
		}
	}
	if _, err := r.StatBlob(ctx, "engine/out", digestOf(content)); err != nil {
		t.Fatal(err)
	}
	if n := countKeys(t, r, "tmp/"); n != 0 {
		t.Errorf("tmp/ holds %d leftovers", n)
	}
}

// countKeys counts the registry's objects under prefix.
func countKeys(t *testing.T, r *Registry, prefix string) int {
	t.Helper()
	n := 0
	if err := r.store.List(context.Background(), prefix, func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
