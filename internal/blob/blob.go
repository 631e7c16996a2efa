// Package blob is kiln's store of named byte objects: registry blobs,
// manifests and links, machine disks and build logs. It has two
// implementations: Local, a directory on this host (the default, kept
// under the data directory), and S3, a bucket of an S3-compatible object
// store that several kiln nodes share.
//
// The interface is the subset both can do well. Objects are written
// whole and never modified: Put reads its reader to the end and only then
// publishes the object, so a reader that fails (a digest that does not
// match, a client that hangs up) leaves nothing behind. That is what lets
// callers verify content while it streams, without staging it first.
//
// Keys are slash-separated relative paths ("blobs/sha256/ab/ab12…"):
// no empty, "." or ".." components, no leading slash.
package blob

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"time"
)

// ErrNotExist is returned (wrapped) for a key that holds no object. It is
// fs.ErrNotExist, so errors.Is(err, fs.ErrNotExist) holds as well.
var ErrNotExist = fs.ErrNotExist

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Object is an open object: a reader that can seek (for HTTP range
// requests) and knows its size without reading.
type Object interface {
	io.ReadSeekCloser
	Size() int64
}

// Store is a flat namespace of immutable objects.
type Store interface {
	// Put stores what r yields under key, replacing any object there. r
	// is read to io.EOF; when it returns any other error, nothing is
	// stored and Put returns that error. It returns the bytes stored.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open opens the object at key for reading.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes the object at key.
	Stat(ctx context.Context, key string) (Info, error)
	// List calls fn for every object whose key starts with prefix, in
	// lexical key order. An error from fn stops the listing and is
	// returned.
	List(ctx context.Context, prefix string, fn func(Info) error) error
	// Delete removes the object at key; a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Move renames the object at src to dst (replacing dst), for content
	// whose name is only known once it has been read, such as a blob
	// whose digest is computed while it is stored.
	Move(ctx context.Context, src, dst string) error
}

// ValidKey reports whether key is a well-formed object key.
func ValidKey(key string) bool {
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") {
		return false
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return false
		}
	}
	return !strings.ContainsAny(key, "\x00\\")
}

func checkKey(key string) error {
	if !ValidKey(key) {
		return errors.New("blob: invalid object key " + quote(key))
	}
	return nil
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return "\"" + s + "\""
}

// ReadAll returns the whole object at key, refusing objects larger than
// limit: every caller that loads an object into memory says how much it
// is prepared to hold.
func ReadAll(ctx context.Context, s Store, key string, limit int64) ([]byte, error) {
	o, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	if o.Size() > limit {
		return nil, errors.New("blob: object " + quote(key) + " is larger than this reader's limit")
	}
	b, err := io.ReadAll(io.LimitReader(o, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errors.New("blob: object " + quote(key) + " is larger than this reader's limit")
	}
	return b, nil
}

// Exists reports whether key holds an object; an error that is not
// "not there" is returned, so a flaky store never passes for an empty one.
func Exists(ctx context.Context, s Store, key string) (bool, error) {
	_, err := s.Stat(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	return err == nil, err
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
