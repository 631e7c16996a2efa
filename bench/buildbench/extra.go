package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// The layering workloads: a multi-stage Dockerfile built by kiln and by
// `buildah bud`, and a rebuild after one changed instruction, measured as
// the bytes a registry receives and a client pulls, with kiln's default
// layering against its one-layer output (kiln:layers=squash).

// multiStageResult is the multi-stage workload's wall times.
type multiStageResult struct {
	Kiln    []time.Duration `json:"kiln_ns"`
	Buildah []time.Duration `json:"buildah_ns"`
}

// rebuildResult is one layering mode's rebuild.
type rebuildResult struct {
	Mode        string        `json:"mode"`
	Layers      int           `json:"layers"`      // the rebuilt image's layers, base included
	NewLayers   int           `json:"new_layers"`  // layers the first build's image did not have
	NewBytes    int64         `json:"new_bytes"`   // their compressed size: what a push sends and a pull fetches
	TotalBytes  int64         `json:"total_bytes"` // every layer's compressed size
	PullTime    time.Duration `json:"pull_ns"`     // fetching the new layers over HTTP, with the old image's at hand
	RebuildTime time.Duration `json:"rebuild_ns"`  // CreateImage → AVAILABLE of the rebuild
	FirstTime   time.Duration `json:"first_ns"`    // the same for the first build (no layer to reuse)
}

// multiStageDockerfile compiles in one stage (here: the workload's files,
// archived) and copies the result into a slim one. placeholders puts the
// Image Builder template's lines in (kiln) or a no-op RUN (buildah).
func multiStageDockerfile(parent string, steps []step, kiln bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s AS build\n", parent)
	for _, s := range steps {
		fmt.Fprintf(&b, "RUN %s\n", s.Command)
	}
	b.WriteString("RUN tar -C /opt/bench -cf /app.tar small && mv /opt/bench/big /app.bin\n")
	fmt.Fprintf(&b, "FROM %s\n", parent)
	if kiln {
		b.WriteString("{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n")
	}
	b.WriteString("COPY --from=build /app.tar /app.bin /opt/app/\n")
	return b.String()
}

// rebuildDockerfile has the workload's big steps first, then the one
// instruction that changes between the two builds (version), then the
// components (the recipe's no-op one).
func rebuildDockerfile(steps []step, version string) string {
	var b strings.Builder
	b.WriteString("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n")
	for _, s := range steps {
		fmt.Fprintf(&b, "RUN %s\n", s.Command)
	}
	fmt.Fprintf(&b, "RUN echo %s > /opt/bench/version\n", version)
	b.WriteString("{{{ imagebuilder:components }}}\n")
	return b.String()
}

const noopComponent = "name: noop\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Noop\n        action: ExecuteBash\n        inputs:\n          commands:\n            - \"true\"\n"

// runLayering runs the layering workloads into rep; the multi-stage one
// needs buildah.
func runLayering(ctx context.Context, rep *report, kb *kilnBuilder, bb *buildahBuilder, addr string, steps []step, runs int, logf func(string, ...any)) error {
	x, err := newExtraKiln(ctx, kb, addr)
	if err != nil {
		return err
	}
	if bb != nil {
		if rep.MultiStage, err = runMultiStage(ctx, x, bb, steps, runs, logf); err != nil {
			return err
		}
	}
	rep.Rebuild, err = runRebuild(ctx, x, steps, logf)
	return err
}

// extraKiln is the recipes the layering workloads build.
type extraKiln struct {
	kb   *kilnBuilder
	comp string
	addr string
}

func newExtraKiln(ctx context.Context, kb *kilnBuilder, addr string) (*extraKiln, error) {
	comp, err := kb.client.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("noop"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(noopComponent),
	})
	if err != nil {
		return nil, fmt.Errorf("CreateComponent: %w", err)
	}
	return &extraKiln{kb: kb, comp: aws.ToString(comp.ComponentBuildVersionArn), addr: addr}, nil
}

