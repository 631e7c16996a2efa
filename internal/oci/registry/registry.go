// Package registry is kiln's embedded OCI registry: the distribution API
// at /v2/ on kiln's listener, and the same store as Go methods for the
// build engine, which pushes images in-process without HTTP.
//
// Everything lives in one blob.Store (package blob): a directory on this
// host (kiln serves it from <data-dir>/registry) or a bucket that several
// kiln nodes share. Keys:
//
//	blobs/<alg>/<hex[:2]>/<hex>           content, shared by every repository
//	uploads/<id>/started                  an upload session exists
//	uploads/<id>/parts/<offset>           the bytes of one PATCH, from offset on
//	tmp/<random>                          blobs being ingested before their digest is known
//	repositories/<name>/_layers/<alg>/<hex>     blob <hex> is in <name>
//	repositories/<name>/_manifests/<alg>/<hex>  manifest <hex> is in <name>; holds its media type
//	repositories/<name>/_tags/<tag>             holds the tagged manifest's digest
//	repositories/<name>/_referrers/<alg>/<subject hex>/<alg>-<hex>
//	                                            manifest <hex> names that subject
//
// On a local directory the layout is the one kiln has always used, so an
// existing data directory is read as it is.
//
// Blobs and manifest bodies are content-addressed and deduplicated; a
// repository only holds links to them. The per-repository directories
// start with '_' because no repository name component can, so nested
// names (a/b and a/b/c) never collide with the bookkeeping.
//
// Every write is verified and durable before it is acknowledged: content
// is hashed while it streams into the store, and a digest that does not
// match fails the store's Put, which then publishes nothing. The local
// store fsyncs and renames (a push that returned 201 survives kill -9 and
// power loss); S3 acknowledges only stored objects.
//
// Several nodes, one registry: nothing a request needs lives in a node's
// memory. An upload session is its objects in the store, each PATCH one
// part object named by the offset it starts at, so the chunks of one push
// may land on different nodes; finishing streams the parts in order into
// the blob while hashing them. A push acknowledged by one node is
// pullable from every other at once.
//
// Pulls stream through the node rather than redirecting to a presigned
// bucket URL, as distribution can: a redirect only works for clients that
// can reach the bucket (often a private network endpoint), and the URL,
// once issued, bypasses kiln's per-account authorisation for its
// lifetime. Streaming costs the node bandwidth; it is the safe default.
//
// There is no garbage collection yet: deleting a blob or manifest removes
// the repository's link, not the shared content.
package registry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/blob"
)

