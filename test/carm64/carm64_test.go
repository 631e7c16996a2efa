// Package carm64_test drives kiln's arm64 container images end to end, as
// a user would, on whatever host runs it (x86_64 in CI): a multi-platform
// parent index is pushed into kiln's registry, a recipe built on Graviton
// instance types gives an arm64 image whose components ran under
// qemu-user, a recipe tagged kiln:platforms gives an image index of both
// architectures, and a parent without the instance types' architecture is
// refused when the image is created.
package carm64_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
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
	"github.com/aws/smithy-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// fixture is a kiln with the parents in its registry and a component that
// records the machine it ran on.
type fixture struct {
	srv       *kilntest.Server
	client    *imagebuilder.Client
	parents   parents
	component string
	// lastImage is the image build version ARN of the last build.
	lastImage string
}

// archComponent writes what `uname -m` says in the build phase, and
// proves a file written by the image's own shell lands in the image; its
// test phase checks the image is tested on the machine it was built for.
const archComponent = `name: arch
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: arch
        action: ExecuteBash
        inputs:
          commands:
            - uname -m > /arch.txt
            - echo built > /built.txt
  - name: test
    steps:
      - name: same-machine
        action: ExecuteBash
        inputs:
          commands:
            - test "$(cat /arch.txt)" = "$(uname -m)"
`

const template = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\nRUN uname -m > /run-arch.txt\n"

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	arm64Busybox(t) // skips before starting anything when it cannot be had
	f := &fixture{srv: kilntest.Start(t)}
	f.client = f.srv.Client(kilntest.DefaultCreds)
	f.parents = pushParents(t, f.srv)
	out, err := f.client.CreateComponent(kilntest.Context(t), &imagebuilder.CreateComponentInput{
		Name: aws.String("arch"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(archComponent),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.component = *out.ComponentBuildVersionArn
	return f
}

func (f *fixture) infra(t *testing.T, name string, instanceTypes ...string) string {
	t.Helper()
	out, err := f.client.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String(name), InstanceProfileName: aws.String("kiln"), InstanceTypes: instanceTypes,
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.InfrastructureConfigurationArn
}

func (f *fixture) recipe(t *testing.T, name, parent string, tags map[string]string) (string, error) {
	t.Helper()
	out, err := f.client.CreateContainerRecipe(kilntest.Context(t), &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(parent), Components: []types.ComponentConfiguration{{ComponentArn: aws.String(f.component)}},
		DockerfileTemplateData: aws.String(template), Tags: tags,
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("carm64/" + name)},
	})
	if err != nil {
		return "", err
	}
	return *out.ContainerRecipeArn, nil
}

// build creates the image and waits for it to end, failing the test
// unless it is AVAILABLE; it returns the image's URI and how long it took.
func (f *fixture) build(t *testing.T, recipe, infra string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	out, err := f.client.CreateImage(kilntest.Context(t), &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(recipe), InfrastructureConfigurationArn: aws.String(infra),
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	f.lastImage = *out.ImageBuildVersionArn
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for {
		got, err := f.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: out.ImageBuildVersionArn})
		if err != nil {
			t.Fatalf("GetImage: %v\n%s", err, f.srv.Log())
		}
		if st := got.Image.State; st != nil && slices.Contains([]types.ImageStatus{types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled}, st.Status) {
			if st.Status != types.ImageStatusAvailable {
				t.Fatalf("the build ended %s: %s\n%s", st.Status, aws.ToString(st.Reason), f.srv.Log())
			}
			return got.Image.OutputResources.Containers[0].ImageUris[0], time.Since(start)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the build did not end; server log:\n%s", f.srv.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// pulled is an image pulled with skopeo for one architecture: its config
// and the files of its layers (the last layer's version of each).
type pulled struct {
	config v1.ConfigFile
	files  map[string]string
}

func pull(t *testing.T, uri, arch string) pulled {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "image")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "--override-arch", arch, "docker://"+uri, "dir:"+dir)
	var m v1.Manifest
	readJSON(t, filepath.Join(dir, "manifest.json"), &m)
	var p pulled
	readJSON(t, filepath.Join(dir, m.Config.Digest.Hex), &p.config)
	p.files = map[string]string{}
	for _, l := range m.Layers {
		readLayer(t, filepath.Join(dir, l.Digest.Hex), p.files)
	}
	return p
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// readLayer adds the small regular files of a gzip'd layer to files.
func readLayer(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag == tar.TypeReg && h.Size < 4096 {
			b, _ := io.ReadAll(tr)
			files["/"+strings.TrimPrefix(h.Name, "./")] = string(b)
		}
	}
}

// checkBuiltFor checks an image pulled for arch: its config's
// architecture, and that the component and RUN ran as machine.
func checkBuiltFor(t *testing.T, p pulled, arch, machine string) {
	t.Helper()
	if p.config.Architecture != arch || p.config.OS != "linux" {
		t.Errorf("config says %s/%s, want linux/%s", p.config.OS, p.config.Architecture, arch)
	}
	for _, file := range []string{"/arch.txt", "/run-arch.txt"} {
		if got := strings.TrimSpace(p.files[file]); got != machine {
			t.Errorf("%s = %q, want %q (uname -m of the build)", file, got, machine)
		}
	}
	if strings.TrimSpace(p.files["/built.txt"]) != "built" {
		t.Errorf("/built.txt = %q", p.files["/built.txt"])
	}
}

