package container

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/kiln-build/kiln/internal/dockerfile"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/guest"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/sandbox"
)

// Recipe tags through which a container recipe asks for kiln's
// extensions to docker build's behaviour.
const (
	// TagLayers = "squash" gives the image one layer for everything the
	// Dockerfile and the components change, as `docker build --squash`
	// did; the default ("docker") is one layer per filesystem-changing
	// instruction and one for the components' build phase.
	TagLayers = "kiln:layers"
	// TagCache says which steps may reuse the layer an earlier build made
	// for the same step over the same layers: "on" (the default) the
	// Dockerfile's instructions, as docker build does, while the
	// components' build phase runs in every build (a recipe rebuilt on a
	// schedule is rebuilt to run them again); "all" the components'
	// phase too, when its documents and parameters are unchanged; "off"
	// nothing.
	TagCache = "kiln:cache"
)

// layer is one step's result: its files, as an overlay lower for the
// steps after it, and the image layer made of them.
type layer struct {
	dir    string
	empty  bool     // the step changed nothing (an empty history entry)
	layer  v1.Layer // nil when empty, or when no image will hold it (see needsLayers)
	key    string   // step cache key ("" in squash mode)
	reused bool
}

// stageResult is a built stage: its base and the layers it added.
type stageResult struct {
	index      int
	base       v1.Image
	baseLowers []string
	layers     []layer
	plan       *dockerfile.Plan
	key        string // cache key of the stage's filesystem after its last step
	image      v1.Image
}

// lowers are the stage's layer directories, top first.
func (r *stageResult) lowers() []string {
	var out []string
	for i := len(r.layers) - 1; i >= 0; i-- {
		if !r.layers[i].empty {
			out = append(out, r.layers[i].dir)
		}
	}
	out = append(out, r.baseLowers...)
	seen := map[string]bool{}
	return slices.DeleteFunc(out, func(d string) bool { dup := seen[d]; seen[d] = true; return dup })
}

// stageBuilder builds the stages the last stage needs, each once, in the
// order it needs them (as BuildKit does: an unused stage is not built).
type stageBuilder struct {
	in     *instance
	s      *engine.Step
	file   *dockerfile.File
	squash bool
	cache  *oci.StepCache // nil: no reuse
	// cacheComponents lets the components' phase be reused too.
	cacheComponents bool
	done            map[int]*stageResult
	images          map[string]*pulled
	nextDir         int
	mediaTyp        types.MediaType
}

type pulled struct {
	img    v1.Image
	lowers []string
	digest string
}

