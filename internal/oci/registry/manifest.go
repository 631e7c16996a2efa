package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/blob"
)

// manifestShape is the part of any manifest the registry looks at: the
// media type it claims and the content it references.
type manifestShape struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
	FSLayers      []any             `json:"fsLayers"` // Docker schema 1, refused
}

type descriptor struct {
	MediaType string   `json:"mediaType"`
	Digest    string   `json:"digest"`
	Size      int64    `json:"size"`
	URLs      []string `json:"urls"`
}

// isIndexType reports whether media type mt lists other manifests.
func isIndexType(mt string) bool {
	return mt == MediaTypeOCIIndex || mt == MediaTypeDockerList
}

// PutManifest stores body as a manifest of repo under ref, a tag or the
// body's digest, and returns the body's digest. mediaType is what the
// client sent as Content-Type; when empty, the body's own mediaType field
// decides. The body is kept byte for byte. Every blob an image manifest
// references must already be in repo (MANIFEST_BLOB_UNKNOWN otherwise),
// and every manifest an index lists must be a manifest of repo, so a
// tag never points at something a client could not pull.
func (r *Registry) PutManifest(ctx context.Context, repo, ref, mediaType string, body []byte) (string, error) {
	if err := checkName(repo); err != nil {
		return "", err
	}
	if len(body) > maxManifestBytes {
		return "", withStatus(errorf(ErrSizeInvalid, "manifest of %d bytes exceeds the %d-byte limit", len(body), maxManifestBytes), http.StatusRequestEntityTooLarge)
	}
	var tag string
	var d Digest
	if want, ok := ParseDigest(ref); ok {
		h := want.newHash()
		h.Write(body)
		d = Digest{Algorithm: want.Algorithm, Hex: hexString(h.Sum(nil))}
		if d != want {
			return "", errorf(ErrDigestInvalid, "manifest has digest %s, not %s", d, want)
		}
	} else if ValidTag(ref) {
		tag = ref
		d = sha256Digest(body)
	} else if strings.Contains(ref, ":") {
		return "", errorf(ErrDigestInvalid, "invalid digest %q", ref)
	} else {
		return "", errorf(ErrTagInvalid, "invalid tag %q", ref)
	}

	mediaType, shape, err := r.checkManifest(ctx, repo, mediaType, body)
	if err != nil {
		return "", err
	}

	have, err := r.exists(ctx, blobKey(d))
	if err != nil {
		return "", err
	}
	if !have {
		if _, err := r.store.Put(ctx, blobKey(d), newVerifier(bytes.NewReader(body), d)); err != nil {
			return "", err
		}
	}
	if err := r.putSmall(ctx, manifestLink(repo, d), []byte(mediaType+"\n")); err != nil {
		return "", err
	}
	if shape.Subject != nil {
		// The subject was checked to be a valid digest; it need not exist.
		subject, _ := ParseDigest(shape.Subject.Digest)
		if err := r.putSmall(ctx, referrerLink(repo, subject, d), nil); err != nil {
			return "", err
		}
	}
	if tag != "" {
		if err := r.checkTagMove(ctx, repo, tag, d); err != nil {
			return "", err
		}
		if err := r.putSmall(ctx, tagKey(repo, tag), []byte(d.String()+"\n")); err != nil {
			return "", err
		}
	}
	return d.String(), nil
}

// checkManifest parses body enough to settle its media type and verify its
// references, and returns the media type to store and the parsed shape.
func (r *Registry) checkManifest(ctx context.Context, repo, mediaType string, body []byte) (string, *manifestShape, error) {
	var m manifestShape
	mt, err := r.checkManifestInto(ctx, repo, mediaType, body, &m)
	return mt, &m, err
}