// TestArm64ContainerImage builds on t4g.small (Graviton) from the
// multi-platform parent: the parent's arm64 image is the one built on,
// the component and RUN run as aarch64, and the image says arm64.
func TestArm64ContainerImage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recipe, err := f.recipe(t, "graviton", f.parents.multi, nil)
	if err != nil {
		t.Fatal(err)
	}
	uri, took := f.build(t, recipe, f.infra(t, "graviton", "t4g.small"))
	t.Logf("arm64 build: %s", took.Round(time.Millisecond))
	raw := kilntest.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+uri)
	var m v1.Manifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil || m.Config.Digest.Hex == "" {
		t.Fatalf("the image's manifest is not a single image's: %v\n%s", err, raw)
	}
	checkBuiltFor(t, pull(t, uri, "arm64"), "arm64", "aarch64")
}

// TestBothArchitectures builds the recipe tagged
// kiln:platforms=linux/amd64,linux/arm64: the tag names an image index
// of both, each image built for its architecture.
func TestBothArchitectures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	recipe, err := f.recipe(t, "both", f.parents.multi, map[string]string{"kiln:platforms": "linux/amd64,linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	uri, took := f.build(t, recipe, f.infra(t, "any"))
	t.Logf("two-platform build: %s", took.Round(time.Millisecond))
	raw := kilntest.Skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+uri)
	var idx v1.IndexManifest
	if err := json.Unmarshal([]byte(raw), &idx); err != nil {
		t.Fatal(err)
	}
	if idx.MediaType != "application/vnd.oci.image.index.v1+json" || len(idx.Manifests) != 2 {
		t.Fatalf("want an OCI index of two images, got:\n%s", raw)
	}
	var got []string
	for _, d := range idx.Manifests {
		if d.Platform != nil {
			got = append(got, d.Platform.OS+"/"+d.Platform.Architecture)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("the index lists %v, want linux/amd64 and linux/arm64:\n%s", got, raw)
	}
	checkBuiltFor(t, pull(t, uri, "arm64"), "arm64", "aarch64")
	checkBuiltFor(t, pull(t, uri, "amd64"), "amd64", "x86_64")

	// DistributeImage copies the index whole, not one platform's image.
	ctx := kilntest.Context(t)
	dist, err := f.client.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String("copies"), Distributions: []types.Distribution{{Region: aws.String("us-east-1"),
			ContainerDistributionConfiguration: &types.ContainerDistributionConfiguration{
				ContainerTags:    []string{"stable"},
				TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("carm64/copies")},
			}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.DistributeImage(ctx, &imagebuilder.DistributeImageInput{
		SourceImage: aws.String(f.lastImage), DistributionConfigurationArn: dist.DistributionConfigurationArn,
		ExecutionRole: aws.String("arn:aws:iam::000000000000:role/distributor"), ClientToken: aws.String("copy-once"),
	}); err != nil {
		t.Fatalf("DistributeImage: %v", err)
	}
	copied := f.srv.Addr + "/carm64/copies:stable"
	distStart := time.Now()
	defer func() { t.Logf("DistributeImage of the index: %s", time.Since(distStart).Round(time.Millisecond)) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+copied).Output()
		if err == nil {
			if string(out) != raw {
				t.Fatalf("the distributed copy is not the built index:\n%s\nwant:\n%s", out, raw)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared: %v; server log:\n%s", copied, err, f.srv.Log())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestArchitectureRefusals: what no build could make is refused at create
// time, naming the field: Graviton instance types on an amd64-only
// parent, a kiln:platforms tag asking for a platform the parent has no
// image of, and a tag kiln cannot build.
func TestArchitectureRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := kilntest.Context(t)
	amdRecipe, err := f.recipe(t, "amd-only", f.parents.amd64, nil)
	if err != nil {
		t.Fatal(err)
	}
	armRecipe, err := f.recipe(t, "arm-both", f.parents.arm64, map[string]string{"kiln:platforms": "linux/arm64,linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	graviton := f.infra(t, "graviton", "t4g.small")
	for _, tc := range []struct {
		name, recipe, infra string
		want                []string
	}{
		{"graviton on an amd64 parent", amdRecipe, graviton, []string{"infrastructureConfigurationArn", "t4g.small", "arm64", "linux/amd64"}},
		{"both platforms from an arm64 parent", armRecipe, f.infra(t, "any"), []string{"containerRecipeArn", "kiln:platforms", "linux/amd64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
				ContainerRecipeArn: aws.String(tc.recipe), InfrastructureConfigurationArn: aws.String(tc.infra),
			})
			checkRefusal(t, err, tc.want...)
		})
	}
	t.Run("a pipeline of graviton on an amd64 parent", func(t *testing.T) {
		_, err := f.client.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
			Name: aws.String("graviton-on-amd"), ContainerRecipeArn: aws.String(amdRecipe), InfrastructureConfigurationArn: aws.String(graviton),
		})
		checkRefusal(t, err, "infrastructureConfigurationArn", "t4g.small", "linux/amd64")
	})
	t.Run("a tag kiln cannot build", func(t *testing.T) {
		_, err := f.recipe(t, "riscv", f.parents.multi, map[string]string{"kiln:platforms": "linux/riscv64"})
		checkRefusal(t, err, "tags", "kiln:platforms", "linux/riscv64")
	})
	// Nothing was built: no image exists.
	out, err := f.client.ListImages(ctx, &imagebuilder.ListImagesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ImageVersionList) != 0 {
		t.Errorf("refused creates left images: %+v", out.ImageVersionList)
	}
}

func checkRefusal(t *testing.T, err error, want ...string) {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameterValueException" {
		t.Fatalf("got %v, want InvalidParameterValueException", err)
	}
	for _, w := range want {
		if !strings.Contains(api.ErrorMessage(), w) {
			t.Errorf("the message %q does not name %q", api.ErrorMessage(), w)
		}
	}
}
