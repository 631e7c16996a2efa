// Package cbuild tests container recipes as users write them, through the
// real kiln binary: multi-stage Dockerfiles with COPY --from, archives
// unpacked by ADD, one layer per instruction, layers reused by digest
// across builds, the kiln:layers=squash tag, and RUN cache mounts. The
// images are pulled with skopeo, a tool kiln did not write.
package cbuild

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// fixture is one kiln server with a busybox base in its registry, shared
// by the subtests (each server start costs a build's worth of CPU).
type fixture struct {
	srv    *kilntest.Server
	client *imagebuilder.Client
	base   string
	infra  string
	comp   string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	srv := kilntest.Start(t)
	f := &fixture{srv: srv, client: srv.Client(kilntest.DefaultCreds)}
	f.base = srv.PushBusyboxBase(t, "base/busybox")
	ctx := kilntest.Context(t)
	infra, err := f.client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
	comp, err := f.client.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("marker"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String("name: marker\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo component > /etc/marker\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.comp = *comp.ComponentBuildVersionArn
	return f
}

// recipe creates a container recipe version with the marker component.
func (f *fixture) recipe(t *testing.T, name, version, template string, tags map[string]string) string {
	t.Helper()
	out, err := f.client.CreateContainerRecipe(kilntest.Context(t), &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String(version), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(f.base), DockerfileTemplateData: aws.String(template), Tags: tags,
		Components:       []types.ComponentConfiguration{{ComponentArn: aws.String(f.comp)}},
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("cbuild/" + name)},
	})
	if err != nil {
		t.Fatalf("CreateContainerRecipe %s: %v", name, err)
	}
	return *out.ContainerRecipeArn
}

// build builds the recipe and waits for the image; it returns the image.
func (f *fixture) build(t *testing.T, recipe string) *types.Image {
	t.Helper()
	out, err := f.client.CreateImage(kilntest.Context(t), &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	arn := *out.ImageBuildVersionArn
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for {
		got, err := f.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
		if err == nil && got.Image.State != nil {
			switch got.Image.State.Status {
			case types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled:
				return got.Image
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("image %s did not finish; server log:\n%s", arn, f.srv.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (f *fixture) logs(t *testing.T, image string) string {
	out, err := exec.Command(kilntest.Binary(t), "logs", "--endpoint", f.srv.URL, image).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("kiln logs: %v\n%s", err, out)
	}
	return string(out)
}

// buildOK builds and fails the test unless the image is AVAILABLE.
func (f *fixture) buildOK(t *testing.T, recipe string) *types.Image {
	t.Helper()
	img := f.build(t, recipe)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, aws.ToString(img.Arn)))
	}
	return img
}

// pulled is an image copied out of kiln's registry by skopeo.
type pulled struct {
	manifest v1.Manifest
	config   v1.ConfigFile
	dir      string
}

func pull(t *testing.T, img *types.Image) *pulled {
	t.Helper()
	uri := img.OutputResources.Containers[0].ImageUris[0]
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+uri, "dir:"+dir)
	p := &pulled{dir: dir}
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &p.manifest); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(filepath.Join(dir, p.manifest.Config.Digest.Hex))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &p.config); err != nil {
		t.Fatal(err)
	}
	return p
}

// layerDigests are the manifest's layer digests, bottom first.
func (p *pulled) layerDigests() []string {
	var out []string
	for _, l := range p.manifest.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

// entry is one tar entry of a layer.
type entry struct {
	body string
	mode int64
	typ  byte
}

// layer reads layer i's entries.
func (p *pulled) layer(t *testing.T, i int) map[string]entry {
	t.Helper()
	f, err := os.Open(filepath.Join(p.dir, p.manifest.Layers[i].Digest.Hex))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "./")] = entry{body: string(b), mode: h.Mode, typ: h.Typeflag}
	}
}

// files merges the layers over the base's (one layer), later ones winning.
func (p *pulled) files(t *testing.T) map[string]entry {
	out := map[string]entry{}
	for i := 1; i < len(p.manifest.Layers); i++ {
		for k, v := range p.layer(t, i) {
			out[k] = v
		}
	}
	return out
}

