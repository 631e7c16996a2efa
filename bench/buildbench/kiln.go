package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
)

// kilnBuilder builds the workload through the Image Builder API: one
// component, one container recipe, one infrastructure configuration,
// then one CreateImage per build.
type kilnBuilder struct {
	client   *imagebuilder.Client
	recipe   string // container recipe ARN
	infra    string // infrastructure configuration ARN
	poll     time.Duration
	lastARNs []string // the image build version ARN of every build, in order
	// lastStart and lastEnd are when the last build's CreateImage was
	// sent and when GetImage first said AVAILABLE.
	lastStart, lastEnd time.Time
	// lastStates is every image status GetImage reported during the last
	// build, with when it was first seen.
	lastStates []benchkit.StateSeen
}

// newKilnBuilder creates the resources every build shares. On loopback
// kiln accepts any well-formed SigV4 signature.
func newKilnBuilder(ctx context.Context, addr string, steps []step) (*kilnBuilder, error) {
	c := benchkit.NewClient("http://"+addr, "AKIDBUILDBENCH", "buildbench-secret", 1)
	comp, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name:            aws.String("buildbench"),
		SemanticVersion: aws.String("1.0.0"),
		Platform:        types.PlatformLinux,
		Data:            aws.String(componentYAML(steps)),
	})
	if err != nil {
		return nil, fmt.Errorf("CreateComponent: %w", err)
	}
	recipe, err := c.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		ContainerType:          types.ContainerTypeDocker,
		Name:                   aws.String("buildbench"),
		SemanticVersion:        aws.String("1.0.0"),
		Components:             []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		ParentImage:            aws.String(addr + "/base:latest"),
		DockerfileTemplateData: aws.String(kilnDockerfileTemplate),
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("bench/app")},
	})
	if err != nil {
		return nil, fmt.Errorf("CreateContainerRecipe: %w", err)
	}
	infra, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name:                aws.String("buildbench"),
		InstanceProfileName: aws.String("buildbench"),
	})
	if err != nil {
		return nil, fmt.Errorf("CreateInfrastructureConfiguration: %w", err)
	}
	return &kilnBuilder{
		client: c,
		recipe: aws.ToString(recipe.ContainerRecipeArn),
		infra:  aws.ToString(infra.InfrastructureConfigurationArn),
		poll:   kilnPoll,
	}, nil
}

// kilnPoll is how often a build's GetImage is polled; the report says it.
const kilnPoll = 20 * time.Millisecond

// buildTimeout is how long one build may take before it counts as failed.
const buildTimeout = 5 * time.Minute

// build runs one image build, from CreateImage until GetImage says
// AVAILABLE, and returns its wall time and the image's URI. Image tests
// are off: buildah and the floor test nothing either.
func (k *kilnBuilder) build(ctx context.Context) (time.Duration, string, error) {
	start := time.Now()
	k.lastStart = start
	k.lastStates = nil
	out, err := k.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ContainerRecipeArn:             aws.String(k.recipe),
		InfrastructureConfigurationArn: aws.String(k.infra),
		ImageTestsConfiguration:        &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		return 0, "", fmt.Errorf("CreateImage: %w", err)
	}
	arn := aws.ToString(out.ImageBuildVersionArn)
	k.lastARNs = append(k.lastARNs, arn)
	img, states, err := benchkit.WaitImage(ctx, k.client, arn, start, k.poll, buildTimeout)
	k.lastStates = states
	if err != nil {
		return 0, "", err
	}
	k.lastEnd = time.Now()
	elapsed := k.lastEnd.Sub(start)
	if img.OutputResources == nil || len(img.OutputResources.Containers) == 0 || len(img.OutputResources.Containers[0].ImageUris) == 0 {
		return elapsed, "", fmt.Errorf("image %s is AVAILABLE but names no container image URI", arn)
	}
	return elapsed, img.OutputResources.Containers[0].ImageUris[0], nil
}

// breakdown is benchkit.StepBreakdown of the last build.
func (k *kilnBuilder) breakdown(ctx context.Context) ([]benchkit.StepTime, error) {
	if len(k.lastARNs) == 0 {
		return nil, errors.New("no build")
	}
	return benchkit.StepBreakdown(ctx, k.client, k.lastARNs[len(k.lastARNs)-1], k.lastStart, k.lastEnd)
}

// skopeoCopy copies the OCI layout dir's "latest" into ref in the
// registry at addr, over plain HTTP, with a private auth file so the
// host's registry logins play no part.
func skopeoCopy(ctx context.Context, tmp, dir, ref string) error {
	cmd := exec.CommandContext(ctx, "skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+dir+":latest", "docker://"+ref)
	cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+tmp+"/skopeo-auth.json")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("skopeo copy oci:%s:latest docker://%s: %v\n%s", dir, ref, err, out)
	}
	return nil
}