func (r *Registry) checkManifestInto(ctx context.Context, repo, mediaType string, body []byte, m *manifestShape) (string, error) {
	if mediaType != "" {
		mt, _, err := mime.ParseMediaType(mediaType)
		if err != nil {
			return "", errorf(ErrManifestInvalid, "invalid Content-Type %q", mediaType)
		}
		mediaType = mt
	}
	if err := decodeJSON(body, m); err != nil {
		return "", errorf(ErrManifestInvalid, "manifest is not valid JSON: %v", err)
	}
	if mediaType == "" {
		mediaType = m.MediaType
	}
	if mediaType == "" {
		// An OCI manifest may omit mediaType; guess from its shape, as
		// the image spec's "guidance for an empty mediaType" suggests.
		if m.Manifests != nil {
			mediaType = MediaTypeOCIIndex
		} else {
			mediaType = MediaTypeOCIManifest
		}
	}
	if m.MediaType != "" && m.MediaType != mediaType {
		return "", errorf(ErrManifestInvalid, "manifest says mediaType %q but was sent as %q", m.MediaType, mediaType)
	}
	if mediaType == mediaTypeDockerSchema1 || mediaType == mediaTypeDockerSchema1Signed || m.FSLayers != nil {
		return "", errorf(ErrManifestInvalid, "Docker schema 1 manifests are not supported; push schema 2 or OCI")
	}
	if m.Subject != nil {
		if _, ok := ParseDigest(m.Subject.Digest); !ok {
			return "", errorf(ErrManifestInvalid, "subject has invalid digest %q", m.Subject.Digest)
		}
	}

	if isIndexType(mediaType) || (m.Manifests != nil && m.Config == nil) {
		for _, desc := range m.Manifests {
			d, ok := ParseDigest(desc.Digest)
			if !ok {
				return "", errorf(ErrManifestInvalid, "index entry has invalid digest %q", desc.Digest)
			}
			have, err := r.exists(ctx, manifestLink(repo, d))
			if err != nil {
				return "", err
			}
			if !have {
				return "", errorf(ErrManifestBlobUnknown, "index references manifest %s, which is not in repository %s", d, repo)
			}
		}
		return mediaType, nil
	}
	refs := m.Layers
	if m.Config != nil {
		refs = append([]descriptor{*m.Config}, refs...)
	}
	for _, desc := range refs {
		d, ok := ParseDigest(desc.Digest)
		if !ok {
			return "", errorf(ErrManifestInvalid, "descriptor has invalid digest %q", desc.Digest)
		}
		if len(desc.URLs) > 0 || strings.Contains(desc.MediaType, "nondistributable") || strings.Contains(desc.MediaType, "foreign") {
			continue // fetched from elsewhere by design
		}
		linked, err := r.exists(ctx, layerLink(repo, d))
		if err != nil {
			return "", err
		}
		stored := false
		if linked {
			if stored, err = r.exists(ctx, blobKey(d)); err != nil {
				return "", err
			}
		}
		if !stored {
			return "", errorf(ErrManifestBlobUnknown, "manifest references blob %s, which is not in repository %s", d, repo)
		}
	}
	return mediaType, nil
}

