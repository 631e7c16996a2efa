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

// buildDoc uses the build-stage actions, with parameters (typed, with
// defaults), $.parameters / $.stepOutputs / $.imagebuilder references in
// inputs and {{ }} templates, and if conditions that hold and that do not.
const buildDoc = `name: custom-build
schemaVersion: 1.0
parameters:
  - name: greeting
    type: string
    default: hello
  - name: extra
    type: boolean
    default: false
  - name: copies
    type: integer
    default: 1
  - name: tags
    type: stringList
    default: [a, b]
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: AgentUp
    action: WaitForSSMAgent
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
  - name: Bootstrap
    action: BootstrapInstanceForContainer
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
  - name: Prepare
    action: RunCommand
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
      documentName: AWS-RunShellScript
      parameters:
        commands:
          - "echo '{{ $.parameters.greeting }}' > /etc/wf-greeting"
          - "echo 'build {{ $.imagebuilder.imageBuildNumber }} of {{ $.imagebuilder.imageName }} on {{ $.stepOutputs.Launch.instanceId }}'"
  - name: Extra
    action: RunCommand
    if:
      booleanEquals: true
      value: $.parameters.extra
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["touch /etc/wf-extra"]
  - name: Many
    action: RunCommand
    if:
      and:
        - numberGreaterThan: 2
          value: $.parameters.copies
        - not:
            stringEquals: Windows
            value: $.imagebuilder.platform
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["touch /etc/wf-many"]
  - name: Build
    action: ExecuteComponents
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
  - name: Metadata
    action: CollectImageMetadata
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
  - name: Capture
    action: CreateImage
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
  - name: Terminate
    action: TerminateInstance
    onFailure: Continue
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
outputs:
  - name: BuiltImage
    value: $.stepOutputs.Capture.imageId
`

// testDoc checks, in the test instance, what the build wrote, and reads
// the build workflow's output.
const testDoc = `name: custom-test
schemaVersion: 1.0
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Check
    action: RunCommand
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
      documentName: AWS-RunShellScript
      parameters:
        workingDirectory: [/etc]
        commands:
          - cat wf-greeting
          - test -f wf-extra
          - test ! -e wf-many
          - "echo 'built {{ $.workflowOutputs.BuiltImage }}'"
  - name: Terminate
    action: TerminateInstance
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
`

const distributionDoc = `name: custom-distribution
schemaVersion: 1.0
steps:
  - name: Distribute
    action: DistributeImage
outputs:
  - name: Distributed
    value: $.stepOutputs.Distribute.imageUris
`

