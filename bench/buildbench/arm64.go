package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// The arm64 row: the same workload built by kiln for linux/arm64 (a
// Graviton instance type of the default's size, t4g.medium: 2 vCPUs,
// 4 GiB), every program of it running under qemu-user through
// binfmt_misc, against kiln's amd64 build. The base is the same busybox
// root with Debian's busybox-static:arm64 in place of the host's binary,
// fetched with apt-get download (the host's apt sources) into a cache
// kept between runs; where it cannot be had the row is left out, saying
// why.

// toolKilnARM64 is the arm64 row's tool name.
const toolKilnARM64 = "kiln-arm64"

// arm64InstanceType is the Graviton type of kiln's default instance size.
const arm64InstanceType = "t4g.medium"

// arm64Busybox returns the path of Debian's arm64 busybox, downloading it
// once into the user's cache (the tests' cache when they made one).
func arm64Busybox() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	for _, p := range []string{
		filepath.Join(cache, "kiln-test-carm64", "root", "bin", "busybox"),
		filepath.Join(cache, "kiln-test-arm64", "root", "bin", "busybox"),
	} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	dir := filepath.Join(cache, "kiln-test-carm64")
	arches, _ := exec.Command("dpkg", "--print-foreign-architectures").Output()
	if !strings.Contains(string(arches), "arm64") {
		return "", errors.New("dpkg has no arm64 architecture (dpkg --add-architecture arm64 && apt-get update)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	debs, err := os.MkdirTemp(dir, "debs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(debs)
	dl := exec.Command("apt-get", "download", "-q", "busybox-static:arm64")
	dl.Dir = debs
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download busybox-static:arm64: %v: %s", err, strings.TrimSpace(string(out)))
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	if len(files) != 1 {
		return "", fmt.Errorf("apt-get download gave %d packages, want 1", len(files))
	}
	if out, err := exec.Command("dpkg-deb", "-x", files[0], filepath.Join(dir, "root")).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x: %v: %s", err, out)
	}
	p := filepath.Join(dir, "root", "bin", "busybox")
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}

// arm64Entries is es with the arm64 busybox in place of the host's.
func arm64Entries(es []entry, busybox string) ([]entry, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	out := make([]entry, len(es))
	copy(out, es)
	for i := range out {
		if out[i].Name == "bin/busybox" {
			out[i].Data = bb
		}
	}
	return out, nil
}

// newKilnARM64Builder pushes the arm64 base into kiln's registry as
// base-arm64:latest and creates the arm64 recipe's resources: the same
// component and Dockerfile as the amd64 row, a Graviton infrastructure
// configuration.
func newKilnARM64Builder(ctx context.Context, tmp, addr string, steps []step, es []entry) (*kilnBuilder, error) {
	bb, err := arm64Busybox()
	if err != nil {
		return nil, err
	}
	arm, err := arm64Entries(es, bb)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(tmp, "base-arm64-layout")
	if err := writeLayoutArch(dir, arm, "arm64"); err != nil {
		return nil, err
	}
	if err := skopeoCopy(ctx, tmp, dir, addr+"/base-arm64:latest"); err != nil {
		return nil, err
	}
	c := benchkit.NewClient("http://"+addr, "AKIDBUILDBENCH", "buildbench-secret", 1)
	comp, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("buildbench-arm64"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String(componentYAML(steps)),
	})
	if err != nil {
		return nil, fmt.Errorf("CreateComponent: %w", err)
	}
	recipe, err := c.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		ContainerType: types.ContainerTypeDocker, Name: aws.String("buildbench-arm64"), SemanticVersion: aws.String("1.0.0"),
		Components:             []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		ParentImage:            aws.String(addr + "/base-arm64:latest"),
		DockerfileTemplateData: aws.String(kilnDockerfileTemplate),
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("bench/app-arm64")},
	})
	if err != nil {
		return nil, fmt.Errorf("CreateContainerRecipe: %w", err)
	}
	infra, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("buildbench-arm64"), InstanceProfileName: aws.String("buildbench"), InstanceTypes: []string{arm64InstanceType},
	})
	if err != nil {
		return nil, fmt.Errorf("CreateInfrastructureConfiguration: %w", err)
	}
	return &kilnBuilder{
		client: c, recipe: aws.ToString(recipe.ContainerRecipeArn), infra: aws.ToString(infra.InfrastructureConfigurationArn), poll: kilnPoll,
	}, nil
}

// arm64Ratio is the arm64 row against kiln's amd64 one: shown, not
// judged (emulation's cost is qemu-user's, not kiln's).
func (rep report) arm64Ratio() []benchkit.Check {
	r := rep.ratio(toolKilnARM64, toolKiln)
	if r == 0 {
		return nil
	}
	return []benchkit.Check{{
		Name:   "kiln arm64 build (under qemu-user) against kiln amd64 (median wall time; informational)",
		OK:     true,
		Detail: fmt.Sprintf("%.2f×", r),
	}}
}

// arm64Timed is what the arm64 row's wall time covers.
var arm64Timed = "CreateImage → AVAILABLE (" + arm64InstanceType + ", qemu-user)"
