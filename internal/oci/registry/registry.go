// Package registry is kiln's embedded OCI registry: the distribution API
// at /v2/ on kiln's listener, and the same store as Go methods for the
// build engine, which pushes images in-process without HTTP.
//
// Everything lives under one root directory (kiln serves it from
// <data-dir>/registry):
//
//	blobs/<alg>/<hex[:2]>/<hex>           content, shared by every repository
//	uploads/<id>                          resumable upload sessions
//	tmp/                                  blobs being ingested (cleared at start)
//	repositories/<name>/_layers/<alg>/<hex>     blob <hex> is in <name>
//	repositories/<name>/_manifests/<alg>/<hex>  manifest <hex> is in <name>; holds its media type
//	repositories/<name>/_tags/<tag>             holds the tagged manifest's digest
//	repositories/<name>/_referrers/<alg>/<subject hex>/<alg>-<hex>
//	                                            manifest <hex> names that subject
//
// Blobs and manifest bodies are content-addressed and deduplicated; a
// repository only holds links to them. The per-repository directories
// start with '_' because no repository name component can, so nested
// names (a/b and a/b/c) never collide with the bookkeeping.
//
// Every write is verified and durable before it is acknowledged: content
// is hashed while it streams in, compared with the digest the client
// named, fsynced and then renamed into place, and links and tags are
// replaced atomically with the directory fsynced. A push that returned
// 201 survives kill -9 and power loss.
//
// There is no garbage collection yet: deleting a blob or manifest removes
// the repository's link, not the shared content.
package registry

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
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

// Registry is an OCI registry stored under one directory. It is safe for
// concurrent use, by HTTP clients and in-process callers at once.
type Registry struct {
	root string

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

	mu       sync.Mutex
	sessions map[string]*uploadSession
}

// Manifest is a stored manifest: its exact bytes and the media type it was
// pushed with.
type Manifest struct {
	Digest    string
	MediaType string
	Body      []byte
}

// New opens (creating if needed) the registry stored under root.
func New(root string) (*Registry, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{"blobs", "uploads", "repositories", "tmp"} {
		if err := mkdirAllSync(filepath.Join(root, dir)); err != nil {
			return nil, err
		}
	}
	r := &Registry{root: root, sessions: map[string]*uploadSession{}}
	r.sweep()
	return r, nil
}

// sweep removes what a crash can leave behind: half-ingested blobs in tmp/
// (never acknowledged) and upload sessions untouched for a week.
func (r *Registry) sweep() {
	if ents, err := os.ReadDir(filepath.Join(r.root, "tmp")); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(r.root, "tmp", e.Name()))
		}
	}
	if ents, err := os.ReadDir(filepath.Join(r.root, "uploads")); err == nil {
		for _, e := range ents {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > staleUploadAge {
				os.Remove(filepath.Join(r.root, "uploads", e.Name()))
			}
		}
	}
}

func (r *Registry) blobPath(d Digest) string {
	return filepath.Join(r.root, "blobs", d.Algorithm, d.Hex[:2], d.Hex)
}

func (r *Registry) repoDir(name string) string {
	return filepath.Join(r.root, "repositories", filepath.FromSlash(name))
}

func (r *Registry) layerLink(name string, d Digest) string {
	return filepath.Join(r.repoDir(name), "_layers", d.Algorithm, d.Hex)
}

func (r *Registry) manifestLink(name string, d Digest) string {
	return filepath.Join(r.repoDir(name), "_manifests", d.Algorithm, d.Hex)
}

// referrerLink records that manifest d of repo names subject as its
// subject, for the referrers API.
func (r *Registry) referrerLink(name string, subject, d Digest) string {
	return filepath.Join(r.repoDir(name), "_referrers", subject.Algorithm, subject.Hex, d.Algorithm+"-"+d.Hex)
}

func (r *Registry) tagPath(name, tag string) string {
	return filepath.Join(r.repoDir(name), "_tags", tag)
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

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
