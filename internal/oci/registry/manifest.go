package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
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

	mediaType, shape, err := r.checkManifest(repo, mediaType, body)
	if err != nil {
		return "", err
	}

	if !exists(r.blobPath(d)) {
		if err := r.ingestBytes(ctx, body, d); err != nil {
			return "", err
		}
	}
	if err := writeFileAtomic(r.manifestLink(repo, d), []byte(mediaType+"\n")); err != nil {
		return "", err
	}
	if shape.Subject != nil {
		// The subject was checked to be a valid digest; it need not exist.
		subject, _ := ParseDigest(shape.Subject.Digest)
		if err := writeFileAtomic(r.referrerLink(repo, subject, d), nil); err != nil {
			return "", err
		}
	}
	if tag != "" {
		if err := r.checkTagMove(ctx, repo, tag, d); err != nil {
			return "", err
		}
		if err := writeFileAtomic(r.tagPath(repo, tag), []byte(d.String()+"\n")); err != nil {
			return "", err
		}
	}
	return d.String(), nil
}

func (r *Registry) ingestBytes(ctx context.Context, body []byte, d Digest) error {
	_, _, err := r.ingest(ctx, bytes.NewReader(body), d)
	return err
}

// checkManifest parses body enough to settle its media type and verify its
// references, and returns the media type to store and the parsed shape.
func (r *Registry) checkManifest(repo, mediaType string, body []byte) (string, *manifestShape, error) {
	var m manifestShape
	mt, err := r.checkManifestInto(repo, mediaType, body, &m)
	return mt, &m, err
}

func (r *Registry) checkManifestInto(repo, mediaType string, body []byte, m *manifestShape) (string, error) {
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
			if !exists(r.manifestLink(repo, d)) {
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
		if !exists(r.layerLink(repo, d)) || !exists(r.blobPath(d)) {
			return "", errorf(ErrManifestBlobUnknown, "manifest references blob %s, which is not in repository %s", d, repo)
		}
	}
	return mediaType, nil
}

// Resolve returns the digest ref names in repo: the tag's manifest, or ref
// itself when it is the digest of a manifest of repo.
func (r *Registry) Resolve(repo, ref string) (string, error) {
	d, err := r.resolve(repo, ref)
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

func (r *Registry) resolve(repo, ref string) (Digest, error) {
	if err := checkName(repo); err != nil {
		return Digest{}, err
	}
	if d, ok := ParseDigest(ref); ok {
		if !exists(r.manifestLink(repo, d)) {
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
	b, err := os.ReadFile(r.tagPath(repo, ref))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Digest{}, errorf(ErrManifestUnknown, "tag %s is not in repository %s", ref, repo)
		}
		return Digest{}, err
	}
	d, ok := ParseDigest(strings.TrimSpace(string(b)))
	if !ok {
		return Digest{}, fmt.Errorf("registry: corrupt tag file %s", r.tagPath(repo, ref))
	}
	return d, nil
}

// GetManifest returns the manifest ref (a tag or digest) of repo.
func (r *Registry) GetManifest(ctx context.Context, repo, ref string) (*Manifest, error) {
	d, err := r.resolve(repo, ref)
	if err != nil {
		return nil, err
	}
	mt, err := os.ReadFile(r.manifestLink(repo, d))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errorf(ErrManifestUnknown, "manifest %s is not in repository %s", d, repo)
		}
		return nil, err
	}
	body, err := os.ReadFile(r.blobPath(d))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errorf(ErrManifestUnknown, "manifest %s is not stored", d)
		}
		return nil, err
	}
	return &Manifest{Digest: d.String(), MediaType: strings.TrimSpace(string(mt)), Body: body}, nil
}

// DeleteManifest removes ref from repo. A tag is untagged; a digest
// removes the manifest and every tag that points at it.
func (r *Registry) DeleteManifest(ctx context.Context, repo, ref string) error {
	d, err := r.resolve(repo, ref)
	if err != nil {
		return err
	}
	if _, isDigest := ParseDigest(ref); !isDigest {
		return removeDurably(r.tagPath(repo, ref))
	}
	tags, err := r.Tags(repo)
	if err != nil {
		return err
	}
	for _, t := range tags {
		if td, err := r.resolve(repo, t); err == nil && td == d {
			if err := removeDurably(r.tagPath(repo, t)); err != nil {
				return err
			}
		}
	}
	return removeDurably(r.manifestLink(repo, d))
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
	dir := filepath.Dir(r.referrerLink(repo, subject, subject))
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	out := []Descriptor{}
	for _, e := range ents {
		alg, hexPart, ok := strings.Cut(e.Name(), "-")
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
	if err := checkName(repo); err != nil {
		return nil, err
	}
	if !r.isRepository(r.repoDir(repo)) {
		return nil, errorf(ErrNameUnknown, "repository %s is not known", repo)
	}
	ents, err := os.ReadDir(filepath.Join(r.repoDir(repo), "_tags"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	tags := []string{}
	for _, e := range ents {
		if !e.IsDir() && ValidTag(e.Name()) {
			tags = append(tags, e.Name())
		}
	}
	slices.Sort(tags)
	return tags, nil
}

// isRepository reports whether dir holds a repository's bookkeeping.
func (r *Registry) isRepository(dir string) bool {
	for _, sub := range []string{"_manifests", "_layers", "_tags"} {
		if exists(filepath.Join(dir, sub)) {
			return true
		}
	}
	return false
}

// Repositories returns every repository name, sorted.
func (r *Registry) Repositories() ([]string, error) {
	base := filepath.Join(r.root, "repositories")
	var names []string
	err := filepath.WalkDir(base, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !e.IsDir() {
			return nil
		}
		if strings.HasPrefix(e.Name(), "_") {
			return fs.SkipDir
		}
		if path != base && r.isRepository(path) {
			rel, err := filepath.Rel(base, path)
			if err != nil {
				return err
			}
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
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
	old, err := r.resolve(repo, tag)
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
	tags, err := r.Tags(repo)
	if err != nil {
		if errors.Is(err, ErrNameUnknown) {
			return nil, nil
		}
		return nil, err
	}
	byDigest := map[string][]string{}
	for _, t := range tags {
		if d, err := r.resolve(repo, t); err == nil {
			byDigest[d.String()] = append(byDigest[d.String()], t)
		}
	}
	var out []ImageRecord
	base := filepath.Join(r.repoDir(repo), "_manifests")
	algs, err := os.ReadDir(base)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, alg := range algs {
		ents, err := os.ReadDir(filepath.Join(base, alg.Name()))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			info, err := e.Info()
			if err != nil {
				continue
			}
			m, err := r.GetManifest(ctx, repo, alg.Name()+":"+e.Name())
			if err != nil {
				continue
			}
			out = append(out, ImageRecord{Digest: m.Digest, MediaType: m.MediaType, Tags: byDigest[m.Digest], Pushed: info.ModTime(), Body: m.Body})
		}
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
	dir := r.repoDir(repo)
	if !exists(dir) {
		return nil
	}
	for _, sub := range []string{"_tags", "_manifests", "_referrers", "_layers"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	return syncDir(dir)
}
