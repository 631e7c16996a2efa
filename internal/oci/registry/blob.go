package registry

import (
	"context"
	"crypto/rand"
	"hash"
	"io"
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
	have, err := r.exists(ctx, blobKey(d))
	if err != nil {
		return err
	}
	if !have {
		if _, err := r.store.Put(ctx, blobKey(d), newVerifier(rd, d)); err != nil {
			return err
		}
	}
	return r.linkBlob(ctx, repo, d)
}

// AddBlob stores the content of rd as a blob of repo and returns its
// sha256 digest and size: for callers that stream content they have not
// hashed yet, such as a layer being compressed on the fly. The content
// goes to a temporary object first and is moved to its name once the
// digest is known.
func (r *Registry) AddBlob(ctx context.Context, repo string, rd io.Reader) (digest string, size int64, err error) {
	if err := checkName(repo); err != nil {
		return "", 0, err
	}
	var b [16]byte
	rand.Read(b[:])
	tmp := "tmp/" + hexString(b[:])
	h := newSHA256()
	size, err = r.store.Put(ctx, tmp, io.TeeReader(rd, h))
	if err != nil {
		return "", 0, err
	}
	d := Digest{Algorithm: "sha256", Hex: hexString(h.Sum(nil))}
	have, err := r.exists(ctx, blobKey(d))
	if err == nil && have {
		err = r.store.Delete(ctx, tmp) // stored meanwhile; the copy goes
	} else if err == nil {
		err = r.store.Move(ctx, tmp, blobKey(d))
	}
	if err != nil {
		r.store.Delete(context.WithoutCancel(ctx), tmp)
		return "", 0, err
	}
	return d.String(), size, r.linkBlob(ctx, repo, d)
}

// verifier hashes content as it streams and, at its end, fails the read
// when the digest is not the one the client named: the store then
// publishes nothing.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	want Digest
}

func newVerifier(rd io.Reader, want Digest) *verifier {
	return &verifier{r: rd, h: want.newHash(), want: want}
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := (Digest{Algorithm: v.want.Algorithm, Hex: hexString(v.h.Sum(nil))}); got != v.want {
			return n, errorf(ErrDigestInvalid, "content has digest %s, not %s", got, v.want)
		}
	}
	return n, err
}

func (r *Registry) linkBlob(ctx context.Context, repo string, d Digest) error {
	have, err := r.exists(ctx, layerLink(repo, d))
	if err != nil || have {
		return err
	}
	return r.putSmall(ctx, layerLink(repo, d), []byte(d.String()+"\n"))
}

// StatBlob returns the size of blob digest in repo.
func (r *Registry) StatBlob(ctx context.Context, repo, digest string) (int64, error) {
	d, err := r.linkedBlob(ctx, repo, digest)
	if err != nil {
		return 0, err
	}
	info, err := r.store.Stat(ctx, blobKey(d))
	if err != nil {
		return 0, r.missingBlob(err, d)
	}
	return info.Size, nil
}

// OpenBlob opens blob digest in repo for reading, and returns its size.
func (r *Registry) OpenBlob(ctx context.Context, repo, digest string) (io.ReadSeekCloser, int64, error) {
	d, err := r.linkedBlob(ctx, repo, digest)
	if err != nil {
		return nil, 0, err
	}
	o, err := r.store.Open(ctx, blobKey(d))
	if err != nil {
		return nil, 0, r.missingBlob(err, d)
	}
	return o, o.Size(), nil
}

func (r *Registry) missingBlob(err error, d Digest) error {
	if isNotExist(err) {
		return errorf(ErrBlobUnknown, "blob %s is not stored", d)
	}
	return err
}

// linkedBlob checks that digest is a blob of repo.
func (r *Registry) linkedBlob(ctx context.Context, repo, digest string) (Digest, error) {
	if err := checkName(repo); err != nil {
		return Digest{}, err
	}
	d, err := parseDigestArg(digest)
	if err != nil {
		return Digest{}, err
	}
	have, err := r.exists(ctx, layerLink(repo, d))
	if err != nil {
		return Digest{}, err
	}
	if !have {
		return Digest{}, errorf(ErrBlobUnknown, "blob %s is not in repository %s", d, repo)
	}
	return d, nil
}

// MountBlob links a blob of repository from into repo without copying it.
func (r *Registry) MountBlob(ctx context.Context, repo, from, digest string) error {
	if err := checkName(repo); err != nil {
		return err
	}
	d, err := r.linkedBlob(ctx, from, digest)
	if err != nil {
		return err
	}
	have, err := r.exists(ctx, blobKey(d))
	if err != nil {
		return err
	}
	if !have {
		return errorf(ErrBlobUnknown, "blob %s is not stored", d)
	}
	return r.linkBlob(ctx, repo, d)
}

// DeleteBlob removes blob digest from repo. The shared content stays.
func (r *Registry) DeleteBlob(ctx context.Context, repo, digest string) error {
	d, err := r.linkedBlob(ctx, repo, digest)
	if err != nil {
		return err
	}
	return r.store.Delete(ctx, layerLink(repo, d))
}