func TestContainerRecipes(t *testing.T) {
	f := newFixture(t)

	// A multi-stage Dockerfile: ARG before FROM naming the parent, a
	// build stage that makes a binary and an archive, a stage nobody uses
	// (not built: it would fail), and the result copying from the build
	// stage by name and by index, from an image by reference, and
	// unpacking the archive with ADD --from.
	t.Run("multi-stage", func(t *testing.T) {
		t.Parallel()
		template := `ARG PARENT={{{ imagebuilder:parentImage }}}
FROM $PARENT AS build
WORKDIR /src
RUN mkdir -p out/lib && echo compiled > out/app && chmod 750 out/app && echo lib > out/lib/x.so \
 && tar -C out -cf /src/plain.tar app && tar -C out -czf /src/bundle.tar.gz lib app
FROM build AS unused
RUN exit 7
FROM {{{ imagebuilder:parentImage }}}
{{{ imagebuilder:environments }}}
{{{ imagebuilder:components }}}
COPY --from=build /src/out/app /usr/local/bin/
COPY --from=0 /src/out/lib /opt/lib/
COPY --from=build /src/out/lib/*.so /opt/glob/
ADD --from=build /src/bundle.tar.gz /opt/unpacked/
ADD --from=build /src/plain.tar /opt/plain/
COPY --from=` + f.base + ` /bin/busybox /from-image/busybox
CMD ["app"]
`
		img := f.buildOK(t, f.recipe(t, "multistage", "1.0.0", template, nil))
		p := pull(t, img)
		files := p.files(t)
		for path, want := range map[string]string{
			"usr/local/bin/app":     "compiled\n",
			"opt/lib/x.so":          "lib\n",
			"opt/glob/x.so":         "lib\n",
			"opt/unpacked/app":      "compiled\n",
			"opt/unpacked/lib/x.so": "lib\n",
			"opt/plain/app":         "compiled\n",
			"etc/marker":            "component\n",
		} {
			if got, ok := files[path]; !ok || got.body != want {
				t.Errorf("%s = %q (present %v), want %q", path, got.body, ok, want)
			}
		}
		if e := files["opt/unpacked/app"]; e.mode&0o777 != 0o750 {
			t.Errorf("the unpacked app has mode %o, want 750 (from the archive)", e.mode)
		}
		if _, ok := files["from-image/busybox"]; !ok {
			t.Error("COPY --from=IMAGE brought nothing")
		}
		for path := range files {
			if strings.HasPrefix(path, "src/") || strings.HasSuffix(path, ".tar.gz") || strings.HasPrefix(path, ".kiln") {
				t.Errorf("the result carries the build stage's %s", path)
			}
		}
		if !slices.Equal(p.config.Config.Cmd, []string{"app"}) {
			t.Errorf("CMD = %v: the last stage's config is not the result's", p.config.Config.Cmd)
		}
		// base + components + 6 COPY/ADD layers.
		if n := len(p.manifest.Layers); n != 8 {
			t.Errorf("%d layers, want 8", n)
		}
		if logs := f.logs(t, aws.ToString(img.Arn)); strings.Contains(logs, "stage unused") {
			t.Errorf("the unused stage was built:\n%s", logs)
		}
	})

	// Layers like docker build: one per filesystem-changing instruction,
	// none for ENV or an instruction that changes nothing. With
	// kiln:cache=all a rebuild reuses every layer by digest, even a RUN
	// whose output differs each time it runs, and a new recipe version
	// changing one instruction reuses the layers before it and rebuilds
	// the ones after. By default the components run in every build, so
	// only the layers before them are reused.
	t.Run("layers and reuse", func(t *testing.T) {
		t.Parallel()
		tpl := func(second string) string {
			return `FROM {{{ imagebuilder:parentImage }}}
{{{ imagebuilder:environments }}}
ENV A=1
RUN echo one > /one
{{{ imagebuilder:components }}}
RUN ` + second + `
RUN true
RUN cat /proc/sys/kernel/random/uuid > /stamp
`
		}
		all := map[string]string{"kiln:cache": "all"}
		v1r := f.recipe(t, "layers", "1.0.0", tpl("echo two > /two"), all)
		first := pull(t, f.buildOK(t, v1r))
		// base, RUN one, components, RUN two, RUN stamp (RUN true changes nothing).
		if n := len(first.manifest.Layers); n != 5 {
			t.Fatalf("%d layers, want 5", n)
		}
		var nonEmpty int
		for _, h := range first.config.History {
			if !h.EmptyLayer {
				nonEmpty++
			}
		}
		if nonEmpty != len(first.manifest.Layers) || len(first.config.RootFS.DiffIDs) != 5 {
			t.Errorf("history has %d non-empty entries, rootfs %d diffIDs, for %d layers", nonEmpty, len(first.config.RootFS.DiffIDs), len(first.manifest.Layers))
		}
		if got := first.layer(t, 1); got["one"].body != "one\n" || len(got) != 1 {
			t.Errorf("RUN one's layer = %v", got)
		}
		if got := first.layer(t, 2); got["etc/marker"].body != "component\n" {
			t.Errorf("the components' layer = %v", got)
		}

		second := pull(t, f.buildOK(t, v1r))
		if !slices.Equal(first.layerDigests(), second.layerDigests()) {
			t.Errorf("a rebuild of the same recipe made new layers:\n%v\n%v", first.layerDigests(), second.layerDigests())
		}

		changed := pull(t, f.buildOK(t, f.recipe(t, "layers", "1.0.1", tpl("echo TWO > /two"), all)))
		a, b := first.layerDigests(), changed.layerDigests()
		if len(b) != 5 || !slices.Equal(a[:3], b[:3]) || a[3] == b[3] || a[4] == b[4] {
			t.Errorf("changing the third instruction: layers\n%v\n%v\nwant the first three shared and the rest new", a, b)
		}
		if got := changed.files(t)["two"].body; got != "TWO\n" {
			t.Errorf("/two = %q", got)
		}

		// The default: the RUN before the components is reused, the
		// components and what follows them are not.
		def := f.recipe(t, "layers-default", "1.0.0", tpl("echo two > /two"), nil)
		d1, d2 := pull(t, f.buildOK(t, def)).layerDigests(), pull(t, f.buildOK(t, def)).layerDigests()
		if d1[1] != a[1] || d2[1] != a[1] || d1[2] == d2[2] || d1[4] == d2[4] {
			t.Errorf("default reuse: layers\n%v\n%v\nwant RUN one's shared with the first build's, the components' and later ones new", d1, d2)
		}

		// kiln:cache=off runs everything again.
		off := pull(t, f.buildOK(t, f.recipe(t, "layers-nocache", "1.0.0", tpl("echo two > /two"), map[string]string{"kiln:cache": "off"})))
		if o := off.layerDigests(); o[4] == a[4] {
			t.Errorf("kiln:cache=off reused the RUN stamp layer %s", o[4])
		}
	})

	t.Run("squash tag", func(t *testing.T) {
		t.Parallel()
		template := `FROM {{{ imagebuilder:parentImage }}}
{{{ imagebuilder:environments }}}
RUN echo one > /one
{{{ imagebuilder:components }}}
RUN echo two > /two && rm /one
`
		p := pull(t, f.buildOK(t, f.recipe(t, "squashed", "1.0.0", template, map[string]string{"kiln:layers": "squash"})))
		if n := len(p.manifest.Layers); n != 2 {
			t.Fatalf("%d layers, want the base's and one", n)
		}
		files := p.layer(t, 1)
		if files["two"].body != "two\n" || files["etc/marker"].body != "component\n" {
			t.Errorf("the squashed layer = %v", files)
		}
		if _, ok := files["one"]; ok {
			t.Error("the squashed layer has a file a later instruction removed")
		}
		if _, ok := files[".wh.one"]; ok {
			t.Error("the squashed layer has a whiteout for a file no lower layer has")
		}
	})

	t.Run("cache mount", func(t *testing.T) {
		t.Parallel()
		template := `FROM {{{ imagebuilder:parentImage }}}
{{{ imagebuilder:environments }}}
{{{ imagebuilder:components }}}
RUN --mount=type=cache,target=/var/cache/app echo kept > /var/cache/app/f
RUN --mount=type=cache,target=/var/cache/app cp /var/cache/app/f /from-cache
`
		files := pull(t, f.buildOK(t, f.recipe(t, "cachemount", "1.0.0", template, nil))).files(t)
		if files["from-cache"].body != "kept\n" {
			t.Errorf("/from-cache = %q: the cache mount did not persist between RUNs", files["from-cache"].body)
		}
		for path := range files {
			if strings.HasPrefix(path, "var/cache/app/") {
				t.Errorf("the cache mount's %s is in the image", path)
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct{ name, line, want string }{
			{"secret mount", "RUN --mount=type=secret,id=x cat /run/secrets/x", "line 4: RUN --mount=type=secret,id=x: mount type secret is not supported by kiln"},
			{"later stage", "FROM {{{ imagebuilder:parentImage }}} AS a\nCOPY --from=later /a /b\nFROM {{{ imagebuilder:parentImage }}} AS later\nCOPY --from=a /b /c", "stage \"later\" is not defined before this one"},
		} {
			template := "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n" + tt.line + "\n"
			img := f.build(t, f.recipe(t, "refused-"+strings.ReplaceAll(tt.name, " ", "-"), "1.0.0", template, nil))
			if img.State.Status != types.ImageStatusFailed || !strings.Contains(aws.ToString(img.State.Reason), tt.want) {
				t.Errorf("%s: image %s: %q, want FAILED naming %q", tt.name, img.State.Status, aws.ToString(img.State.Reason), tt.want)
			}
		}
	})
}
