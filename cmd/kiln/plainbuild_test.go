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
	kilntest.RequireRoot(t)
	bin := kilntest.DynamicBinary(t)
	interp, err := elfdeps.Interp(bin)
	if err != nil {
		t.Fatal(err)
	}
	if interp == "" {
		t.Skip("CGO_ENABLED=1 go build gave a static binary here (no C toolchain?)")
	}
	srv := kilntest.StartBinary(t, bin, nil)
	f := &buildFixture{srv: srv, client: srv.Client(kilntest.DefaultCreds)}
	f.base = srv.PushBusyboxBase(t, "base/busybox")
	ctx := kilntest.Context(t)
	infra, err := f.client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
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
	if !strings.Contains(log, "wrote the greeting as 0") {
		t.Errorf("the component's output is missing:\n%s", log)
	}
}
