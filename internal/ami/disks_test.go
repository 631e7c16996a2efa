package ami

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/internal/blob"
)

// TestDisksAcrossNodes plays two nodes with their own data directories on
// one shared store: the disk one node built is fetched by the other when
// it must read it, and removing it removes the shared copy.
func TestDisksAcrossNodes(t *testing.T) {
	ctx := context.Background()
	shared, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Disks{DataDir: t.TempDir(), Blobs: shared}
	b := &Disks{DataDir: t.TempDir(), Blobs: shared}
	rel := DiskPath("sha256:" + "ab12")
	content := []byte("a disk image, byte for byte")
	if err := os.MkdirAll(filepath.Join(a.DataDir, "disks"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.DataDir, rel), content, 0o644); err != nil {
		t.Fatal(err)
	}
	if have, err := b.Exists(ctx, rel); have || err != nil {
		t.Fatalf("before Publish, node b sees the disk: %v %v", have, err)
	}
	if err := a.Publish(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if have, err := b.Exists(ctx, rel); !have || err != nil {
		t.Fatalf("after Publish, node b does not see the disk: %v %v", have, err)
	}
	path, err := b.Local(ctx, rel)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(content) {
		t.Fatalf("fetched disk holds %q", got)
	}
	if err := b.Remove(ctx, rel); err != nil {
		t.Fatal(err)
	}
	if ok, _ := blob.Exists(ctx, shared, "disks/sha256-ab12.raw"); ok {
		t.Error("Remove left the shared copy")
	}
	for _, bad := range []string{"../etc/passwd", "/disks/x.raw", "other/x.raw"} {
		if _, err := b.Local(ctx, bad); err == nil {
			t.Errorf("Local(%q) accepted", bad)
		}
	}
}
