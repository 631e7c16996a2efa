package registry

import (
	"context"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// uploadSession is the in-memory state of a resumable upload: a running
// sha256 of what the file holds, so finishing need not reread it. After a
// restart the state is rebuilt from the file on first use.
type uploadSession struct {
	mu   sync.Mutex
	h    hash.Hash // sha256 of the first size bytes; nil when unknown
	size int64
}

func (r *Registry) uploadPath(id string) string {
	return filepath.Join(r.root, "uploads", id)
}

// startUpload creates an empty upload session and returns its ID.
func (r *Registry) startUpload() (string, error) {
	id := newUploadID()
	f, err := os.OpenFile(r.uploadPath(id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", err
	}
	f.Close()
	r.mu.Lock()
	r.sessions[id] = &uploadSession{h: newSHA256(), size: 0}
	r.mu.Unlock()
	return id, nil
}

// session returns upload id's state, locked; the caller unlocks it.
func (r *Registry) session(id string) (*uploadSession, error) {
	if !validUploadID(id) {
		return nil, errorf(ErrBlobUploadUnknown, "upload %q is not known", id)
	}
	r.mu.Lock()
	s := r.sessions[id]
	if s == nil {
		if !exists(r.uploadPath(id)) {
			r.mu.Unlock()
			return nil, errorf(ErrBlobUploadUnknown, "upload %s is not known", id)
		}
		s = &uploadSession{size: -1}
		r.sessions[id] = s
	}
	r.mu.Unlock()
	s.mu.Lock()
	if !exists(r.uploadPath(id)) { // finished or cancelled while we waited
		s.mu.Unlock()
		return nil, errorf(ErrBlobUploadUnknown, "upload %s is not known", id)
	}
	return s, nil
}

func (r *Registry) dropSession(id string) {
	r.mu.Lock()
	delete(r.sessions, id)
	r.mu.Unlock()
}

// uploadSize returns how many bytes upload id holds.
func (r *Registry) uploadSize(id string) (int64, error) {
	s, err := r.session(id)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	fi, err := os.Stat(r.uploadPath(id))
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// appendUpload appends rd to upload id. When start is not negative it must
// equal the bytes already received (the chunk's Content-Range start), and
// when length is not negative the chunk must hold exactly that many bytes.
// A failed append leaves the session as it was. It returns the new size.
func (r *Registry) appendUpload(ctx context.Context, id string, rd io.Reader, start, length int64) (int64, error) {
	s, err := r.session(id)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return r.appendLocked(ctx, id, s, rd, start, length)
}

func (r *Registry) appendLocked(ctx context.Context, id string, s *uploadSession, rd io.Reader, start, length int64) (int64, error) {
	f, err := os.OpenFile(r.uploadPath(id), os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if start >= 0 && start != size {
		return 0, withStatus(errorf(ErrBlobUploadInvalid, "chunk starts at %d but the upload holds %d bytes", start, size), http.StatusRequestedRangeNotSatisfiable)
	}
	if s.h == nil || s.size != size {
		if err := r.rehash(id, s); err != nil {
			return 0, err
		}
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return 0, err
	}
	snapshot, _ := marshalHash(s.h)
	src := io.Reader(contextReader{ctx, rd})
	if length >= 0 {
		src = io.LimitReader(src, length+1)
	}
	n, err := io.Copy(io.MultiWriter(f, s.h), src)
	if err == nil && length >= 0 && n != length {
		err = errorf(ErrSizeInvalid, "chunk holds %d bytes, its range says %d", n, length)
	}
	if err != nil {
		// Roll back so the client can retry the chunk from the offset it
		// believes in.
		if terr := f.Truncate(size); terr != nil {
			s.h = nil
			return 0, terr
		}
		if !unmarshalHash(s.h, snapshot) {
			s.h = nil
		}
		s.size = size
		return 0, err
	}
	s.size = size + n
	return s.size, nil
}

// rehash rebuilds a session's running hash from its file.
func (r *Registry) rehash(id string, s *uploadSession) error {
	f, err := os.Open(r.uploadPath(id))
	if err != nil {
		return err
	}
	defer f.Close()
	h := newSHA256()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	s.h, s.size = h, n
	return nil
}

// finishUpload appends a last chunk (rd may be nil) and commits the upload
// as blob digest of repo.
func (r *Registry) finishUpload(ctx context.Context, repo, id, digest string, rd io.Reader, start, length int64) error {
	if err := checkName(repo); err != nil {
		return err
	}
	d, err := parseDigestArg(digest)
	if err != nil {
		return err
	}
	s, err := r.session(id)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if rd != nil {
		if _, err := r.appendLocked(ctx, id, s, rd, start, length); err != nil {
			return err
		}
	}
	path := r.uploadPath(id)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	var got string
	if err == nil {
		fi, serr := f.Stat()
		switch {
		case serr != nil:
			err = serr
		case d.Algorithm == "sha256" && s.h != nil && s.size == fi.Size():
			got = hexString(s.h.Sum(nil))
		default:
			h := d.newHash()
			if _, err = io.Copy(h, f); err == nil {
				got = hexString(h.Sum(nil))
			}
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	if got != d.Hex {
		// The session is spent either way: distribution cancels it too,
		// and a client retries with a fresh upload.
		removeDurably(path)
		r.dropSession(id)
		return errorf(ErrDigestInvalid, "uploaded content has digest %s:%s, not %s", d.Algorithm, got, d)
	}
	if exists(r.blobPath(d)) {
		err = removeDurably(path)
	} else {
		err = publishFile(path, r.blobPath(d))
	}
	if err != nil {
		return err
	}
	r.dropSession(id)
	return r.linkBlob(repo, d)
}

// cancelUpload discards upload id.
func (r *Registry) cancelUpload(id string) error {
	s, err := r.session(id)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if err := removeDurably(r.uploadPath(id)); err != nil {
		return err
	}
	r.dropSession(id)
	return nil
}