func hashOf(parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, p := range parts {
		enc.Encode(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// newDirs makes a fresh overlay upper and work directory. The names are
// short: every layer of a stage is a lowerdir in one mount option string.
func (b *stageBuilder) newDirs() (upper, work string, err error) {
	b.nextDir++
	d := filepath.Join(b.in.B.WorkDir, "L", strconv.Itoa(b.nextDir))
	upper, work = filepath.Join(d, "u"), filepath.Join(d, "w")
	for _, x := range []string{upper, work} {
		if err := os.MkdirAll(x, 0o755); err != nil {
			return "", "", err
		}
	}
	return upper, work, nil
}

// image pulls an image a FROM or --from names, once per reference (the
// job's parent is remembered from Launch), as the build's owner.
func (b *stageBuilder) image(ctx context.Context, ref string) (*pulled, error) {
	if p, ok := b.images[ref]; ok {
		return p, nil
	}
	if repo := b.in.OwnRepository(ref); repo != "" {
		if err := b.in.AuthorizeRepository(ctx, repo, registry.ActionPull, false); err != nil {
			return nil, fmt.Errorf("the image %s: %w", ref, err)
		}
	}
	b.s.Logf("pulling %s", ref)
	pull := b.in.Tools.Pull
	if b.in.Tools.OwnerAuth != nil {
		pull.Auth = b.in.Tools.OwnerAuth(b.in.Owner())
	}
	img, err := oci.Pull(ctx, ref, pull)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref, err)
	}
	lowers, err := b.in.Tools.Cache.Lowers(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", ref, err)
	}
	return b.remember(ref, img, lowers)
}

// remember records an image pulled and unpacked for ref.
func (b *stageBuilder) remember(ref string, img v1.Image, lowers []string) (*pulled, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	p := &pulled{img: img, lowers: lowers, digest: d.String()}
	b.images[ref] = p
	return p, nil
}

// running makes the instance describe the sandbox a step runs in, so a
// build kept after a failure (terminateInstanceOnFailure: false) opens
// in `kiln shell` with the failed step's files.
func (b *stageBuilder) running(cfg sandbox.Config) {
	b.in.ParentLowers, b.in.Upper, b.in.Work = cfg.Lower, cfg.Upper, cfg.Work
}

// emptyLower stands for scratch: overlayfs needs a lower directory.
func (b *stageBuilder) emptyLower() (string, error) {
	d := filepath.Join(b.in.B.WorkDir, "L", "empty")
	return d, os.MkdirAll(d, 0o755)
}

// build builds stage i and the stages it depends on.
func (b *stageBuilder) build(ctx context.Context, i int) (*stageResult, error) {
	if r, ok := b.done[i]; ok {
		return r, nil
	}
	st := b.file.Stages[i]
	r := &stageResult{index: i}
	switch {
	case st.BaseStage >= 0:
		base, err := b.build(ctx, st.BaseStage)
		if err != nil {
			return nil, err
		}
		r.base, r.baseLowers, r.key = base.image, base.lowers(), base.key
	case strings.EqualFold(st.From, "scratch"):
		r.base = mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1)
		r.key = hashOf("scratch")
	default:
		p, err := b.image(ctx, st.From)
		if err != nil {
			return nil, err
		}
		r.base, r.baseLowers, r.key = p.img, p.lowers, hashOf("image", p.digest)
	}
	r.key = hashOf(r.key, "owner", b.in.Owner())
	cf, err := r.base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config of %s: %w", st.From, err)
	}
	plan, err := b.file.EvaluateStage(i, cf.Config)
	if err != nil {
		return nil, fmt.Errorf("the Dockerfile: %w", err)
	}
	r.plan = plan
	for _, step := range plan.Steps {
		if step.From != "" && step.FromStage >= 0 {
			if _, err := b.build(ctx, step.FromStage); err != nil {
				return nil, err
			}
		}
	}
	b.s.Logf("stage %s: FROM %s, %d filesystem step(s)", b.stageName(i), st.From, len(plan.Steps))
	if b.squash {
		err = b.runSquashed(ctx, r)
	} else {
		err = b.runLayered(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	if r.image, err = b.assemble(r); err != nil {
		return nil, err
	}
	b.done[i] = r
	return r, nil
}

// stepConfig is the sandbox a step of r runs in, writing to upper.
func (b *stageBuilder) stepConfig(r *stageResult, upper, work string) (sandbox.Config, error) {
	cfg := b.in.Config(false, b.s.Log)
	cfg.Lower = r.lowers()
	if len(cfg.Lower) == 0 {
		e, err := b.emptyLower()
		if err != nil {
			return cfg, err
		}
		cfg.Lower = []string{e}
	}
	cfg.Upper, cfg.Work = upper, work
	// Every layer is a lowerdir in one overlay mount option, which the
	// kernel bounds to a page: say so in the recipe's terms rather than
	// the mount's.
	if n := len(strings.Join(cfg.Lower, ":")) + len(upper) + len(work) + 80; n >= os.Getpagesize() {
		return cfg, fmt.Errorf("stage %s: %d layers are more than one overlay mount can stack (%d bytes of mount options, the kernel allows %d); "+
			"use fewer filesystem-changing instructions, or the recipe tag %s=squash", b.stageName(r.index), len(cfg.Lower), n, os.Getpagesize(), TagLayers)
	}
	return cfg, nil
}

// stageName is how the build log names stage i: its name, or its index.
func (b *stageBuilder) stageName(i int) string {
	if n := b.file.Stages[i].Name; n != "" {
		return n
	}
	return strconv.Itoa(i)
}

// runLayered runs each step over the layers before it, into its own
// upper directory: that directory is the step's layer. A step whose key
// an earlier build recorded is not run: its layer is reused by digest.
func (b *stageBuilder) runLayered(ctx context.Context, r *stageResult) error {
	for _, step := range r.plan.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		prep, err := b.prepare(ctx, r, step)
		if err != nil {
			return err
		}
		key := hashOf(r.key, stepIdentity(step), prep.inputs)
		if l, ok := b.reuse(ctx, key); ok {
			b.s.Logf("line %d: %s: reusing layer %s from an earlier build", step.Line, step.Kind, l.digest)
			r.layers = append(r.layers, l.layer)
			r.key = key
			continue
		}
		upper, work, err := b.newDirs()
		if err != nil {
			return err
		}
		cfg, err := b.stepConfig(r, upper, work)
		if err != nil {
			return err
		}
		b.running(cfg)
		if err := b.in.runDockerfileStep(ctx, cfg, b.s, step, prep); err != nil {
			return err
		}
		l := layer{dir: upper, key: key}
		ents, err := os.ReadDir(upper)
		if err != nil {
			return err
		}
		l.empty = len(ents) == 0
		if !l.empty && b.needsLayers(r.index) {
			start := time.Now()
			if l.layer, err = oci.DiffLayer(ctx, upper, b.in.B.WorkDir); err != nil {
				return err
			}
			size, _ := l.layer.Size()
			d, _ := l.layer.Digest()
			b.s.Logf("line %d: %s: layer %s, %d bytes compressed, made in %s", step.Line, step.Kind, d, size, time.Since(start).Round(time.Millisecond))
		}
		r.layers = append(r.layers, l)
		r.key = key
	}
	return nil
}

