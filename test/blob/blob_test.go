// Package blob tests `kiln serve --blob-store s3://… --s3-endpoint …`
// through the real binary against a real S3-compatible server (the
// Versity gateway): skopeo pushes to one node and pulls from another, a
// container build's image is pulled with skopeo, its logs are read with
// `kiln logs` from a node that did not build it, and nothing of the
// registry lands in the data directories.
package blob

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// nodes starts n kiln servers, each with its own data directory, on one
// bucket of gw.
func nodes(t *testing.T, gw *s3gw.Server, prefix string, n int, extra ...string) []*kilntest.Server {
	t.Helper()
	var out []*kilntest.Server
	for range n {
		args := append([]string{"--blob-store", "s3://" + gw.Bucket + "/" + prefix, "--s3-endpoint", gw.Endpoint}, extra...)
		out = append(out, kilntest.StartEnv(t, gw.Env(), args...))
	}
	return out
}

// registryFiles lists the files a node's data directory holds under
// registry/ (there must be none with a blob store).
func registryFiles(t *testing.T, dataDir string) []string {
	var files []string
	filepath.WalkDir(filepath.Join(dataDir, "registry"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

func TestPushToOneNodePullFromAnother(t *testing.T) {
	t.Parallel()
	gw := s3gw.Start(t)
	ns := nodes(t, gw, "push", 2)
	ref := ns[0].PushBusyboxBase(t, "team/busybox")
	dir := filepath.Join(t.TempDir(), "pulled")
	other := strings.Replace(ref, ns[0].Addr, ns[1].Addr, 1)
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+other, "dir:"+dir)
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatalf("pull from the other node: %v", err)
	}
	tags := kilntest.Skopeo(t, "list-tags", "--tls-verify=false", "docker://"+ns[1].Addr+"/team/busybox")
	if !strings.Contains(tags, `"latest"`) {
		t.Fatalf("tags on the other node: %s", tags)
	}
	for _, n := range ns {
		if files := registryFiles(t, n.DataDir); len(files) != 0 {
			t.Errorf("registry content in the data directory: %q", files)
		}
	}
	// The objects are in the bucket, under the prefix.
	var inBucket int
	filepath.WalkDir(filepath.Join(gw.Dir, gw.Bucket, "push", "registry", "blobs"), func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			inBucket++
		}
		return nil
	})
	if inBucket < 3 {
		t.Errorf("%d blobs in the bucket, want the config, the layer and the manifest", inBucket)
	}
}