// TestCustomWorkflowActions builds an image through custom build, test
// and distribution workflows that use the step actions of a container
// build, with workflow parameters given at CreateImage.
func TestCustomWorkflowActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	build := f.workflow(t, "custom-build", types.WorkflowTypeBuild, buildDoc)
	test := f.workflow(t, "custom-test", types.WorkflowTypeTest, testDoc)
	dist := f.workflow(t, "custom-distribution", types.WorkflowTypeDistribution, distributionDoc)

	// A parameter of the wrong type is refused at CreateImage, naming it.
	_, err := f.createImage(t, use(build, param("copies", "many")))
	if apiCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "copies") {
		t.Errorf("CreateImage with copies=many: %v", err)
	}

	// A test workflow that fails with the workflow configuration's
	// onFailure CONTINUE does not fail the image.
	failing := use(f.workflow(t, "failing-test", types.WorkflowTypeTest, `schemaVersion: 1.0
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Fail
    action: RunCommand
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["exit 9"]
`))
	failing.OnFailure = types.OnWorkflowFailureContinue
	image := f.image(t, use(build, param("greeting", "bonjour"), param("extra", "true")), failing, use(test), use(dist))
	img := f.wait(t, image, 4*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
	}

	x, steps := f.steps(t, image, types.WorkflowTypeBuild)
	if x.Status != types.WorkflowExecutionStatusCompleted || x.TotalStepsSkipped != 1 || x.TotalStepsSucceeded != 9 {
		t.Errorf("build workflow %s: %d succeeded, %d skipped", x.Status, x.TotalStepsSucceeded, x.TotalStepsSkipped)
	}
	want := map[string]types.WorkflowStepExecutionStatus{
		"Launch": "COMPLETED", "AgentUp": "COMPLETED", "Bootstrap": "COMPLETED", "Prepare": "COMPLETED",
		"Extra": "COMPLETED", "Many": "SKIPPED", "Build": "COMPLETED", "Metadata": "COMPLETED",
		"Capture": "COMPLETED", "Terminate": "COMPLETED",
	}
	for name, status := range want {
		if steps[name].Status != status {
			t.Errorf("step %s is %s (%s), want %s", name, steps[name].Status, aws.ToString(steps[name].Message), status)
		}
	}
	instance, _ := outputs(t, steps["Launch"])["instanceId"].(string)
	if instance == "" {
		t.Fatalf("LaunchInstance published no instanceId: %v", outputs(t, steps["Launch"]))
	}
	// Inputs are recorded resolved.
	if in := aws.ToString(steps["Prepare"].Inputs); !strings.Contains(in, instance) || !strings.Contains(in, "bonjour") || strings.Contains(in, "{{") {
		t.Errorf("Prepare's recorded inputs are not resolved: %s", in)
	}
	prep := outputs(t, steps["Prepare"])
	if prep["status"] != "Success" || !strings.Contains(prep["output"].(string), "build 1 of wf-recipe on "+instance) || !strings.HasPrefix(prep["runCommandId"].(string), "kiln-cmd-") {
		t.Errorf("Prepare's outputs: %v", prep)
	}
	if outputs(t, steps["AgentUp"])["status"] != "Success" {
		t.Errorf("WaitForSSMAgent outputs: %v", outputs(t, steps["AgentUp"]))
	}
	if v, _ := outputs(t, steps["Metadata"])["osVersion"].(string); !strings.Contains(strings.ToLower(v), "busybox") && v == "" {
		t.Logf("CollectImageMetadata osVersion: %q", v)
	}
	captured, _ := outputs(t, steps["Capture"])["imageId"].(string)
	if !strings.Contains(captured, "/wf/out@sha256:") {
		t.Errorf("CreateImage imageId = %q", captured)
	}

	execs, err := f.client.ListWorkflowExecutions(kilntest.Context(t), &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(image)})
	if err != nil {
		t.Fatal(err)
	}
	var testStatuses []types.WorkflowExecutionStatus
	for _, x := range execs.WorkflowExecutions {
		if x.Type == types.WorkflowTypeTest {
			testStatuses = append(testStatuses, x.Status)
		}
	}
	if len(testStatuses) != 2 || testStatuses[0] != types.WorkflowExecutionStatusFailed {
		t.Errorf("test workflows ended %v, want FAILED (onFailure CONTINUE) then COMPLETED", testStatuses)
	}
	x, tsteps := f.steps(t, image, types.WorkflowTypeTest)
	check := outputs(t, tsteps["Check"])
	if x.Status != types.WorkflowExecutionStatusCompleted || !strings.Contains(check["output"].(string), "bonjour") ||
		!strings.Contains(check["output"].(string), "built "+captured) {
		t.Errorf("test workflow %s; Check outputs %v", x.Status, check)
	}
	_, dsteps := f.steps(t, image, types.WorkflowTypeDistribution)
	if uris, _ := outputs(t, dsteps["Distribute"])["imageUris"].([]any); len(uris) == 0 {
		t.Errorf("DistributeImage outputs: %v", outputs(t, dsteps["Distribute"]))
	}
	// The file RunCommand wrote before ExecuteComponents is in the image.
	uri := img.OutputResources.Containers[0].ImageUris[0]
	if !strings.Contains(uri, "/wf/out:") {
		t.Errorf("output URI %s", uri)
	}
}