// needsLayers says whether stage i's steps must be made into layers: the
// stages of the result's FROM chain go into the image, and with step
// reuse on every stage's layers are kept for the next build. Otherwise a
// stage is only a filesystem to copy from, and tarring and compressing
// it would be wasted.
func (b *stageBuilder) needsLayers(i int) bool {
	if b.cache != nil {
		return true
	}
	for j := len(b.file.Stages) - 1; j >= 0; j = b.file.Stages[j].BaseStage {
		if j == i {
			return true
		}
	}
	return false
}

// runSquashed runs every step of the stage into one upper directory,
// which becomes the stage's only new layer.
func (b *stageBuilder) runSquashed(ctx context.Context, r *stageResult) error {
	upper, work, err := b.newDirs()
	if err != nil {
		return err
	}
	cfg, err := b.stepConfig(r, upper, work)
	if err != nil {
		return err
	}
	b.running(cfg)
	for _, step := range r.plan.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		prep, err := b.prepare(ctx, r, step)
		if err != nil {
			return err
		}
		if err := b.in.runDockerfileStep(ctx, cfg, b.s, step, prep); err != nil {
			return err
		}
	}
	l := layer{dir: upper}
	r.layers = []layer{l}
	if !b.needsLayers(r.index) {
		return nil
	}
	start := time.Now()
	if l.layer, err = oci.DiffLayer(ctx, upper, b.in.B.WorkDir); err != nil {
		return err
	}
	size, _ := l.layer.Size()
	b.s.Logf("squashed layer: %d bytes compressed, made in %s", size, time.Since(start).Round(time.Millisecond))
	r.layers[0] = l
	return nil
}

// stepIdentity is what of a step decides its result, for its cache key:
// everything but its line number.
func stepIdentity(st dockerfile.Step) dockerfile.Step {
	st.Line = 0
	return st
}

type reused struct {
	layer  layer
	digest string
}

// reuse looks key up in the step cache and, when the registry still
// holds the layer, makes it available as a lower directory.
func (b *stageBuilder) reuse(ctx context.Context, key string) (reused, bool) {
	if b.cache == nil {
		return reused{}, false
	}
	cl, ok := b.cache.Get(key)
	if !ok {
		return reused{}, false
	}
	l, err := oci.RegistryLayer(ctx, b.in.Tools.Registry, cl, b.mediaType())
	if err != nil {
		return reused{}, false
	}
	dir, err := b.in.Tools.Cache.Unpack(ctx, l)
	if err != nil {
		b.s.Logf("not reusing layer %s: %v", cl.Digest, err)
		return reused{}, false
	}
	return reused{layer: layer{dir: dir, layer: l, key: key, reused: true}, digest: cl.Digest}, true
}

// mediaType is the layer media type of the result: Docker's when the
// job's parent is a Docker-schema image (a manifest mixing the two is
// refused by some registries), OCI's otherwise.
func (b *stageBuilder) mediaType() types.MediaType {
	if b.mediaTyp == "" {
		b.mediaTyp = types.OCILayer
		if b.in.Parent != nil {
			if mt, err := b.in.Parent.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
				b.mediaTyp = types.DockerLayer
			}
		}
	}
	return b.mediaTyp
}

