package machine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/inventory"
	"github.com/kiln-build/kiln/internal/oci"
)

// S3Opener opens an object at the configured S3-compatible endpoint.
type S3Opener func(ctx context.Context, bucket, key string) (io.ReadCloser, error)

// MaxImportBytes bounds what one import downloads (https:// or s3://)
// into the data directory: more than any root disk people import in
// practice (raw images of 8 to 32 GiB), small enough that one caller's
// import cannot fill a data-directory volume of ordinary size unnoticed.
const MaxImportBytes = 64 << 30

// ErrImportNotAllowed is the one answer to a file:// import kiln will not
// read: outside the allowed directories, missing, or a dangling link all
// read the same, so the answer does not tell a caller which host paths
// exist.
var ErrImportNotAllowed = errors.New("is not a file under a directory kiln serve --allow-import-dir allows")

// ImportAllowed reports whether a file:// import may read path: it must
// exist and lie, after resolving symlinks, under one of the allowed
// directories. Every refusal is ErrImportNotAllowed.
func ImportAllowed(allowed []string, path string) (string, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%s %w", path, ErrImportNotAllowed)
	}
	for _, dir := range allowed {
		d, err := filepath.EvalSymlinks(dir)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(d, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return real, nil
		}
	}
	return "", fmt.Errorf("%s %w", path, ErrImportNotAllowed)
}

// fetch makes the import's source a local file. Downloads go through
// kiln's guarded fetcher (x.Fetch, and the S3 opener built on it), so an
// import URI cannot reach the host's own services or private networks.
func (x *Executor) fetch(ctx context.Context, b *engine.Build, uri string, log io.Writer) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "file":
		return ImportAllowed(x.AllowImportDirs, u.Path)
	case "https", "s3":
		var body io.ReadCloser
		if u.Scheme == "s3" {
			if x.S3 == nil {
				return "", errors.New("s3:// imports need kiln serve --s3-endpoint")
			}
			body, err = x.S3(ctx, u.Host, strings.TrimPrefix(u.Path, "/"))
		} else {
			body, err = x.Fetch.Open(ctx, uri, MaxImportBytes)
		}
		if err != nil {
			return "", err
		}
		defer body.Close()
		dst := filepath.Join(b.WorkDir, "import-source")
		f, err := os.Create(dst)
		if err != nil {
			return "", err
		}
		defer f.Close()
		n, err := io.Copy(f, io.LimitReader(body, MaxImportBytes+1))
		if err != nil {
			return "", err
		}
		if n > MaxImportBytes {
			return "", fmt.Errorf("the source is larger than kiln's import limit of %d bytes", int64(MaxImportBytes))
		}
		fmt.Fprintf(log, "downloaded %d bytes\n", n)
		return dst, f.Close()
	}
	return "", fmt.Errorf("unsupported import URI scheme %q (file://, https:// or s3://)", u.Scheme)
}

// isTarball reports whether the file is a (gzipped) tar: a root
// filesystem tarball rather than a disk image.
func isTarball(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		return true, nil
	}
	return n >= 262 && string(head[257:262]) == "ustar", nil
}

// Import implements engine.Importer: a raw or qcow2 disk image, or a root
// filesystem tarball, becomes an AVAILABLE machine image with an AMI.
func (x *Executor) Import(ctx context.Context, b *engine.Build, log io.Writer) error {
	src, err := x.fetch(ctx, b, b.Job.Import.URI, log)
	if err != nil {
		return err
	}
	tarred, err := isTarball(src)
	if err != nil {
		return err
	}
	var (
		layer v1.Layer
		raw   string // the disk to keep, when the source is one
		arch  string // what the root filesystem's programs are built for
	)
	if tarred {
		fmt.Fprintf(log, "the source is a root filesystem tarball\n")
		if layer, err = tarball.LayerFromFile(src, tarball.WithMediaType(types.OCILayer)); err != nil {
			return err
		}
	} else {
		format, err := disk.Format(ctx, src)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "the source is a %s disk image\n", format)
		raw = filepath.Join(b.WorkDir, "import.raw")
		if err := disk.ToRaw(ctx, src, raw); err != nil {
			return err
		}
		fmt.Fprintf(log, "boot: %s\n", disk.DescribeBoot(raw))
		err = disk.MountRoot(ctx, raw, func(dir string) error {
			arch = importArch(dir, log)
			layer, err = oci.DiffLayer(ctx, dir, b.WorkDir)
			return err
		})
		if err != nil {
			return fmt.Errorf("reading the disk's root filesystem: %w", err)
		}
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: time.Now().UTC()}, CreatedBy: "kiln import " + b.Job.Import.URI,
	}})
	if err != nil {
		return err
	}
	if tarred {
		lowers, err := x.Cache.Lowers(ctx, img)
		if err != nil {
			return err
		}
		if err := mountMerged(lowers, func(root string) error { arch = importArch(root, log); return nil }); err != nil {
			return err
		}
	}
	if img, err = withArch(img, cmp.Or(arch, "x86_64")); err != nil {
		return err
	}
	digest, err := oci.PushLocal(ctx, x.Registry, Repository, []string{tagFor(b.Image.Name, sandboxed.VersionTag(b.Image))}, img)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "root filesystem stored as %s@%s\n", Repository, digest)

	// The disk, and what the root filesystem says about itself.
	var pkgs []inventory.Package
	rel := ami.DiskPath(digest)
	final := filepath.Join(x.DataDir, rel)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	readTree := func(root string) {
		pkgs, _ = inventory.Packages(os.DirFS(root))
	}
	if raw != "" {
		if err := disk.MountRoot(ctx, raw, func(dir string) error { readTree(dir); return nil }); err != nil {
			return err
		}
		if err := syncFile(raw); err != nil {
			return err
		}
		if err := os.Rename(raw, final); err != nil {
			return err
		}
	} else {
		lowers, err := x.Cache.Lowers(ctx, img)
		if err != nil {
			return err
		}
		size := int64(defaultVolumeSize) << 30
		err = mountMerged(lowers, func(root string) error {
			readTree(root)
			_, err := x.makeBootable(ctx, root, final+".tmp", "", size, log)
			return err
		})
		if err != nil {
			return err
		}
		if err := syncFile(final + ".tmp"); err != nil {
			return err
		}
		if err := os.Rename(final+".tmp", final); err != nil {
			return err
		}
	}
	if err := x.disks().Publish(ctx, rel); err != nil {
		return err
	}
	fi, err := os.Stat(final)
	if err != nil {
		return err
	}
	if e := b.Image.EnhancedImageMetadataEnabled; e == nil || *e {
		list := make([]awsapi.ImagePackage, 0, len(pkgs))
		for _, p := range pkgs {
			list = append(list, awsapi.ImagePackage{PackageName: p.Name, PackageVersion: p.Version})
		}
		if err := b.SetPackages(ctx, list); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	amis, err := b.RegisterAMIs(ctx, []ami.AMI{{
		Name:        b.Image.Name + " " + strings.ReplaceAll(now.Format("2006-01-02T15:04:05.000Z"), ":", "-"),
		Description: "imported from " + b.Job.Import.URI, Region: x.Region, AccountID: b.Job.Account,
		Repository: Repository, Digest: digest, Disk: rel, Size: fi.Size(), CreationDate: now,
		Architecture: arch,
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "registered %s\n", amis[0].ImageID)
	return nil
}