// Resolve returns the digest ref names in repo: the tag's manifest, or ref
// itself when it is the digest of a manifest of repo.
func (r *Registry) Resolve(repo, ref string) (string, error) {
	d, err := r.resolve(context.Background(), repo, ref)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func (r *Registry) resolve(ctx context.Context, repo, ref string) (Digest, error) {
	if err := checkName(repo); err != nil {
		return Digest{}, err
	}
	if d, ok := ParseDigest(ref); ok {
		have, err := r.exists(ctx, manifestLink(repo, d))
		if err != nil {
			return Digest{}, err
		}
		if !have {
			return Digest{}, errorf(ErrManifestUnknown, "manifest %s is not in repository %s", d, repo)
		}
		return d, nil
	}
	if !ValidTag(ref) {
		if strings.Contains(ref, ":") {
			return Digest{}, errorf(ErrDigestInvalid, "invalid digest %q", ref)
		}
		return Digest{}, errorf(ErrTagInvalid, "invalid tag %q", ref)
	}
	b, err := r.readSmall(ctx, tagKey(repo, ref))
	if err != nil {
		if isNotExist(err) {
			return Digest{}, errorf(ErrManifestUnknown, "tag %s is not in repository %s", ref, repo)
		}
		return Digest{}, err
	}
	d, ok := ParseDigest(strings.TrimSpace(string(b)))
	if !ok {
		return Digest{}, fmt.Errorf("registry: corrupt tag object %s", tagKey(repo, ref))
	}
	return d, nil
}

// GetManifest returns the manifest ref (a tag or digest) of repo.
func (r *Registry) GetManifest(ctx context.Context, repo, ref string) (*Manifest, error) {
	d, err := r.resolve(ctx, repo, ref)
	if err != nil {
		return nil, err
	}
	mt, err := r.readSmall(ctx, manifestLink(repo, d))
	if err != nil {
		if isNotExist(err) {
			return nil, errorf(ErrManifestUnknown, "manifest %s is not in repository %s", d, repo)
		}
		return nil, err
	}
	body, err := blob.ReadAll(ctx, r.store, blobKey(d), maxManifestBytes)
	if err != nil {
		if isNotExist(err) {
			return nil, errorf(ErrManifestUnknown, "manifest %s is not stored", d)
		}
		return nil, err
	}
	return &Manifest{Digest: d.String(), MediaType: strings.TrimSpace(string(mt)), Body: body}, nil
}

// DeleteManifest removes ref from repo. A tag is untagged; a digest
// removes the manifest and every tag that points at it.
func (r *Registry) DeleteManifest(ctx context.Context, repo, ref string) error {
	d, err := r.resolve(ctx, repo, ref)
	if err != nil {
		return err
	}
	if _, isDigest := ParseDigest(ref); !isDigest {
		return r.store.Delete(ctx, tagKey(repo, ref))
	}
	tags, err := r.tags(ctx, repo)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if td, err := r.resolve(ctx, repo, t); err == nil && td == d {
			if err := r.store.Delete(ctx, tagKey(repo, t)); err != nil {
				return err
			}
		}
	}
	return r.store.Delete(ctx, manifestLink(repo, d))
}