// assemble puts a stage's layers and config on its base.
func (b *stageBuilder) assemble(r *stageResult) (v1.Image, error) {
	now := v1.Time{Time: time.Now().UTC()}
	base := r.base
	var adds []mutate.Addendum
	var hist []v1.History
	stepN := 0
	for _, h := range r.plan.History {
		h.Created = now
		if !h.EmptyLayer && !b.squash {
			l := r.layers[stepN].layer
			stepN++
			if l == nil {
				h.EmptyLayer = true
			} else {
				adds = append(adds, mutate.Addendum{Layer: l, MediaType: b.layerMediaType(base)})
			}
		} else {
			h.EmptyLayer = true
		}
		hist = append(hist, h)
	}
	if b.squash && len(r.layers) == 1 && r.layers[0].layer != nil {
		adds = append(adds, mutate.Addendum{Layer: r.layers[0].layer, MediaType: b.layerMediaType(base)})
		hist = append(hist, v1.History{
			Created: now, CreatedBy: "kiln: " + b.in.B.Image.Arn,
			Comment: "the Dockerfile's RUN, COPY and ADD steps and the components' build phase, squashed (" + TagLayers + "=squash)",
		})
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return nil, err
	}
	baseCf, err := base.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.History = append(slices.Clone(baseCf.History), hist...)
	cf.Config = r.plan.Config
	cf.Created = now
	if r.plan.Author != "" {
		cf.Author = r.plan.Author
	}
	if cf.OS == "" {
		cf.OS, cf.Architecture = "linux", "amd64"
	}
	return mutate.ConfigFile(img, cf)
}

func (b *stageBuilder) layerMediaType(base v1.Image) types.MediaType {
	if mt, err := base.MediaType(); err == nil && mt == types.DockerManifestSchema2 {
		return types.DockerLayer
	}
	return types.OCILayer
}

// record remembers the layers of every built stage under their keys,
// once they are in the registry: the result's were pushed with it, the
// other stages' are stored as blobs of repo so a rebuild can skip them.
func (b *stageBuilder) record(ctx context.Context, repo string, final *stageResult) {
	if b.cache == nil {
		return
	}
	for _, r := range b.done {
		for _, l := range r.layers {
			if l.key == "" || l.layer == nil {
				continue
			}
			d, err := l.layer.Digest()
			if err != nil {
				continue
			}
			diffID, err := l.layer.DiffID()
			if err != nil {
				continue
			}
			if r != final && !l.reused {
				rc, err := l.layer.Compressed()
				if err != nil {
					continue
				}
				err = b.in.Tools.Registry.PutBlob(ctx, repo, rc, d.String())
				rc.Close()
				if err != nil {
					b.s.Logf("keeping stage %d's layer for reuse: %v", r.index, err)
					continue
				}
			}
			size, _ := l.layer.Size()
			if err := b.cache.Put(l.key, oci.CachedLayer{Repository: repo, Digest: d.String(), DiffID: diffID.String(), Size: size}); err != nil {
				b.s.Logf("recording layer %s for reuse: %v", d, err)
			}
		}
	}
}

// prepared is what a step needs from outside its stage: the guest paths
// of its sources, and the content hash of its inputs for the cache key.
type prepared struct {
	sources []string // guest paths, for COPY/ADD
	urls    []bool   // per source: downloaded from a URL (never extracted)
	inputs  string
}