func (x *extraKiln) recipe(ctx context.Context, name, version, template string, tags map[string]string) (string, error) {
	out, err := x.kb.client.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		ContainerType: types.ContainerTypeDocker, Name: aws.String(name), SemanticVersion: aws.String(version),
		Components:             []types.ComponentConfiguration{{ComponentArn: aws.String(x.comp)}},
		ParentImage:            aws.String(x.addr + "/base:latest"),
		DockerfileTemplateData: aws.String(template), Tags: tags,
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("bench/" + name)},
	})
	if err != nil {
		return "", fmt.Errorf("CreateContainerRecipe %s: %w", name, err)
	}
	return aws.ToString(out.ContainerRecipeArn), nil
}

// buildRecipe builds recipe once with the kiln builder's machinery.
func (x *extraKiln) buildRecipe(ctx context.Context, recipe string) (time.Duration, string, error) {
	saved := x.kb.recipe
	x.kb.recipe = recipe
	defer func() { x.kb.recipe = saved }()
	return x.kb.build(ctx)
}

// runMultiStage builds the multi-stage workload runs+1 times with each
// tool, interleaved, the first unmeasured. kiln's step reuse is off
// (kiln:cache=off), as buildah's is (--layers=false).
func runMultiStage(ctx context.Context, x *extraKiln, bb *buildahBuilder, steps []step, runs int, logf func(string, ...any)) (*multiStageResult, error) {
	recipe, err := x.recipe(ctx, "multistage", "1.0.0", multiStageDockerfile("{{{ imagebuilder:parentImage }}}", steps, true), map[string]string{"kiln:cache": "off"})
	if err != nil {
		return nil, err
	}
	dockerfile := filepath.Join(bb.dir, "context", "Dockerfile.multistage")
	if err := os.WriteFile(dockerfile, []byte(multiStageDockerfile(bb.registry+"/base:latest", steps, false)), 0o644); err != nil {
		return nil, err
	}
	res := &multiStageResult{}
	for round := 0; round <= runs; round++ {
		d, _, err := x.buildRecipe(ctx, recipe)
		if err != nil {
			return nil, fmt.Errorf("kiln multi-stage build: %w", err)
		}
		if round > 0 {
			res.Kiln = append(res.Kiln, d)
		}
		bd, err := bb.buildFile(ctx, dockerfile, fmt.Sprintf("ms%d", round))
		if err != nil {
			return nil, fmt.Errorf("buildah multi-stage build: %w", err)
		}
		if round > 0 {
			res.Buildah = append(res.Buildah, bd)
		}
		logf("multi-stage round %d: kiln %s, buildah %s", round, benchkit.Seconds(d), benchkit.Seconds(bd))
	}
	return res, nil
}

// runRebuild builds the rebuild workload, then the recipe's next version
// with one instruction changed, in both layering modes, and measures
// what the rebuilt image adds over the first.
func runRebuild(ctx context.Context, x *extraKiln, steps []step, logf func(string, ...any)) ([]rebuildResult, error) {
	var out []rebuildResult
	for _, mode := range []string{"docker", "squash"} {
		tags := map[string]string{"kiln:layers": mode}
		name := "rebuild-" + mode
		r1, err := x.recipe(ctx, name, "1.0.0", rebuildDockerfile(steps, "one"), tags)
		if err != nil {
			return nil, err
		}
		r2, err := x.recipe(ctx, name, "1.0.1", rebuildDockerfile(steps, "two"), tags)
		if err != nil {
			return nil, err
		}
		first, uri1, err := x.buildRecipe(ctx, r1)
		if err != nil {
			return nil, fmt.Errorf("rebuild workload (%s), first build: %w", mode, err)
		}
		d, uri2, err := x.buildRecipe(ctx, r2)
		if err != nil {
			return nil, fmt.Errorf("rebuild workload (%s), rebuild: %w", mode, err)
		}
		res, err := pullNew(ctx, uri1, uri2)
		if err != nil {
			return nil, err
		}
		res.Mode, res.RebuildTime, res.FirstTime = mode, d, first
		logf("rebuild (%s): %d of %d layers new, %s of %s bytes, pulled in %s", mode, res.NewLayers, res.Layers,
			benchkit.Thousands(res.NewBytes), benchkit.Thousands(res.TotalBytes), benchkit.Seconds(res.PullTime))
		out = append(out, res)
	}
	return out, nil
}

