package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
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
	lastStates []stateSeen
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
		poll:   20 * time.Millisecond,
	}, nil
}

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
	deadline := time.Now().Add(5 * time.Minute)
	for {
		got, err := k.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
		if err != nil {
			return 0, "", fmt.Errorf("GetImage %s: %w", arn, err)
		}
		img := got.Image
		var status types.ImageStatus
		if img != nil && img.State != nil {
			status = img.State.Status
		}
		if n := len(k.lastStates); n == 0 || k.lastStates[n-1].Status != string(status) {
			k.lastStates = append(k.lastStates, stateSeen{Status: string(status), After: time.Since(start)})
		}
		switch status {
		case types.ImageStatusAvailable:
			k.lastEnd = time.Now()
			elapsed := k.lastEnd.Sub(start)
			if img.OutputResources == nil || len(img.OutputResources.Containers) == 0 || len(img.OutputResources.Containers[0].ImageUris) == 0 {
				return elapsed, "", fmt.Errorf("image %s is AVAILABLE but names no container image URI", arn)
			}
			return elapsed, img.OutputResources.Containers[0].ImageUris[0], nil
		case types.ImageStatusFailed, types.ImageStatusCancelled, types.ImageStatusDeprecated, types.ImageStatusDeleted:
			return 0, "", fmt.Errorf("image %s is %s: %s", arn, status, aws.ToString(img.State.Reason))
		}
		if time.Now().After(deadline) {
			return 0, "", fmt.Errorf("image %s still %s after 5 minutes", arn, status)
		}
		select {
		case <-ctx.Done():
			return 0, "", ctx.Err()
		case <-time.After(k.poll):
		}
	}
}

// stateSeen is an image status as the client polling GetImage first saw
// it, and how long after CreateImage was sent.
type stateSeen struct {
	Status string        `json:"status"`
	After  time.Duration `json:"after_ns"`
}

// stepTime is how long one part of a kiln build took.
type stepTime struct {
	Workflow string        `json:"workflow"`
	Step     string        `json:"step"`
	Action   string        `json:"action"`
	Duration time.Duration `json:"duration_ns"`
	start    time.Time
	end      time.Time
}

// breakdown lists the workflow steps of the last build with the times
// kiln recorded (to the millisecond), in order, plus what no step
// accounts for: the wait from CreateImage to the first step, the gaps
// between steps, and the time from the last step's end until GetImage
// reported AVAILABLE. Client and server share a clock.
func (k *kilnBuilder) breakdown(ctx context.Context) ([]stepTime, error) {
	if len(k.lastARNs) == 0 {
		return nil, errors.New("no build")
	}
	arn := k.lastARNs[len(k.lastARNs)-1]
	wfs, err := k.client.ListWorkflowExecutions(ctx, &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("ListWorkflowExecutions: %w", err)
	}
	var out []stepTime
	for _, wf := range wfs.WorkflowExecutions {
		steps, err := k.client.ListWorkflowStepExecutions(ctx, &imagebuilder.ListWorkflowStepExecutionsInput{WorkflowExecutionId: wf.WorkflowExecutionId})
		if err != nil {
			return nil, fmt.Errorf("ListWorkflowStepExecutions: %w", err)
		}
		for _, s := range steps.Steps {
			start, err1 := time.Parse(time.RFC3339Nano, aws.ToString(s.StartTime))
			end, err2 := time.Parse(time.RFC3339Nano, aws.ToString(s.EndTime))
			if err1 != nil || err2 != nil || end.Before(start) {
				return nil, fmt.Errorf("step %s: unreadable times %q, %q", aws.ToString(s.Name), aws.ToString(s.StartTime), aws.ToString(s.EndTime))
			}
			out = append(out, stepTime{Workflow: string(wf.Type), Step: aws.ToString(s.Name), Action: aws.ToString(s.Action),
				Duration: end.Sub(start), start: start, end: end})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no workflow steps recorded")
	}
	slices.SortStableFunc(out, func(a, b stepTime) int { return a.start.Compare(b.start) })
	var gaps time.Duration
	for i := 1; i < len(out); i++ {
		if g := out[i].start.Sub(out[i-1].end); g > 0 {
			gaps += g
		}
	}
	// Millisecond timestamps against nanosecond clocks: clamp at zero.
	wait := max(out[0].start.Sub(k.lastStart.Truncate(time.Millisecond)), 0)
	tail := max(k.lastEnd.Sub(out[len(out)-1].end), 0)
	out = append([]stepTime{{Step: "(CreateImage until the first step starts)", Duration: wait}}, out...)
	return append(out,
		stepTime{Step: "(between steps, all gaps)", Duration: gaps},
		stepTime{Step: "(last step's end until GetImage says AVAILABLE)", Duration: tail},
	), nil
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