// prepare resolves a step's sources: from the build context (the staged
// component documents), from URLs (downloaded on the host), or from
// another stage or image (copied out of it into the staging directory).
func (b *stageBuilder) prepare(ctx context.Context, r *stageResult, st dockerfile.Step) (prepared, error) {
	var p prepared
	in := b.in
	switch st.Kind {
	case componentsInstruction:
		var docs []any
		for _, c := range in.B.Components {
			docs = append(docs, c.ARN, c.Data, c.Parameters)
		}
		if !b.cacheComponents {
			// This build's own: no other build arrives at the key.
			docs = append(docs, in.B.Image.Arn)
		}
		p.inputs = hashOf(docs...)
		return p, nil
	case "COPY", "ADD":
	default:
		return p, nil
	}
	if st.From != "" {
		var lowers []string
		var srcKey string
		if st.FromStage >= 0 {
			from := b.done[st.FromStage]
			lowers, srcKey = from.lowers(), from.key
		} else {
			img, err := b.image(ctx, st.From)
			if err != nil {
				return p, fmt.Errorf("line %d: %s --from=%s: %w", st.Line, st.Kind, st.From, err)
			}
			lowers, srcKey = img.lowers, img.digest
		}
		srcs, err := b.export(ctx, lowers, st)
		if err != nil {
			return p, err
		}
		p.sources, p.urls = srcs, make([]bool, len(srcs))
		p.inputs = hashOf("from", srcKey)
		return p, nil
	}
	var sums []string
	for i, src := range st.Sources {
		if strings.Contains(src, "://") {
			if st.Kind != "ADD" {
				return p, fmt.Errorf("line %d: COPY cannot take a URL (%s); ADD can", st.Line, src)
			}
			name, sum, err := in.download(ctx, b.s, i, src, st.Checksum)
			if err != nil {
				return p, fmt.Errorf("line %d: ADD %s: %w", st.Line, src, err)
			}
			p.sources = append(p.sources, sandboxed.GuestDocs+"/"+name)
			p.urls = append(p.urls, true)
			sums = append(sums, sum)
			continue
		}
		clean := filepath.Clean("/" + src)
		host := filepath.Join(in.Stage, "documents", clean)
		if _, err := os.Lstat(host); err != nil {
			return p, fmt.Errorf("line %d: %s %s: not in the build context (the component documents)", st.Line, st.Kind, src)
		}
		sum, err := treeHash(host)
		if err != nil {
			return p, err
		}
		p.sources = append(p.sources, sandboxed.GuestDocs+clean)
		p.urls = append(p.urls, false)
		sums = append(sums, sum)
	}
	p.inputs = hashOf(sums)
	return p, nil
}

// treeHash hashes a file or directory tree of the build context: names,
// modes and contents.
func treeHash(root string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(h, "%s\x00%o\x00", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(h, f)
			f.Close()
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			t, _ := os.Readlink(p)
			fmt.Fprint(h, t)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// export copies a COPY/ADD --from step's sources out of another stage's
// (or image's) filesystem into the staging directory, where the step then
// reads them at /.kiln/from/N. It runs the kiln runner over that
// filesystem with a throwaway upper, so the other stage is left as it was
// and its symlinks resolve inside it.
func (b *stageBuilder) export(ctx context.Context, lowers []string, st dockerfile.Step) ([]string, error) {
	in := b.in
	b.nextDir++
	n := strconv.Itoa(b.nextDir)
	host := filepath.Join(in.Stage, "from", n)
	if err := os.MkdirAll(host, 0o755); err != nil {
		return nil, err
	}
	guestDir := sandboxed.StageDir + "/from/" + n
	upper, work, err := b.newDirs()
	if err != nil {
		return nil, err
	}
	cfg := in.Config(false, b.s.Log)
	cfg.Lower, cfg.Upper, cfg.Work, cfg.Dir = lowers, upper, work, "/"
	if len(cfg.Lower) == 0 {
		e, err := b.emptyLower()
		if err != nil {
			return nil, err
		}
		cfg.Lower = []string{e}
	}
	cfg.Binds = append(slices.Clone(cfg.Binds), sandbox.Bind{Source: host, Target: guestDir})
	var out []string
	for i, src := range st.Sources {
		abs := path.Join("/", src)
		glob := strings.ContainsAny(src, "*?[")
		idx := strconv.Itoa(i)
		if err := os.MkdirAll(filepath.Join(host, idx), 0o755); err != nil {
			return nil, err
		}
		dest := guestDir + "/" + idx + "/"
		if !glob {
			dest += "x"
		}
		what := fmt.Sprintf("line %d: %s --from=%s %s", st.Line, st.Kind, st.From, src)
		if err := in.Run(ctx, cfg, what, guest.Argv(sandboxed.GuestBinary, guest.CopyRequest{Sources: []string{abs}, Dest: dest})...); err != nil {
			return nil, err
		}
		if glob {
			out = append(out, guestDir+"/"+idx)
			continue
		}
		got := filepath.Join(host, idx, "x")
		fi, err := os.Lstat(got)
		if err != nil {
			return nil, fmt.Errorf("%s: nothing was copied", what)
		}
		if fi.IsDir() {
			out = append(out, guestDir+"/"+idx+"/x")
			continue
		}
		// A file keeps its own name when the destination is a directory.
		base := path.Base(abs)
		if base == "/" || base == "." {
			base = "root"
		}
		if err := os.Rename(got, filepath.Join(host, idx, base)); err != nil {
			return nil, err
		}
		out = append(out, guestDir+"/"+idx+"/"+base)
	}
	return out, nil
}
