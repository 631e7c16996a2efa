package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/blob"
	"github.com/kiln-build/kiln/internal/oci/registry"
)

// blobStores is where kiln keeps its bulk content: the registry's blobs,
// manifests and links; machine disks; build logs. With --blob-store
// s3://BUCKET[/PREFIX] they are prefixes of one bucket that every node
// shares; by default, directories of the data directory, as always.
type blobStores struct {
	// Registry holds the OCI registry (registry/ in the bucket,
	// <data-dir>/registry locally).
	Registry blob.Store
	// Shared holds logs/ and disks/ when they live in a bucket; nil when
	// they stay in the data directory.
	Shared blob.Store
	// Ping checks the bucket is reachable, for /healthz; nil with the
	// local default.
	Ping func(context.Context) error
	// Where names the store for the start-up line.
	Where string
}

// openBlobStores opens --blob-store (with --s3-endpoint and the standard
// AWS credential chain) or the data directory's local stores.
func openBlobStores(ctx context.Context, cfg serveConfig, log *slog.Logger) (*blobStores, error) {
	if cfg.blobStore == "" {
		st, err := blob.NewLocal(filepath.Join(cfg.dataDir, "registry"))
		if err != nil {
			return nil, fmt.Errorf("opening the registry: %w", err)
		}
		return &blobStores{Registry: st, Where: cfg.dataDir}, nil
	}
	bucket, prefix, err := blob.ParseURL(cfg.blobStore)
	if err != nil {
		return nil, fmt.Errorf("--blob-store: %w", err)
	}
	root, err := blob.OpenS3(ctx, cfg.blobStore, cfg.s3Endpoint)
	if err != nil {
		return nil, fmt.Errorf("--blob-store: %w", err)
	}
	if err := root.Ping(ctx); err != nil {
		return nil, fmt.Errorf("--blob-store %s: %w", cfg.blobStore, err)
	}
	sub := func(p string) string {
		if prefix == "" {
			return p
		}
		return prefix + "/" + p
	}
	st := &blobStores{Ping: root.Ping, Where: cfg.blobStore}
	st.Registry = blob.NewS3(root.Client(), bucket, sub("registry"))
	st.Shared = root
	log.Info("blob store", "bucket", bucket, "prefix", prefix, "endpoint", cfg.s3Endpoint)
	return st, nil
}

// openRegistry opens kiln's registry on its blob store.
func openRegistry(stores *blobStores) *registry.Registry {
	return registry.NewOnStore(stores.Registry)
}

// sharedBlobs is the bucket every node shares, for build logs and machine
// disks; nil when they stay in the data directory.
func (c serveConfig) sharedBlobs() blob.Store {
	if c.blobs == nil || c.blobs.Shared == nil {
		return nil
	}
	return c.blobs.Shared
}
