package main

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/elfdeps"
	"github.com/kiln-build/kiln/internal/kilntest"
)

// TestContainerBuildEndToEndPlainGoBuild runs a container build, tests
// included, on a kiln built the way a newcomer builds it: a plain
// `go build` with cgo on, so a dynamically linked binary. The parent is
// busybox with no C library at all, so the runner works only because kiln
// carried the host's loader and libc in with it.
func TestContainerBuildEndToEndPlainGoBuild(t *testing.T) {
	t.Parallel()
	f, interp := newPlainBuildFixture(t)
	greeting := f.component(t, "greeting", greetingComponent)
	recipe := f.recipe(t, "plain", e2eTemplate,
		types.ComponentConfiguration{ComponentArn: aws.String(greeting), Parameters: []types.ComponentParameter{{Name: aws.String("greeting"), Value: []string{"hi from a plain go build"}}}})

	start := time.Now()
	image := f.createImage(t, recipe, true, "")
	img := f.waitImage(t, image, 3*time.Minute)
	t.Logf("build on a %s-linked kiln took %s", interp, time.Since(start).Round(time.Millisecond))
	log := f.logs(t, image)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\nbuild log:\n%s", img.State.Status, aws.ToString(img.State.Reason), log)
	}
	if !strings.Contains(log, "the kiln binary is dynamically linked: staged its loader "+interp) {
		t.Errorf("the build log does not say the loader was staged:\n%s", log)
	}
	if !strings.Contains(f.srv.Log(), "kiln binary: dynamically linked") {
		t.Errorf("kiln serve did not log that it is dynamically linked:\n%s", f.srv.Log())
	}
	if !strings.Contains(log, "wrote the greeting as 0") {
		t.Errorf("the component's output is missing:\n%s", log)
	}
}

// newPlainBuildFixture is newBuildFixture on a dynamically linked kiln
// (kilntest.DynamicBinary); it returns the binary's loader too.
func newPlainBuildFixture(t *testing.T, args ...string) (*buildFixture, string) {
	t.Helper()
	kilntest.RequireRoot(t)
	bin := kilntest.DynamicBinary(t)
	interp, err := elfdeps.Interp(bin)
	if err != nil {
		t.Fatal(err)
	}
	if interp == "" {
		t.Skip("CGO_ENABLED=1 go build gave a static binary here")
	}
	srv := kilntest.StartBinary(t, bin, nil, args...)
	f := &buildFixture{srv: srv, client: srv.Client(kilntest.DefaultCreds)}
	f.base = srv.PushBusyboxBase(t, "base/busybox")
	infra, err := f.client.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
	return f, interp
}

// TestMachineImageEndToEndPlainGoBuild builds a machine image on a
// dynamically linked kiln and boots it for its test phase: the agent in
// the guest and the components' runner both start through the loader
// kiln staged under /.kiln, in a busybox root that has no C library.
func TestMachineImageEndToEndPlainGoBuild(t *testing.T) {
	t.Parallel()
	requireQEMU(t)
	dir := t.TempDir()
	f, interp := newPlainBuildFixture(t, "--allow-import-dir", dir)
	ctx := kilntest.Context(t)
	_, parentAMI := importParent(t, f, dir)
	motd := f.component(t, "motd", machineBuildComponent)
	test := f.component(t, "booted", machineTestComponent)
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("machine"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(parentAMI),
		Components: []types.ComponentConfiguration{
			{ComponentArn: aws.String(motd), Parameters: []types.ComponentParameter{{Name: aws.String("message"), Value: []string{"built by kiln"}}}},
			{ComponentArn: aws.String(test)},
		},
		BlockDeviceMappings: []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeSize: aws.Int32(1)}}},
	})
	if err != nil {
		t.Fatalf("CreateImageRecipe: %v", err)
	}
	start := time.Now()
	out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	image := *out.ImageBuildVersionArn
	img := f.waitImage(t, image, 10*time.Minute)
	t.Logf("machine image on a %s-linked kiln built, booted and tested in %s", interp, time.Since(start).Round(time.Millisecond))
	log := f.logs(t, image)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\nbuild log:\n%s\nserver log:\n%s", img.State.Status, aws.ToString(img.State.Reason), log, f.srv.Log())
	}
	if !strings.Contains(log, "TESTED-IN-GUEST") {
		t.Errorf("the test phase did not run in the guest:\n%s", log)
	}
}