// Media types the registry knows by name.
const (
	MediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"

	mediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// maxManifestBytes bounds a manifest body; the distribution spec
// recommends registries accept at least 4 MiB.
const maxManifestBytes = 4 << 20

// staleUploadAge is how long an abandoned upload session is kept.
const staleUploadAge = 7 * 24 * time.Hour

// staleTempAge is how long a tmp/ object is kept: long enough that
// another node's ingest in progress is never swept.
const staleTempAge = 24 * time.Hour

// Registry is an OCI registry kept in one blob.Store. It is safe for
// concurrent use, by HTTP clients and in-process callers at once, and by
// several Registries (on several nodes) on one store.
type Registry struct {
	store blob.Store

	// Authenticate, when set, decides whether an HTTP request may use the
	// registry; requests it refuses get 401 with a Basic challenge, which
	// is what makes docker, skopeo and crane send their credentials. Nil
	// lets everyone in (kiln's loopback default). The Go methods do not
	// consult it.
	Authenticate func(r *http.Request) bool

	// Guard, when set, authenticates every HTTP request and authorises it
	// per repository and action (see Guard). Nil leaves that to
	// Authenticate alone.
	Guard Guard
	// TagRules, when set, says which repositories refuse to move a tag once
	// it is set (ECR's IMMUTABLE tag mutability). It holds for the Go
	// methods as well as for HTTP pushes.
	TagRules TagPolicy

	// Log, when set, gets one debug line per HTTP request.
	Log *slog.Logger

	// mu guards sessions, which serialises this node's requests on one
	// upload session (clients send a session's chunks in order; across
	// nodes the offset check catches a chunk sent out of turn).
	mu       sync.Mutex
	sessions map[string]*sessionLock
}

// Manifest is a stored manifest: its exact bytes and the media type it was
// pushed with.
type Manifest struct {
	Digest    string
	MediaType string
	Body      []byte
}

// New opens (creating if needed) the registry stored in the directory
// root.
func New(root string) (*Registry, error) {
	st, err := blob.NewLocal(root)
	if err != nil {
		return nil, err
	}
	return NewOnStore(st), nil
}

// NewOnStore opens the registry kept in st.
func NewOnStore(st blob.Store) *Registry {
	r := &Registry{store: st, sessions: map[string]*sessionLock{}}
	r.sweep(context.Background())
	return r
}

// sweep removes what a crash can leave behind: half-ingested blobs in tmp/
// (never acknowledged) and upload sessions untouched for a week. Objects
// are only swept once old enough that no live node can still be writing
// them.
func (r *Registry) sweep(ctx context.Context) {
	now := time.Now()
	for prefix, age := range map[string]time.Duration{"tmp/": staleTempAge, "uploads/": staleUploadAge} {
		var stale []string
		r.store.List(ctx, prefix, func(i blob.Info) error {
			if now.Sub(i.ModTime) > age {
				stale = append(stale, i.Key)
			}
			return nil
		})
		for _, k := range stale {
			r.store.Delete(ctx, k)
		}
	}
	// What kiln before the blob store left: tmp/ files and one-file
	// upload sessions on the local disk.
	if l, ok := r.store.(*blob.Local); ok {
		removeLegacy(l.Root())
	}
}

func blobKey(d Digest) string {
	return "blobs/" + d.Algorithm + "/" + d.Hex[:2] + "/" + d.Hex
}

func repoKey(name string) string {
	return "repositories/" + name
}

func layerLink(name string, d Digest) string {
	return repoKey(name) + "/_layers/" + d.Algorithm + "/" + d.Hex
}

func manifestLink(name string, d Digest) string {
	return repoKey(name) + "/_manifests/" + d.Algorithm + "/" + d.Hex
}

// referrerLink records that manifest d of repo names subject as its
// subject, for the referrers API.
func referrerLink(name string, subject, d Digest) string {
	return referrerDir(name, subject) + d.Algorithm + "-" + d.Hex
}

func referrerDir(name string, subject Digest) string {
	return repoKey(name) + "/_referrers/" + subject.Algorithm + "/" + subject.Hex + "/"
}

func tagKey(name, tag string) string {
	return repoKey(name) + "/_tags/" + tag
}

func checkName(name string) error {
	if !ValidName(name) {
		return errorf(ErrNameInvalid, "invalid repository name %q", name)
	}
	return nil
}

func parseDigestArg(s string) (Digest, error) {
	d, ok := ParseDigest(s)
	if !ok {
		return Digest{}, errorf(ErrDigestInvalid, "invalid digest %q (want sha256:<64 hex> or sha512:<128 hex>)", s)
	}
	return d, nil
}

// exists reports whether key holds an object; a store that cannot say is
// an error, never a guess.
func (r *Registry) exists(ctx context.Context, key string) (bool, error) {
	return blob.Exists(ctx, r.store, key)
}

// putSmall stores a small bookkeeping object (a link or a tag).
func (r *Registry) putSmall(ctx context.Context, key string, data []byte) error {
	_, err := r.store.Put(ctx, key, strings.NewReader(string(data)))
	return err
}

// readSmall reads a bookkeeping object; links and tags are a line each.
func (r *Registry) readSmall(ctx context.Context, key string) ([]byte, error) {
	return blob.ReadAll(ctx, r.store, key, 4<<10)
}

func isNotExist(err error) bool { return errors.Is(err, blob.ErrNotExist) }

// keyBase is the last component of a key.
func keyBase(key string) string { return path.Base(key) }
