package scan_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// TestMachineImageScan builds a machine image with scanning on: its
// CollectImageScanFindings step, in the test workflow beside the booted
// test instance, records the finding of the fixture, and the image's
// kiln:fail-on-severity tag fails the build before any AMI is
// distributed.
func TestMachineImageScan(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	kilntest.RequireTool(t, "/usr/bin/qemu-system-x86_64", "qemu-system-x86")
	kilntest.RequireTool(t, "/usr/bin/qemu-img", "qemu-utils")
	release := debianRelease(t)
	pkgs := hostPackages(t, "busybox-static", "debianutils", "base-files")
	records := writeFixture(t, release, pkgs)

	dir := t.TempDir()
	srv := kilntest.Start(t, "--allow-import-dir", dir)
	creds := kilntest.DefaultCreds // the default account, the vulndb operator on loopback
	c := srv.Client(creds)
	f := &fixture{srv: srv, client: c}
	ctx := kilntest.Context(t)
	if out, err := kiln(t, srv, creds, "vulndb", "import", records); err != nil {
		t.Fatalf("kiln vulndb import: %v\n%s", err, out)
	}
	infra, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tarball := kilntest.BootableRootTarball(t, dir)
	imp, err := c.ImportDiskImage(ctx, &imagebuilder.ImportDiskImageInput{
		Name: aws.String("debian-busybox"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn,
		Uri: aws.String("file://" + tarball),
	})
	if err != nil {
		t.Fatalf("ImportDiskImage: %v", err)
	}
	parent := f.wait(t, *imp.ImageBuildVersionArn)
	if parent.State.Status != types.ImageStatusAvailable || parent.OutputResources == nil || len(parent.OutputResources.Amis) != 1 {
		t.Fatalf("import: %s %s", parent.State.Status, aws.ToString(parent.State.Reason))
	}
	comp, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("marker"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(markerComponent),
	})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := c.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("scanned-machine"), SemanticVersion: aws.String("1.0.0"), ParentImage: parent.OutputResources.Amis[0].Image,
		Components:          []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		BlockDeviceMappings: []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeSize: aws.Int32(1)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := c.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn,
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ImageScanningEnabled: aws.Bool(true)},
		Tags:                       map[string]string{"kiln:fail-on-severity": "HIGH"},
	})
	if err != nil {
		t.Fatal(err)
	}
	image := *out.ImageBuildVersionArn
	img := f.wait(t, image)
	t.Logf("machine image built, booted and scanned in %s", time.Since(start).Round(time.Millisecond))
	logs := f.logs(t, image)
	reason := aws.ToString(img.State.Reason)
	if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, vulnAffected) || !strings.Contains(reason, "busybox-static") {
		t.Fatalf("gated machine image: %s %q\n%s", img.State.Status, reason, logs)
	}
	if img.ScanState == nil || img.ScanState.Status != types.ImageScanStatusCompleted {
		t.Fatalf("scanState %+v\n%s", img.ScanState, logs)
	}
	if got := findings(t, c, filter("imageBuildVersionArn", image)); !slices.Equal(ids(got), []string{vulnAffected}) {
		t.Fatalf("findings %v, want %s", ids(got), vulnAffected)
	}

	// The scan ran as the test workflow's step, and no distribution
	// followed the gate's verdict.
	execs, err := c.ListWorkflowExecutions(ctx, &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(image)})
	if err != nil {
		t.Fatal(err)
	}
	scanStep := ""
	for _, x := range execs.WorkflowExecutions {
		if x.Type == types.WorkflowTypeDistribution {
			t.Errorf("a distribution workflow ran after the gate failed the build: %+v", x)
		}
		if x.Type != types.WorkflowTypeTest {
			continue
		}
		steps, err := c.ListWorkflowStepExecutions(ctx, &imagebuilder.ListWorkflowStepExecutionsInput{WorkflowExecutionId: x.WorkflowExecutionId})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range steps.Steps {
			if aws.ToString(s.Action) == "CollectImageScanFindings" {
				scanStep = string(s.Status)
			}
		}
	}
	if scanStep != string(types.WorkflowStepExecutionStatusCompleted) {
		t.Fatalf("CollectImageScanFindings in the test workflow: %q\n%s", scanStep, logs)
	}
}