// pullNew pulls what a client holding image old lacks of image cur: the
// layers whose digests old does not have, every byte read over HTTP.
func pullNew(ctx context.Context, old, cur string) (rebuildResult, error) {
	var res rebuildResult
	have := map[string]bool{}
	ro, err := name.ParseReference(old, name.Insecure)
	if err != nil {
		return res, err
	}
	oldImg, err := remote.Image(ro, remote.WithContext(ctx))
	if err != nil {
		return res, err
	}
	ols, err := oldImg.Layers()
	if err != nil {
		return res, err
	}
	for _, l := range ols {
		d, _ := l.Digest()
		have[d.String()] = true
	}
	rc, err := name.ParseReference(cur, name.Insecure)
	if err != nil {
		return res, err
	}
	start := time.Now()
	img, err := remote.Image(rc, remote.WithContext(ctx))
	if err != nil {
		return res, err
	}
	ls, err := img.Layers()
	if err != nil {
		return res, err
	}
	res.Layers = len(ls)
	for _, l := range ls {
		d, _ := l.Digest()
		size, _ := l.Size()
		res.TotalBytes += size
		if have[d.String()] {
			continue
		}
		res.NewLayers++
		res.NewBytes += size
		body, err := l.Compressed()
		if err != nil {
			return res, err
		}
		_, err = io.Copy(io.Discard, body)
		body.Close()
		if err != nil {
			return res, err
		}
	}
	res.PullTime = time.Since(start)
	return res, nil
}

// buildFile runs `buildah bud` on another Dockerfile of the context, then
// the push, timed like build.
func (b *buildahBuilder) buildFile(ctx context.Context, dockerfile, tag string) (time.Duration, error) {
	local := "localhost/buildbench:" + tag
	ref := fmt.Sprintf("%s/bench/buildah:%s", b.registry, tag)
	policy := filepath.Join(b.dir, "policy.json")
	start := time.Now()
	if err := b.run(ctx, "bud", "--isolation", "chroot", "--layers=false", "--tls-verify=false",
		"--signature-policy", policy, "-f", dockerfile, "-t", local, filepath.Join(b.dir, "context")); err != nil {
		return 0, err
	}
	if err := b.run(ctx, "push", "--tls-verify=false", "--signature-policy", policy, "--quiet", local, "docker://"+ref); err != nil {
		return 0, err
	}
	elapsed := time.Since(start)
	if err := b.run(ctx, "rmi", local); err != nil {
		return 0, err
	}
	return elapsed, nil
}

func (rep report) writeExtra(w io.Writer) {
	if ms := rep.MultiStage; ms != nil && len(ms.Kiln) > 0 && len(ms.Buildah) > 0 {
		k, b := benchkit.Median(ms.Kiln), benchkit.Median(ms.Buildah)
		fmt.Fprintf(w, "\nMulti-stage workload (the workload in a build stage, its files archived and COPY --from into a second stage; step reuse off in both tools), %d measured builds each:\n\n", len(ms.Kiln))
		fmt.Fprintln(w, "| tool | median | min | max | vs buildah |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		fmt.Fprintf(w, "| kiln | %s | %s | %s | %.2f× |\n", benchkit.Seconds(k), benchkit.Seconds(slices.Min(ms.Kiln)), benchkit.Seconds(slices.Max(ms.Kiln)), float64(k)/float64(b))
		fmt.Fprintf(w, "| buildah `bud` + `push` | %s | %s | %s | 1.00× |\n", benchkit.Seconds(b), benchkit.Seconds(slices.Min(ms.Buildah)), benchkit.Seconds(slices.Max(ms.Buildah)))
	}
	if len(rep.Rebuild) > 0 {
		fmt.Fprintf(w, "\nRebuild with one changed instruction (the workload's RUN steps, then `RUN echo one|two > /opt/bench/version`, then the components), as a client holding the first image pulls the second:\n\n")
		fmt.Fprintln(w, "| kiln layering | layers | new layers | bytes pushed and pulled | of total | pull time | first build | rebuild |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range rep.Rebuild {
			fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | %s | %s |\n", r.Mode, r.Layers, r.NewLayers, benchkit.Thousands(r.NewBytes),
				benchkit.Thousands(r.TotalBytes), benchkit.Seconds(r.PullTime), benchkit.Seconds(r.FirstTime), benchkit.Seconds(r.RebuildTime))
		}
	}
}