// TestCustomWorkflowFailures covers onFailure Continue and Abort, a step
// timeout, rollback (rollbackEnabled true and false), a reference to a
// skipped step, RunSysPrep's refusal and a missing parameter.
func TestCustomWorkflowFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := kilntest.Context(t)
	_, err := f.client.CreateWorkflow(ctx, &imagebuilder.CreateWorkflowInput{
		Name: aws.String("sysprep"), SemanticVersion: aws.String("1.0.0"), Type: types.WorkflowTypeBuild,
		Data: aws.String("schemaVersion: 1.0\nsteps:\n  - name: Prep\n    action: RunSysPrep\n"),
	})
	if apiCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "Windows") {
		t.Errorf("CreateWorkflow with RunSysPrep: %v", err)
	}

	build := f.workflow(t, "failing", types.WorkflowTypeBuild, `schemaVersion: 1.0
parameters:
  - name: required
    type: string
  - name: keepLaunch
    type: boolean
    default: true
steps:
  - name: Launch
    action: LaunchInstance
    rollbackEnabled: $.parameters.keepLaunch
    inputs:
      waitFor: ssmAgent
  - name: Slow
    action: RunCommand
    onFailure: Continue
    timeoutSeconds: 2
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["sleep 60"]
  - name: Soft
    action: RunCommand
    onFailure: Continue
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["echo soft failure; exit 3"]
  - name: Hard
    action: RunCommand
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["echo '{{ $.parameters.required }}'; exit 4"]
  - name: Never
    action: ExecuteComponents
`)
	// A parameter without a default must be given.
	_, err = f.createImage(t, use(build))
	if apiCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "required") {
		t.Errorf("CreateImage without the required parameter: %v", err)
	}
	for _, tc := range []struct {
		keep     string
		rollback types.WorkflowStepExecutionRollbackStatus
	}{{"true", "COMPLETED"}, {"false", "SKIPPED"}} {
		image := f.image(t, use(build, param("required", "given"), param("keepLaunch", tc.keep)))
		img := f.wait(t, image, 3*time.Minute)
		reason := aws.ToString(img.State.Reason)
		if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "at step Hard") || !strings.Contains(reason, "exit status 4") {
			t.Errorf("rollbackEnabled %s: image %s: %s", tc.keep, img.State.Status, reason)
		}
		x, steps := f.steps(t, image, types.WorkflowTypeBuild)
		if x.Status != types.WorkflowExecutionStatusFailed || x.TotalStepsFailed != 3 || x.TotalStepsSkipped != 1 {
			t.Errorf("workflow %s: %d failed, %d skipped", x.Status, x.TotalStepsFailed, x.TotalStepsSkipped)
		}
		if s := steps["Slow"]; s.Status != "FAILED" || !strings.Contains(aws.ToString(s.Message), "timed out after 2s") {
			t.Errorf("Slow: %s %s", s.Status, aws.ToString(s.Message))
		}
		if s := steps["Soft"]; s.Status != "FAILED" || outputs(t, s)["status"] != "Failed" || !strings.Contains(outputs(t, s)["output"].(string), "soft failure") {
			t.Errorf("Soft: %s %v", s.Status, outputs(t, s))
		}
		if s := steps["Launch"]; s.Status != "COMPLETED" || s.RollbackStatus != tc.rollback {
			t.Errorf("rollbackEnabled %s: Launch %s, rollback %q, want %s", tc.keep, s.Status, s.RollbackStatus, tc.rollback)
		}
		if _, ran := steps["Never"]; ran {
			t.Error("a step after the aborting one ran")
		}
	}

	// A reference to a step that was skipped fails the step that makes it.
	ref := f.workflow(t, "dangling", types.WorkflowTypeBuild, `schemaVersion: 1.0
steps:
  - name: Launch
    action: LaunchInstance
    if:
      stringEquals: never
      value: $.imagebuilder.platform
    inputs:
      waitFor: ssmAgent
  - name: Use
    action: TerminateInstance
    inputs:
      instanceId.$: $.stepOutputs.Launch.instanceId
`)
	image := f.image(t, use(ref))
	// A machine-image action in a container build fails with a reason.
	amiOnly := f.image(t, use(f.workflow(t, "ami-only", types.WorkflowTypeBuild, `schemaVersion: 1.0
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Register
    action: RegisterImage
`)))
	img := f.wait(t, image, 2*time.Minute)
	if reason := aws.ToString(img.State.Reason); img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, `step "Launch" has not run`) {
		t.Errorf("dangling reference: %s: %s", img.State.Status, reason)
	}
	img = f.wait(t, amiOnly, 2*time.Minute)
	if reason := aws.ToString(img.State.Reason); img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "RegisterImage works on machine images") {
		t.Errorf("RegisterImage in a container build: %s: %s", img.State.Status, reason)
	}
}

// TestPipelineWorkflowParameters runs a pipeline whose workflow
// configuration gives a parameter: the pipeline's build uses it.
func TestPipelineWorkflowParameters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := kilntest.Context(t)
	build := f.workflow(t, "custom-build", types.WorkflowTypeBuild, buildDoc)
	p, err := f.client.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("parameterised"), ContainerRecipeArn: aws.String(f.recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		ExecutionRole: aws.String("kiln"), Workflows: []types.WorkflowConfiguration{use(build, param("greeting", "from the pipeline"))},
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	run, err := f.client.StartImagePipelineExecution(ctx, &imagebuilder.StartImagePipelineExecutionInput{ImagePipelineArn: p.ImagePipelineArn})
	if err != nil {
		t.Fatal(err)
	}
	image := aws.ToString(run.ImageBuildVersionArn)
	img := f.wait(t, image, 3*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("pipeline image is %s: %s", img.State.Status, aws.ToString(img.State.Reason))
	}
	_, steps := f.steps(t, image, types.WorkflowTypeBuild)
	if in := aws.ToString(steps["Prepare"].Inputs); !strings.Contains(in, "from the pipeline") {
		t.Errorf("Prepare's inputs lack the pipeline's parameter: %s", in)
	}
	if steps["Extra"].Status != types.WorkflowStepExecutionStatusSkipped {
		t.Errorf("Extra (extra defaults to false) is %s", steps["Extra"].Status)
	}
}
