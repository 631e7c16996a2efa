package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
)

// kilnBuilder builds the workload through the Image Builder API: the
// imported parent, three components, one image recipe and one
// infrastructure configuration, then one CreateImage per build.
type kilnBuilder struct {
	client *imagebuilder.Client
	bin    string // the kiln binary, for `kiln logs`
	addr   string
	infra  string // infrastructure configuration ARN
	recipe string // image recipe ARN
	poll   time.Duration
}

// kilnRun is one build as kiln did it and recorded it.
type kilnRun struct {
	ARN      string               `json:"image_build_version_arn"`
	AMI      string               `json:"ami"`
	Wall     time.Duration        `json:"wall_ns"`
	Steps    []benchkit.StepTime  `json:"steps"`
	States   []benchkit.StateSeen `json:"states"`
	Log      string               `json:"-"`
	LogLines []string             `json:"log_timings"` // the executor's own timing lines
}

// kilnPoll is how often a build's GetImage is polled; the report says it.
const kilnPoll = 50 * time.Millisecond

// newKilnBuilder creates the infrastructure configuration, imports the
// parent (returning how long the import took: not part of a build) and
// creates the components and the recipe, whose root volume is volumeGiB.
func newKilnBuilder(ctx context.Context, bin, addr, tarball string, cs []component, volumeGiB int) (*kilnBuilder, time.Duration, error) {
	k := &kilnBuilder{client: benchkit.NewClient("http://"+addr, "AKIDMACHINEBENCH", "machinebench-secret", 1), bin: bin, addr: addr, poll: kilnPoll}
	c := k.client
	infra, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name:                aws.String("machinebench"),
		InstanceProfileName: aws.String("machinebench"),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("CreateInfrastructureConfiguration: %w", err)
	}
	k.infra = aws.ToString(infra.InfrastructureConfigurationArn)

	start := time.Now()
	imp, err := c.ImportDiskImage(ctx, &imagebuilder.ImportDiskImageInput{
		Name: aws.String("machinebench-parent"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(k.infra),
		Uri: aws.String("file://" + tarball),
	})
	if err != nil {
		return nil, 0, fmt.Errorf("ImportDiskImage: %w", err)
	}
	img, _, err := benchkit.WaitImage(ctx, c, aws.ToString(imp.ImageBuildVersionArn), start, k.poll, 20*time.Minute)
	if err != nil {
		return nil, 0, fmt.Errorf("importing the parent: %w", err)
	}
	imported := time.Since(start)
	if img.OutputResources == nil || len(img.OutputResources.Amis) == 0 {
		return nil, 0, errors.New("the imported parent names no AMI")
	}
	parentAMI := aws.ToString(img.OutputResources.Amis[0].Image)

	var confs []types.ComponentConfiguration
	for _, comp := range cs {
		out, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
			Name: aws.String(comp.Name), SemanticVersion: aws.String("1.0.0"),
			Platform: types.PlatformLinux, Data: aws.String(documentYAML(comp)),
		})
		if err != nil {
			return nil, 0, fmt.Errorf("CreateComponent %s: %w", comp.Name, err)
		}
		confs = append(confs, types.ComponentConfiguration{ComponentArn: out.ComponentBuildVersionArn})
	}
	recipe, err := c.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("machinebench"), SemanticVersion: aws.String("1.0.0"),
		ParentImage: aws.String(parentAMI), Components: confs,
		BlockDeviceMappings: []types.InstanceBlockDeviceMapping{{
			DeviceName: aws.String("/dev/xvda"),
			Ebs:        &types.EbsInstanceBlockDeviceSpecification{VolumeSize: aws.Int32(int32(volumeGiB))},
		}},
	})
	if err != nil {
		return nil, 0, fmt.Errorf("CreateImageRecipe: %w", err)
	}
	k.recipe = aws.ToString(recipe.ImageRecipeArn)
	return k, imported, nil
}

// build runs one image build, CreateImage until GetImage says AVAILABLE
// with image tests on, then (not timed) reads kiln's step records and log.
func (k *kilnBuilder) build(ctx context.Context) (kilnRun, error) {
	start := time.Now()
	out, err := k.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn:                 aws.String(k.recipe),
		InfrastructureConfigurationArn: aws.String(k.infra),
		ImageTestsConfiguration:        &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(true)},
	})
	if err != nil {
		return kilnRun{}, fmt.Errorf("CreateImage: %w", err)
	}
	r := kilnRun{ARN: aws.ToString(out.ImageBuildVersionArn)}
	img, states, err := benchkit.WaitImage(ctx, k.client, r.ARN, start, k.poll, 15*time.Minute)
	end := time.Now()
	r.States = states
	if err != nil {
		r.Log = k.logs(ctx, r.ARN)
		return r, fmt.Errorf("%w\nkiln's log of the build ends:\n%s", err, lastLines(r.Log, 40))
	}
	r.Wall = end.Sub(start)
	if img.OutputResources != nil && len(img.OutputResources.Amis) > 0 {
		r.AMI = aws.ToString(img.OutputResources.Amis[0].Image)
	}
	r.Steps, err = benchkit.StepBreakdown(ctx, k.client, r.ARN, start, end)
	if err != nil {
		return r, fmt.Errorf("reading the step records: %w", err)
	}
	r.Log = k.logs(ctx, r.ARN)
	r.LogLines = timingLines(r.Log)
	return r, nil
}

// logs is `kiln logs` of a build: every step's log as kiln keeps it.
func (k *kilnBuilder) logs(ctx context.Context, arn string) string {
	cmd := exec.CommandContext(ctx, k.bin, "logs", "--endpoint", "http://"+k.addr, arn)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDMACHINEBENCH", "AWS_SECRET_ACCESS_KEY=machinebench-secret", "AWS_REGION=us-east-1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("kiln logs: %v\n%s", err, out)
	}
	return string(out)
}

// timingMarkers pick the lines of a machine build's log in which kiln's
// executor says how long a part of a step took.
var timingMarkers = []string{
	"root filesystem stored as", "disk ", "test disk ready in", "agent answered in",
	"powered off", "reusing",
}

// timingLines are the log lines naming a duration of kiln's own.
func timingLines(log string) []string {
	var out []string
	for line := range strings.SplitSeq(log, "\n") {
		for _, m := range timingMarkers {
			if strings.Contains(line, m) && (strings.Contains(line, " in ") || m == "powered off" || m == "reusing") {
				out = append(out, strings.TrimSpace(line))
				break
			}
		}
	}
	return out
}
