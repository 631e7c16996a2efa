package wf

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

const machineBuildDoc = `name: machine-build
schemaVersion: 1.0
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Prepare
    action: RunCommand
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["echo machine > /etc/wf-machine"]
  - name: Build
    action: ExecuteComponents
  - name: Metadata
    action: CollectImageMetadata
  - name: Capture
    action: CreateImage
  - name: Register
    action: RegisterImage
    inputs:
      name: "registered {{ $.imagebuilder.imageVersionNumber }}"
  - name: Terminate
    action: TerminateInstance
outputs:
  - name: ImageId
    value: $.stepOutputs.Capture.imageId
`

const machineTestDoc = `name: machine-test
schemaVersion: 1.0
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
      imageIdOverride.$: $.workflowOutputs.ImageId
  - name: Agent
    action: WaitForSSMAgent
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
  - name: Check
    action: RunCommand
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
      documentName: AWS-RunShellScript
      parameters:
        commands:
          - cat /etc/wf-machine /etc/wf-component
          - echo "pid1=$(cat /proc/1/comm)"
  - name: Terminate
    action: TerminateInstance
`

const machineDistributionDoc = `name: machine-distribution
schemaVersion: 1.0
steps:
  - name: Distribute
    action: DistributeImage
  - name: Modify
    action: ModifyImageAttributes
    inputs:
      distributedImages.$: $.stepOutputs.Distribute.distributedImages
  - name: Apply
    action: ApplyImageConfigurations
    inputs:
      distributedImages.$: $.stepOutputs.Distribute.distributedImages
`

// TestMachineWorkflowActions builds a machine image through custom
// workflows: RunCommand in the build sandbox and, after WaitForSSMAgent,
// in the booted test guest; CollectImageMetadata, CreateImage and
// RegisterImage; DistributeImage, ModifyImageAttributes (the launch
// permission applied to the distributed AMI) and ApplyImageConfigurations.
func TestMachineWorkflowActions(t *testing.T) {
	t.Parallel()
	kilntest.RequireTool(t, "/usr/bin/qemu-system-x86_64", "qemu-system-x86")
	kilntest.RequireTool(t, "/usr/bin/qemu-img", "qemu-utils")
	dir := t.TempDir()
	f := newFixture(t, "--allow-import-dir", dir)
	ctx := kilntest.Context(t)
	imp, err := f.client.ImportDiskImage(ctx, &imagebuilder.ImportDiskImageInput{
		Name: aws.String("parent"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(f.infra),
		Uri: aws.String("file://" + kilntest.BootableRootTarball(t, dir)),
	})
	if err != nil {
		t.Fatal(err)
	}
	parent := f.wait(t, *imp.ImageBuildVersionArn, 5*time.Minute)
	if parent.State.Status != types.ImageStatusAvailable {
		t.Fatalf("import: %s %s", parent.State.Status, aws.ToString(parent.State.Reason))
	}
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("machine"), SemanticVersion: aws.String("1.0.0"), ParentImage: parent.OutputResources.Amis[0].Image,
		Components:          []types.ComponentConfiguration{{ComponentArn: f.component}},
		BlockDeviceMappings: []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeSize: aws.Int32(1)}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dist, err := f.client.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String("shared-ami"),
		Distributions: []types.Distribution{{Region: aws.String("us-east-1"), AmiDistributionConfiguration: &types.AmiDistributionConfiguration{
			LaunchPermission: &types.LaunchPermissionConfiguration{UserIds: []string{"111122223333"}},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
		DistributionConfigurationArn: dist.DistributionConfigurationArn, ExecutionRole: aws.String("kiln"),
		Workflows: []types.WorkflowConfiguration{
			use(f.workflow(t, "machine-build", types.WorkflowTypeBuild, machineBuildDoc)),
			use(f.workflow(t, "machine-test", types.WorkflowTypeTest, machineTestDoc)),
			use(f.workflow(t, "machine-distribution", types.WorkflowTypeDistribution, machineDistributionDoc)),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	image := *out.ImageBuildVersionArn
	img := f.wait(t, image, 8*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
	}
	_, build := f.steps(t, image, types.WorkflowTypeBuild)
	captured, _ := outputs(t, build["Capture"])["imageId"].(string)
	registered, _ := outputs(t, build["Register"])["imageId"].(string)
	if !strings.HasPrefix(captured, "ami-") || registered != captured {
		t.Errorf("CreateImage imageId %q, RegisterImage imageId %q: want the same AMI", captured, registered)
	}
	if o := outputs(t, build["Metadata"]); build["Metadata"].Status != "COMPLETED" || o["osVersion"] == "" {
		t.Errorf("CollectImageMetadata: %s %v", build["Metadata"].Status, o)
	}
	_, test := f.steps(t, image, types.WorkflowTypeTest)
	check, _ := outputs(t, test["Check"])["output"].(string)
	if !strings.Contains(check, "machine\nbuilt\n") || !strings.Contains(check, "pid1=init") {
		t.Errorf("RunCommand in the test guest: %q", check)
	}
	if outputs(t, test["Agent"])["status"] != "Success" {
		t.Errorf("WaitForSSMAgent: %v", outputs(t, test["Agent"]))
	}
	_, ds := f.steps(t, image, types.WorkflowTypeDistribution)
	distributed, _ := outputs(t, ds["Distribute"])["distributedImages"].([]any)
	modified, _ := outputs(t, ds["Modify"])["modifiedImages"].([]any)
	configured, _ := outputs(t, ds["Apply"])["configuredImages"].([]any)
	if len(distributed) != 1 || len(modified) != 1 || len(configured) != 1 {
		t.Fatalf("distributed %v, modified %v, configured %v", distributed, modified, configured)
	}
	if m := modified[0].(map[string]any); !strings.Contains(workflowText(m["launchPermission"]), "111122223333") {
		t.Errorf("modified image %v lacks the launch permission", m)
	}
	amis := img.OutputResources.Amis
	if len(amis) != 2 || aws.ToString(amis[0].Image) != registered || aws.ToString(amis[1].Image) != distributed[0].(map[string]any)["amiId"] {
		t.Errorf("outputResources.amis = %+v; want the registered AMI and the distributed one", amis)
	}
	list, err := f.kiln(t, "ami", "list")
	if err != nil || !strings.Contains(list, registered) {
		t.Errorf("kiln ami list: %v\n%s", err, list)
	}
}

func workflowText(v any) string {
	if l, ok := v.([]any); ok {
		var s []string
		for _, x := range l {
			s = append(s, x.(string))
		}
		return strings.Join(s, ",")
	}
	return ""
}
