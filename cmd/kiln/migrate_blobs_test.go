package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/blob"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// TestCopyDataDirToBlobStore moves a single-host data directory's
// registry, disk and build log into a bucket (a real S3-compatible
// gateway), reads each back the way a --blob-store kiln does, and runs the
// copy a second time, which must change nothing.
func TestCopyDataDirToBlobStore(t *testing.T) {
	gw := s3gw.Start(t)
	for _, kv := range gw.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ctx := context.Background()
	dataDir := t.TempDir()

	reg, err := registry.New(filepath.Join(dataDir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	digest := func(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }
	if err := reg.PutBlob(ctx, "team/app", bytes.NewReader(config), digest(config)); err != nil {
		t.Fatal(err)
	}
	manifest := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + digest(config) + `","size":` + fmt.Sprint(len(config)) + `},"layers":[]}`)
	if _, err := reg.PutManifest(ctx, "team/app", "v1", "", manifest); err != nil {
		t.Fatal(err)
	}
	write := func(rel, content string) {
		p := filepath.Join(dataDir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("disks/sha256-abcd.raw", "a disk")
	write("logs/123456789012/img/1.0.0/1/build.log", "line one\nline two\n")

	for range 2 {
		if err := copyDataDirToBlobStore(ctx, dataDir, "s3://"+gw.Bucket+"/site", gw.Endpoint, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
	}
	onBucket := registry.NewOnStore(blob.NewS3(gw.Client(), gw.Bucket, "site/registry"))
	m, err := onBucket.GetManifest(ctx, "team/app", "v1")
	if err != nil || !bytes.Equal(m.Body, manifest) {
		t.Fatalf("manifest from the bucket: %v", err)
	}
	if size, err := onBucket.StatBlob(ctx, "team/app", digest(config)); err != nil || size != int64(len(config)) {
		t.Fatalf("config blob from the bucket: %d, %v", size, err)
	}
	root := blob.NewS3(gw.Client(), gw.Bucket, "site")
	other := &ami.Disks{DataDir: t.TempDir(), Blobs: root}
	path, err := other.Local(ctx, "disks/sha256-abcd.raw")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != "a disk" {
		t.Fatalf("disk from the bucket: %q, %v", got, err)
	}
	var segments []string
	root.List(ctx, "logs/", func(i blob.Info) error { segments = append(segments, i.Key); return nil })
	if len(segments) != 1 || segments[0] != "logs/123456789012/img/1.0.0/1/build.log/00000000" {
		t.Fatalf("log segments after two copies: %q", segments)
	}
}
