package registry

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// PutBlob stores the blob with the given digest in repo, reading its
// content from rd and verifying it against digest before anything is
// acknowledged. When the registry already holds the content, rd is not
// read and the blob is only linked into repo.
func (r *Registry) PutBlob(ctx context.Context, repo string, rd io.Reader, digest string) error {
	if err := checkName(repo); err != nil {
		return err
	}
	d, err := parseDigestArg(digest)
	if err != nil {
		return err
	}
	if !exists(r.blobPath(d)) {
		if _, _, err := r.ingest(ctx, rd, d); err != nil {
			return err
		}
	}
	return r.linkBlob(repo, d)
}

// AddBlob stores the content of rd as a blob of repo and returns its
// sha256 digest and size: for callers that stream content they have not
// hashed yet, such as a layer being compressed on the fly.
func (r *Registry) AddBlob(ctx context.Context, repo string, rd io.Reader) (digest string, size int64, err error) {
	if err := checkName(repo); err != nil {
		return "", 0, err
	}
	d, size, err := r.ingest(ctx, rd, Digest{Algorithm: "sha256"})
	if err != nil {
		return "", 0, err
	}
	return d.String(), size, r.linkBlob(repo, d)
}

// ingest streams rd into a temporary file while hashing it with want's
// algorithm and publishes the file as a blob once it is synced and, when
// want names content (Hex is set), verified against it.
func (r *Registry) ingest(ctx context.Context, rd io.Reader, want Digest) (Digest, int64, error) {
	f, err := os.CreateTemp(filepath.Join(r.root, "tmp"), "blob-")
	if err != nil {
		return Digest{}, 0, err
	}
	tmp := f.Name()
	published := false
	defer func() {
		if !published {
			os.Remove(tmp)
		}
	}()
	h := want.newHash()
	n, err := io.Copy(io.MultiWriter(f, h), contextReader{ctx, rd})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Digest{}, 0, err
	}
	got := Digest{Algorithm: want.Algorithm, Hex: hexString(h.Sum(nil))}
	if want.Hex != "" && got != want {
		return Digest{}, 0, errorf(ErrDigestInvalid, "content has digest %s, not %s", got, want)
	}
	if exists(r.blobPath(got)) {
		return got, n, nil // stored meanwhile; the temp file goes
	}
	if err := publishFile(tmp, r.blobPath(got)); err != nil {
		return Digest{}, 0, err
	}
	published = true
	return got, n, nil
}

// contextReader stops a long copy when its context ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (r *Registry) linkBlob(repo string, d Digest) error {
	link := r.layerLink(repo, d)
	if exists(link) {
		return nil
	}
	return writeFileAtomic(link, []byte(d.String()+"\n"))
}

// StatBlob returns the size of blob digest in repo.
func (r *Registry) StatBlob(ctx context.Context, repo, digest string) (int64, error) {
	d, err := r.linkedBlob(repo, digest)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(r.blobPath(d))
	if err != nil {
		return 0, r.missingBlob(err, d)
	}
	return fi.Size(), nil
}

// OpenBlob opens blob digest in repo for reading, and returns its size.
func (r *Registry) OpenBlob(ctx context.Context, repo, digest string) (io.ReadSeekCloser, int64, error) {
	f, size, err := r.openBlob(repo, digest)
	if err != nil {
		return nil, 0, err
	}
	return f, size, nil
}

func (r *Registry) openBlob(repo, digest string) (*os.File, int64, error) {
	d, err := r.linkedBlob(repo, digest)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(r.blobPath(d))
	if err != nil {
		return nil, 0, r.missingBlob(err, d)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

func (r *Registry) missingBlob(err error, d Digest) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errorf(ErrBlobUnknown, "blob %s is not stored", d)
	}
	return err
}

// linkedBlob checks that digest is a blob of repo.
func (r *Registry) linkedBlob(repo, digest string) (Digest, error) {
	if err := checkName(repo); err != nil {
		return Digest{}, err
	}
	d, err := parseDigestArg(digest)
	if err != nil {
		return Digest{}, err
	}
	if !exists(r.layerLink(repo, d)) {
		return Digest{}, errorf(ErrBlobUnknown, "blob %s is not in repository %s", d, repo)
	}
	return d, nil
}

// MountBlob links a blob of repository from into repo without copying it.
func (r *Registry) MountBlob(ctx context.Context, repo, from, digest string) error {
	if err := checkName(repo); err != nil {
		return err
	}
	d, err := r.linkedBlob(from, digest)
	if err != nil {
		return err
	}
	if !exists(r.blobPath(d)) {
		return errorf(ErrBlobUnknown, "blob %s is not stored", d)
	}
	return r.linkBlob(repo, d)
}

// DeleteBlob removes blob digest from repo. The shared content stays.
func (r *Registry) DeleteBlob(ctx context.Context, repo, digest string) error {
	d, err := r.linkedBlob(repo, digest)
	if err != nil {
		return err
	}
	return removeDurably(r.layerLink(repo, d))
}
