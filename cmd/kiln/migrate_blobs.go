package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/blob"
	"github.com/kiln-build/kiln/internal/engine"
)

// copyDataDirToBlobStore copies what a single-host kiln keeps in its data
// directory into the bucket a --blob-store kiln reads: the registry
// (registry/…, keys unchanged), machine disks (disks/…, see ami.Disks)
// and build logs
// (logs/…, as segment series). Half-written and in-flight state (the
// registry's tmp/ and upload sessions) is not copied. It can be run again:
// content-addressed objects already in the bucket with the same size are
// skipped, as are logs already there. The data directory is not changed.
//
// It is the bucket half of `kiln migrate`, whose --s3-endpoint is the
// endpoint, as for `kiln serve`.
func copyDataDirToBlobStore(ctx context.Context, dataDir, blobStore, endpoint string, log *slog.Logger) error {
	bucket, prefix, err := blob.ParseURL(blobStore)
	if err != nil {
		return err
	}
	root, err := blob.OpenS3(ctx, blobStore, endpoint)
	if err != nil {
		return err
	}
	if err := root.Ping(ctx); err != nil {
		return fmt.Errorf("blob store %s: %w", blobStore, err)
	}
	under := func(p string) string {
		if prefix == "" {
			return p
		}
		return prefix + "/" + p
	}
	reg := blob.NewS3(root.Client(), bucket, under("registry"))
	var copied, skipped int
	copyTree := func(dir string, dst blob.Store, keyPrefix string, skip func(rel string) bool) error {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			rel = filepath.ToSlash(rel)
			if e.IsDir() {
				if rel != "." && skip(rel+"/") {
					return filepath.SkipDir
				}
				return nil
			}
			if !e.Type().IsRegular() || skip(rel) {
				return nil
			}
			key := keyPrefix + rel
			fi, err := e.Info()
			if err != nil {
				return err
			}
			if have, err := dst.Stat(ctx, key); err == nil && have.Size == fi.Size() && !strings.Contains(rel, "/_tags/") {
				skipped++
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := dst.Put(ctx, key, f); err != nil {
				return fmt.Errorf("copying %s: %w", p, err)
			}
			copied++
			return nil
		})
		return err
	}
	regSkip := func(rel string) bool {
		return strings.HasPrefix(rel, "tmp/") || strings.HasPrefix(rel, ".tmp/") || strings.HasPrefix(rel, "uploads/") ||
			strings.HasPrefix(filepath.Base(strings.TrimSuffix(rel, "/")), ".tmp-")
	}
	if err := copyTree(filepath.Join(dataDir, "registry"), reg, "", regSkip); err != nil {
		return err
	}
	// Disks go as their data extents, as a --blob-store kiln stores them.
	disks := &ami.Disks{DataDir: dataDir, Blobs: root}
	raws, _ := filepath.Glob(filepath.Join(dataDir, "disks", "*.raw"))
	for _, p := range raws {
		if err := disks.Publish(ctx, filepath.Join("disks", filepath.Base(p))); err != nil {
			return err
		}
		copied++
	}
	logs := filepath.Join(dataDir, "logs")
	err = filepath.WalkDir(logs, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !e.Type().IsRegular() || !strings.HasSuffix(p, ".log") {
			return nil
		}
		rel, _ := filepath.Rel(logs, p)
		return engine.StoreLogFile(ctx, root, p, rel)
	})
	if err != nil {
		return err
	}
	log.Info("data directory copied to the blob store", "store", blobStore, "objects", copied, "already there", skipped)
	return nil
}