// Descriptor describes a manifest in a referrers list.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// Referrers lists the manifests of repo whose subject is digest, in digest
// order, keeping only those of artifactType when it is not empty. A
// subject nobody refers to (or that does not exist) has none.
func (r *Registry) Referrers(ctx context.Context, repo, digest, artifactType string) ([]Descriptor, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	subject, err := parseDigestArg(digest)
	if err != nil {
		return nil, err
	}
	var names []string
	err = r.store.List(ctx, referrerDir(repo, subject), func(i blob.Info) error {
		names = append(names, keyBase(i.Key))
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := []Descriptor{}
	for _, name := range names {
		alg, hexPart, ok := strings.Cut(name, "-")
		if !ok {
			continue
		}
		m, err := r.GetManifest(ctx, repo, alg+":"+hexPart)
		if errors.Is(err, ErrManifestUnknown) || errors.Is(err, ErrDigestInvalid) {
			continue // deleted since
		}
		if err != nil {
			return nil, err
		}
		var shape manifestShape
		if decodeJSON(m.Body, &shape) != nil {
			continue
		}
		at := shape.ArtifactType
		if at == "" && shape.Config != nil {
			at = shape.Config.MediaType
		}
		if artifactType != "" && at != artifactType {
			continue
		}
		out = append(out, Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: int64(len(m.Body)), ArtifactType: at, Annotations: shape.Annotations})
	}
	return out, nil
}

// Tags returns repo's tags in lexical order. A repository that exists
// without tags has none; one that does not exist is NAME_UNKNOWN.
func (r *Registry) Tags(repo string) ([]string, error) {
	return r.tags(context.Background(), repo)
}

func (r *Registry) tags(ctx context.Context, repo string) ([]string, error) {
	if err := checkName(repo); err != nil {
		return nil, err
	}
	tags := []string{}
	err := r.store.List(ctx, repoKey(repo)+"/_tags/", func(i blob.Info) error {
		if name := strings.TrimPrefix(i.Key, repoKey(repo)+"/_tags/"); ValidTag(name) {
			tags = append(tags, name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		known, err := r.isRepository(ctx, repo)
		if err != nil {
			return nil, err
		}
		if !known {
			return nil, errorf(ErrNameUnknown, "repository %s is not known", repo)
		}
	}
	slices.Sort(tags)
	return tags, nil
}

// errFound stops a listing at its first object.
var errFound = errors.New("found")

// isRepository reports whether repo holds any manifest, blob link or tag.
func (r *Registry) isRepository(ctx context.Context, repo string) (bool, error) {
	for _, sub := range []string{"/_manifests/", "/_layers/", "/_tags/"} {
		err := r.store.List(ctx, repoKey(repo)+sub, func(blob.Info) error { return errFound })
		if err == errFound {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// Repositories returns every repository name, sorted: the names under
// repositories/ up to their first bookkeeping ('_') component.
func (r *Registry) Repositories() ([]string, error) {
	seen := map[string]bool{}
	err := r.store.List(context.Background(), "repositories/", func(i blob.Info) error {
		rest := strings.TrimPrefix(i.Key, "repositories/")
		var parts []string
		for _, p := range strings.Split(rest, "/") {
			if strings.HasPrefix(p, "_") {
				if p == "_manifests" || p == "_layers" || p == "_tags" {
					if name := strings.Join(parts, "/"); name != "" {
						seen[name] = true
					}
				}
				return nil
			}
			parts = append(parts, p)
		}
		return nil
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, err
}

// checkTagMove refuses to point an existing tag of an immutable
// repository at another manifest. Pushing the same manifest again under
// its own tag is allowed: clients retry pushes.
func (r *Registry) checkTagMove(ctx context.Context, repo, tag string, d Digest) error {
	if r.TagRules == nil || !r.TagRules.Immutable(ctx, repo) {
		return nil
	}
	old, err := r.resolve(ctx, repo, tag)
	if err != nil || old == d {
		return nil
	}
	return errorf(ErrTagInvalid, "the image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable", tag, repo)
}

// ImageRecord is one manifest of a repository, for ECR's image listings.
type ImageRecord struct {
	Digest    string
	MediaType string
	Tags      []string
	Pushed    time.Time // when the manifest was (last) linked into the repository
	Body      []byte
}

// Images returns every manifest of repo with its tags, in digest order. A
// repository that holds nothing yet has none; NAME_UNKNOWN when it does
// not exist at all.
func (r *Registry) Images(ctx context.Context, repo string) ([]ImageRecord, error) {
	tags, err := r.tags(ctx, repo)
	if err != nil {
		if errors.Is(err, ErrNameUnknown) {
			return nil, nil
		}
		return nil, err
	}
	byDigest := map[string][]string{}
	for _, t := range tags {
		if d, err := r.resolve(ctx, repo, t); err == nil {
			byDigest[d.String()] = append(byDigest[d.String()], t)
		}
	}
	base := repoKey(repo) + "/_manifests/"
	var links []blob.Info
	if err := r.store.List(ctx, base, func(i blob.Info) error { links = append(links, i); return nil }); err != nil {
		return nil, err
	}
	var out []ImageRecord
	for _, l := range links {
		alg, hexPart, ok := strings.Cut(strings.TrimPrefix(l.Key, base), "/")
		if !ok {
			continue
		}
		m, err := r.GetManifest(ctx, repo, alg+":"+hexPart)
		if err != nil {
			continue
		}
		out = append(out, ImageRecord{Digest: m.Digest, MediaType: m.MediaType, Tags: byDigest[m.Digest], Pushed: l.ModTime, Body: m.Body})
	}
	slices.SortFunc(out, func(a, b ImageRecord) int { return strings.Compare(a.Digest, b.Digest) })
	return out, nil
}

// DeleteRepository removes repo's manifests, tags and blob links. Names
// nested under it (repo/child) are other repositories and stay. The shared
// content stays too (there is no garbage collection yet).
func (r *Registry) DeleteRepository(ctx context.Context, repo string) error {
	if err := checkName(repo); err != nil {
		return err
	}
	for _, sub := range []string{"/_tags/", "/_manifests/", "/_referrers/", "/_layers/"} {
		var keys []string
		if err := r.store.List(ctx, repoKey(repo)+sub, func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
			return err
		}
		for _, k := range keys {
			if err := r.store.Delete(ctx, k); err != nil {
				return err
			}
		}
	}
	return nil
}
