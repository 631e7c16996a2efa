package container

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/dockerfile"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/oci"
)

func testInstance(t testing.TB, recipe string) *instance {
	return &instance{Instance: &sandboxed.Instance{
		Tools: &sandboxed.Tools{Cache: &oci.LayerCache{Dir: t.TempDir()}},
		B:     &engine.Build{Image: awsapi.Image{ContainerRecipe: &awsapi.ContainerRecipe{Arn: recipe}}},
	}}
}

func TestRunMounts(t *testing.T) {
	const recipe = "arn:aws:imagebuilder:us-east-1:000000000000:container-recipe/app/1.0.0"
	tests := []struct {
		name   string
		flags  []string
		target string // the bind's target; "" when refused
		errHas string
	}{
		{"cache", []string{"--mount=type=cache,target=/var/cache/apt"}, "/var/cache/apt", ""},
		{"cache relative to WORKDIR", []string{"--mount=type=cache,dst=cache"}, "/src/cache", ""},
		{"cache with options", []string{"--mount=type=cache,id=x,target=/c,sharing=locked,uid=0,gid=0,mode=0700"}, "/c", ""},
		{"network host", []string{"--network=host"}, "", ""},
		{"bind", []string{"--mount=target=/x"}, "", "line 3: RUN --mount=target=/x: mount type bind is not supported by kiln (only type=cache)"},
		{"secret", []string{"--mount=type=secret,id=s"}, "", "mount type secret is not supported"},
		{"no target", []string{"--mount=type=cache"}, "", "needs target=PATH"},
		{"read-only", []string{"--mount=type=cache,target=/c,ro"}, "", "read-only"},
		{"unknown option", []string{"--mount=type=cache,target=/c,colour=red"}, "", `unknown option "colour"`},
		{"bad mode", []string{"--mount=type=cache,target=/c,mode=9"}, "", "invalid mode"},
		{"over the root", []string{"--mount=type=cache,target=/.."}, "", "cannot be at /"},
		{"over kiln's staging", []string{"--mount=type=cache,target=/.kiln/x"}, "", "cannot be at /.kiln/x"},
		{"bad uid", []string{"--mount=type=cache,target=/c,uid=root"}, "", `invalid uid "root"`},
		{"network none", []string{"--network=none"}, "", "RUN --network=none is not supported"},
		{"security", []string{"--security=insecure"}, "", "RUN --security=insecure is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testInstance(t, recipe)
			binds, err := in.runMounts(dockerfile.Step{Kind: "RUN", Flags: tt.flags, Dir: "/src", Line: 3})
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("error %v, want one containing %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.target == "" {
				if len(binds) != 0 {
					t.Fatalf("binds %+v", binds)
				}
				return
			}
			if len(binds) != 1 || binds[0].Target != tt.target {
				t.Fatalf("binds %+v, want one at %s", binds, tt.target)
			}
			if fi, err := os.Stat(binds[0].Source); err != nil || !fi.IsDir() {
				t.Fatalf("the cache directory %s: %v", binds[0].Source, err)
			}
		})
	}
	// Every version of a recipe shares a cache; another recipe does not.
	in := testInstance(t, recipe)
	dir := func(arn string) string {
		in.B.Image.ContainerRecipe.Arn = arn
		b, err := in.runMounts(dockerfile.Step{Flags: []string{"--mount=type=cache,target=/c"}, Dir: "/"})
		if err != nil {
			t.Fatal(err)
		}
		return b[0].Source
	}
	if a, b := dir(recipe), dir(strings.Replace(recipe, "1.0.0", "2.0.0", 1)); a != b {
		t.Errorf("two versions of a recipe got different caches: %s, %s", a, b)
	}
	if a, b := dir(recipe), dir(strings.Replace(recipe, "/app/", "/other/", 1)); a == b {
		t.Error("two recipes share a cache")
	}
}

// FuzzRunMounts checks that any --mount value is either a cache bind at
// an absolute target or an error naming the instruction's line.
func FuzzRunMounts(f *testing.F) {
	for _, s := range []string{"type=cache,target=/a", "type=cache,id=,target=b,mode=777", "type=bind,source=/,target=/x", ",,=", "type=cache,target=/a,uid=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		in := testInstance(t, "arn:aws:imagebuilder:us-east-1:000000000000:container-recipe/app/1.0.0")
		binds, err := in.runMounts(dockerfile.Step{Flags: []string{"--mount=" + spec}, Dir: "/w", Line: 7})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line 7: RUN --mount=") {
				t.Fatalf("error %q does not name the instruction", err)
			}
			return
		}
		if len(binds) != 1 || !strings.HasPrefix(binds[0].Target, "/") {
			t.Fatalf("binds %+v", binds)
		}
	})
}

// TestTooManyLayers: a stage whose layers no longer fit one overlay mount
// fails naming the stage and the way out, before any sandbox starts.
func TestTooManyLayers(t *testing.T) {
	in := testInstance(t, "arn:aws:imagebuilder:us-east-1:000000000000:container-recipe/app/1.0.0")
	in.Tools.NoLimits = true
	in.B.WorkDir = t.TempDir()
	f, err := dockerfile.Parse("FROM a AS big\nRUN x\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &stageBuilder{in: in, file: f, s: &engine.Step{Log: io.Discard}}
	tests := []struct {
		layers int
		ok     bool
	}{{3, true}, {200, false}}
	for _, tt := range tests {
		r := &stageResult{index: 0}
		for i := range tt.layers {
			r.layers = append(r.layers, layer{dir: fmt.Sprintf("/var/lib/kiln/builds/000000000000/app/1.0.0/1/L/%d/u", i)})
		}
		_, err := b.stepConfig(r, "/u", "/w")
		if tt.ok != (err == nil) {
			t.Errorf("%d layers: error %v", tt.layers, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "stage big: 200 layers") || !strings.Contains(err.Error(), "kiln:layers=squash")) {
			t.Errorf("error %q names neither the stage nor the way out", err)
		}
	}
}
