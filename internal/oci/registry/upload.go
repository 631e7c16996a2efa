package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/kiln-build/kiln/internal/blob"
)

// sessionLock serialises one node's requests on one upload session.
type sessionLock struct {
	mu   sync.Mutex
	refs int
}

func sessionKey(id string) string { return "uploads/" + id + "/started" }

func partsPrefix(id string) string { return "uploads/" + id + "/parts/" }

// partKey names the part that starts at offset; zero-padded so that the
// store's lexical listing is offset order.
func partKey(id string, offset int64) string {
	return fmt.Sprintf("%s%020d", partsPrefix(id), offset)
}

// startUpload creates an empty upload session and returns its ID.
func (r *Registry) startUpload(ctx context.Context) (string, error) {
	id := newUploadID()
	if err := r.putSmall(ctx, sessionKey(id), nil); err != nil {
		return "", err
	}
	return id, nil
}

// session locks upload id for this node and checks that it exists; the
// caller calls the returned unlock.
func (r *Registry) session(ctx context.Context, id string) (unlock func(), err error) {
	if !validUploadID(id) {
		return nil, errorf(ErrBlobUploadUnknown, "upload %q is not known", id)
	}
	r.mu.Lock()
	l := r.sessions[id]
	if l == nil {
		l = &sessionLock{}
		r.sessions[id] = l
	}
	l.refs++
	r.mu.Unlock()
	l.mu.Lock()
	unlock = func() {
		l.mu.Unlock()
		r.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(r.sessions, id)
		}
		r.mu.Unlock()
	}
	have, err := r.exists(ctx, sessionKey(id))
	if err == nil && !have { // finished or cancelled, here or on another node
		err = errorf(ErrBlobUploadUnknown, "upload %s is not known", id)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// part is one stored chunk of an upload.
type part struct {
	key    string
	offset int64
	size   int64
}

// parts lists upload id's chunks in order and returns how many bytes
// they hold. Chunks must tile the upload from offset 0; anything else
// means the store lost or gained a part, and the session is unusable.
func (r *Registry) parts(ctx context.Context, id string) ([]part, int64, error) {
	var ps []part
	var size int64
	err := r.store.List(ctx, partsPrefix(id), func(i blob.Info) error {
		off, err := strconv.ParseInt(strings.TrimPrefix(i.Key, partsPrefix(id)), 10, 64)
		if err != nil {
			return nil // not ours
		}
		if off != size {
			return errorf(ErrBlobUploadInvalid, "upload %s has a gap or overlap at byte %d", id, size)
		}
		ps = append(ps, part{key: i.Key, offset: off, size: i.Size})
		size += i.Size
		return nil
	})
	return ps, size, err
}

// uploadSize returns how many bytes upload id holds.
func (r *Registry) uploadSize(ctx context.Context, id string) (int64, error) {
	unlock, err := r.session(ctx, id)
	if err != nil {
		return 0, err
	}
	defer unlock()
	_, size, err := r.parts(ctx, id)
	return size, err
}

// appendUpload appends rd to upload id. When start is not negative it must
// equal the bytes already received (the chunk's Content-Range start), and
// when length is not negative the chunk must hold exactly that many bytes.
// A failed append stores nothing, so the session stays as it was. It
// returns the new size.
func (r *Registry) appendUpload(ctx context.Context, id string, rd io.Reader, start, length int64) (int64, error) {
	unlock, err := r.session(ctx, id)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return r.appendLocked(ctx, id, rd, start, length)
}

func (r *Registry) appendLocked(ctx context.Context, id string, rd io.Reader, start, length int64) (int64, error) {
	_, size, err := r.parts(ctx, id)
	if err != nil {
		return 0, err
	}
	if start >= 0 && start != size {
		return 0, withStatus(errorf(ErrBlobUploadInvalid, "chunk starts at %d but the upload holds %d bytes", start, size), http.StatusRequestedRangeNotSatisfiable)
	}
	src := rd
	if length >= 0 {
		src = &exactReader{r: io.LimitReader(rd, length+1), want: length}
	}
	key := partKey(id, size)
	n, err := r.store.Put(ctx, key, src)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return size, r.store.Delete(ctx, key)
	}
	return size + n, nil
}

// exactReader fails at its end unless it yielded exactly want bytes.
type exactReader struct {
	r    io.Reader
	want int64
	n    int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.n += int64(n)
	if e.n > e.want || (err == io.EOF && e.n != e.want) {
		return n, errorf(ErrSizeInvalid, "chunk holds %d bytes or more, its range says %d", e.n, e.want)
	}
	return n, err
}

// finishUpload appends a last chunk (rd may be nil) and commits the upload
// as blob digest of repo: the parts stream, in order, through the digest
// check into the blob.
func (r *Registry) finishUpload(ctx context.Context, repo, id, digest string, rd io.Reader, start, length int64) error {
	if err := checkName(repo); err != nil {
		return err
	}
	d, err := parseDigestArg(digest)
	if err != nil {
		return err
	}
	unlock, err := r.session(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	if rd != nil {
		if _, err := r.appendLocked(ctx, id, rd, start, length); err != nil {
			return err
		}
	}
	ps, _, err := r.parts(ctx, id)
	if err != nil {
		return err
	}
	pr := &partsReader{ctx: ctx, store: r.store, parts: ps}
	defer pr.Close()
	content := newVerifier(pr, d)
	have, err := r.exists(ctx, blobKey(d))
	if err != nil {
		return err
	}
	if have {
		_, err = io.Copy(io.Discard, content)
	} else {
		_, err = r.store.Put(ctx, blobKey(d), content)
	}
	if err != nil {
		if errors.Is(err, ErrDigestInvalid) {
			// A wrong digest spends the session: distribution cancels it
			// too, and a client retries with a fresh upload.
			r.removeSession(ctx, id)
		}
		return err
	}
	if err := r.removeSession(ctx, id); err != nil {
		return err
	}
	return r.linkBlob(ctx, repo, d)
}

// partsReader reads an upload's parts one after another, opening each
// only when the previous one is done.
type partsReader struct {
	ctx   context.Context
	store blob.Store
	parts []part
	cur   blob.Object
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.cur == nil {
			if len(p.parts) == 0 {
				return 0, io.EOF
			}
			o, err := p.store.Open(p.ctx, p.parts[0].key)
			if err != nil {
				return 0, err
			}
			p.cur, p.parts = o, p.parts[1:]
		}
		n, err := p.cur.Read(b)
		if err == io.EOF {
			p.cur.Close()
			p.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (p *partsReader) Close() {
	if p.cur != nil {
		p.cur.Close()
		p.cur = nil
	}
}

// removeSession deletes every object of upload id, the marker last so a
// half-removed session still reads as one and can be cancelled again.
func (r *Registry) removeSession(ctx context.Context, id string) error {
	ps, _, _ := r.parts(ctx, id)
	for _, p := range ps {
		if err := r.store.Delete(ctx, p.key); err != nil {
			return err
		}
	}
	var rest []string
	r.store.List(ctx, partsPrefix(id), func(i blob.Info) error { rest = append(rest, i.Key); return nil })
	for _, k := range rest {
		r.store.Delete(ctx, k)
	}
	return r.store.Delete(ctx, sessionKey(id))
}

// cancelUpload discards upload id.
func (r *Registry) cancelUpload(ctx context.Context, id string) error {
	unlock, err := r.session(ctx, id)
	if err != nil {
		return err
	}
	defer unlock()
	return r.removeSession(ctx, id)
}
