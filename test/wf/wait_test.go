package wf

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// waitDoc pauses the build for an approval, then runs the components and
// a step that reads the decision.
const waitDoc = `name: approved-build
schemaVersion: 1.0
parameters:
  - name: approval
    type: boolean
    default: true
  - name: waitSeconds
    type: integer
    default: 0
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Approve
    action: WaitForAction
    onFailure: Continue
    if:
      booleanEquals: true
      value: $.parameters.approval
    inputs:
      snsTopicArn: arn:aws:sns:us-east-1:000000000000:approvals
      payload: "approve {{ $.imagebuilder.imageName }}"
  - name: Slow
    action: RunCommand
    if:
      numberGreaterThan: 0
      value: $.parameters.waitSeconds
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["sleep {{ $.parameters.waitSeconds }}"]
  - name: Build
    action: ExecuteComponents
  - name: After
    action: RunCommand
    inputs:
      documentName: AWS-RunShellScript
      parameters:
        commands: ["echo 'decided {{ $.stepOutputs.Approve.action }}: {{ $.stepOutputs.Approve.reason }}'"]
`

// timeoutDoc waits two seconds for an action that never comes; onFailure
// Continue lets the build go on.
const timeoutDoc = `schemaVersion: 1.0
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Approve
    action: WaitForAction
    timeoutSeconds: 2
    onFailure: Continue
  - name: Build
    action: ExecuteComponents
`

// TestWaitForActionResumeAndStop pauses three builds at WaitForAction:
// ListWaitingWorkflowSteps lists them (page by page) to their owner and
// none to another account; the AWS CLI resumes one, `kiln workflow
// stop` stops the other, and an account the image policy allows resumes
// a third. Three builds wait at once on kiln's two workers: a waiting
// build holds none. A fourth build's wait times out.
func TestWaitForActionResumeAndStop(t *testing.T) {
	t.Parallel()
	kilntest.RequireTool(t, "/usr/bin/aws", "awscli")
	f := newFixture(t)
	ctx := kilntest.Context(t)
	wf := f.workflow(t, "approved-build", types.WorkflowTypeBuild, waitDoc)
	timeoutWF := f.workflow(t, "impatient-build", types.WorkflowTypeBuild, timeoutDoc)
	resumed := f.image(t, use(wf))
	stopped := f.image(t, use(wf))
	timedOut := f.image(t, use(timeoutWF))
	delegated := f.image(t, use(wf))

	rs := f.waitingStepOf(t, resumed, 3*time.Minute)
	f.waitingStepOf(t, stopped, 3*time.Minute)
	ds := f.waitingStepOf(t, delegated, 3*time.Minute)
	listed := map[string]int{}
	for _, st := range waiting(t, f.client, 1) {
		listed[aws.ToString(st.ImageBuildVersionArn)]++
	}
	if listed[resumed] != 1 || listed[stopped] != 1 || listed[delegated] != 1 {
		t.Errorf("ListWaitingWorkflowSteps, one per page, listed %v", listed)
	}
	if aws.ToString(rs.Name) != "Approve" || aws.ToString(rs.Action) != "WaitForAction" || rs.WorkflowExecutionId == nil || rs.StartTime == nil {
		t.Errorf("waiting step: %+v", rs)
	}
	got, err := f.client.GetWorkflowStepExecution(ctx, &imagebuilder.GetWorkflowStepExecutionInput{StepExecutionId: rs.StepExecutionId})
	if err != nil || got.Status != types.WorkflowStepExecutionStatusRunning || !strings.Contains(aws.ToString(got.Message), "Waiting for an action") {
		t.Errorf("GetWorkflowStepExecution of the waiting step: %v %+v", err, got)
	}
	if img := f.wait(t, resumed, time.Second, types.ImageStatusBuilding); img.State.Status != types.ImageStatusBuilding {
		t.Errorf("a waiting build is %s", img.State.Status)
	}

	// Another account sees no waiting step and cannot act on one.
	other := f.srv.Client(otherCreds)
	if got := waiting(t, other, 25); len(got) != 0 {
		t.Errorf("another account lists %d waiting steps", len(got))
	}
	_, err = other.SendWorkflowStepAction(ctx, &imagebuilder.SendWorkflowStepActionInput{
		StepExecutionId: rs.StepExecutionId, ImageBuildVersionArn: aws.String(resumed), Action: types.WorkflowStepActionTypeStop,
		ClientToken: aws.String("other-1"),
	})
	if code := apiCode(err); code != "ResourceNotFoundException" && code != "ForbiddenException" {
		t.Errorf("another account's STOP: %v", err)
	}
	// An account the image's resource policy allows
	// imagebuilder:SendWorkflowStepAction may act on its steps.
	_, err = f.client.PutImagePolicy(ctx, &imagebuilder.PutImagePolicyInput{ImageArn: aws.String(delegated), Policy: aws.String(`{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::` + otherAccount + `:root"]},
    "Action": ["imagebuilder:GetImage", "imagebuilder:SendWorkflowStepAction"], "Resource": "` + delegated + `"}]
}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.SendWorkflowStepAction(ctx, &imagebuilder.SendWorkflowStepActionInput{
		StepExecutionId: ds.StepExecutionId, ImageBuildVersionArn: aws.String(delegated), Action: types.WorkflowStepActionTypeResume,
		ClientToken: aws.String("other-2"), Reason: aws.String("delegated"),
	})
	if err != nil {
		t.Errorf("RESUME by the account the image policy allows: %v", err)
	}
	// Another account cannot act on a step of an image it may only read.
	if _, err := other.SendWorkflowStepAction(ctx, &imagebuilder.SendWorkflowStepActionInput{
		StepExecutionId: rs.StepExecutionId, ImageBuildVersionArn: aws.String(resumed), Action: types.WorkflowStepActionTypeStop,
		ClientToken: aws.String("other-3"),
	}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("STOP of an image the account cannot see: %v", err)
	}

	// A bad action names the member.
	_, err = f.client.SendWorkflowStepAction(ctx, &imagebuilder.SendWorkflowStepActionInput{
		StepExecutionId: rs.StepExecutionId, ImageBuildVersionArn: aws.String(resumed), Action: "PAUSE",
		ClientToken: aws.String("bad-1"),
	})
	if apiCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "action") {
		t.Errorf("action PAUSE: %v", err)
	}

	// The AWS CLI lists the waiting steps, and RESUMEs one twice with one
	// client token: the second answers the same and acts no more.
	awsCLI := func(args ...string) (string, error) {
		cmd := exec.Command("aws", append([]string{"--endpoint-url", f.srv.URL, "--region", "us-east-1", "--output", "json", "imagebuilder"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+kilntest.DefaultCreds.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY="+kilntest.DefaultCreds.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := awsCLI("list-waiting-workflow-steps"); err != nil || !strings.Contains(out, aws.ToString(rs.StepExecutionId)) || !strings.Contains(out, `"action": "WaitForAction"`) {
		t.Errorf("aws imagebuilder list-waiting-workflow-steps: %v\n%s", err, out)
	}
	for range 2 {
		out, err := awsCLI("send-workflow-step-action", "--step-execution-id", aws.ToString(rs.StepExecutionId),
			"--image-build-version-arn", resumed, "--action", "RESUME", "--reason", "looks good", "--client-token", "cli-resume-1")
		if err != nil || !strings.Contains(out, aws.ToString(rs.StepExecutionId)) {
			t.Fatalf("aws imagebuilder send-workflow-step-action: %v\n%s", err, out)
		}
	}
	img := f.wait(t, resumed, 3*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("resumed image is %s: %s", img.State.Status, aws.ToString(img.State.Reason))
	}
	_, steps := f.steps(t, resumed, types.WorkflowTypeBuild)
	if o := outputs(t, steps["Approve"]); steps["Approve"].Status != "COMPLETED" || o["action"] != "RESUME" || o["reason"] != "looks good" {
		t.Errorf("Approve: %s %v", steps["Approve"].Status, o)
	}
	if o := outputs(t, steps["After"]); !strings.Contains(o["output"].(string), "decided RESUME: looks good") {
		t.Errorf("After: %v", o)
	}
	// The step acted on is no longer waiting.
	_, err = f.client.SendWorkflowStepAction(ctx, &imagebuilder.SendWorkflowStepActionInput{
		StepExecutionId: rs.StepExecutionId, ImageBuildVersionArn: aws.String(resumed), Action: types.WorkflowStepActionTypeStop,
		ClientToken: aws.String("late-1"),
	})
	if apiCode(err) != "InvalidRequestException" {
		t.Errorf("STOP after the build: %v", err)
	}

	// STOP through kiln's CLI.
	out, err := f.kiln(t, "workflow", "stop", "--reason", "bad build", stopped)
	if err != nil || !strings.Contains(out, "STOP sent to step Approve") {
		t.Fatalf("kiln workflow stop: %v\n%s", err, out)
	}
	img = f.wait(t, stopped, 2*time.Minute)
	reason := aws.ToString(img.State.Reason)
	if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "step Approve") || !strings.Contains(reason, "bad build") {
		t.Errorf("stopped image is %s: %s", img.State.Status, reason)
	}
	if out, err := f.kiln(t, "workflow", "resume", stopped); err == nil || !strings.Contains(out, "no step") {
		t.Errorf("kiln workflow resume of a finished build: %v\n%s", err, out)
	}

	img = f.wait(t, delegated, 3*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Errorf("the image resumed by the delegated account is %s: %s", img.State.Status, aws.ToString(img.State.Reason))
	}

	img = f.wait(t, timedOut, 3*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Errorf("image whose wait timed out (onFailure Continue) is %s: %s", img.State.Status, aws.ToString(img.State.Reason))
	}
	_, steps = f.steps(t, timedOut, types.WorkflowTypeBuild)
	if s := steps["Approve"]; s.Status != "FAILED" || !strings.Contains(aws.ToString(s.Message), "within 2s") {
		t.Errorf("timed-out Approve: %s %s", s.Status, aws.ToString(s.Message))
	}
	if got := waiting(t, f.client, 25); len(got) != 0 {
		t.Errorf("%d steps still listed as waiting: %+v", len(got), got)
	}
}

// TestWaitForActionSurvivesRestart kills kiln while one build waits and
// another, already resumed, runs the step after its wait. After the
// restart the resumed build takes its earlier RESUME without waiting
// again, and the waiting one waits again and is resumed with kiln's CLI.
func TestWaitForActionSurvivesRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := kilntest.Context(t)
	wf := f.workflow(t, "approved-build", types.WorkflowTypeBuild, waitDoc)
	waits := f.image(t, use(wf))
	resumed := f.image(t, use(wf, param("waitSeconds", "6")))

	f.waitingStepOf(t, waits, 3*time.Minute)
	rs := f.waitingStepOf(t, resumed, 3*time.Minute)
	_, err := f.client.SendWorkflowStepAction(ctx, &imagebuilder.SendWorkflowStepActionInput{
		StepExecutionId: rs.StepExecutionId, ImageBuildVersionArn: aws.String(resumed),
		Action: types.WorkflowStepActionTypeResume, Reason: aws.String("before the restart"), ClientToken: aws.String("resume-1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, steps := f.steps(t, resumed, types.WorkflowTypeBuild)
		if steps["Slow"].Status == types.WorkflowStepExecutionStatusRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the resumed build did not reach its Slow step: %+v", steps)
		}
		time.Sleep(100 * time.Millisecond)
	}

	f.srv.Kill()
	f.srv.Restart()
	f.client = f.srv.Client(kilntest.DefaultCreds)

	img := f.wait(t, resumed, 3*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("the resumed build is %s after the restart: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
	}
	_, steps := f.steps(t, resumed, types.WorkflowTypeBuild)
	if o := outputs(t, steps["Approve"]); steps["Approve"].Status != "COMPLETED" || o["reason"] != "before the restart" {
		t.Errorf("after the restart Approve is %s %v", steps["Approve"].Status, o)
	}

	f.waitingStepOf(t, waits, 3*time.Minute)
	if out, err := f.kiln(t, "workflow", "resume", "--reason", "after the restart", waits); err != nil {
		t.Fatalf("kiln workflow resume: %v\n%s", err, out)
	}
	img = f.wait(t, waits, 3*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("the waiting build is %s after the restart: %s", img.State.Status, aws.ToString(img.State.Reason))
	}
	execs, err := f.client.ListWorkflowExecutions(ctx, &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(waits)})
	if err != nil {
		t.Fatal(err)
	}
	var builds []types.WorkflowExecutionStatus
	for _, x := range execs.WorkflowExecutions {
		if x.Type == types.WorkflowTypeBuild {
			builds = append(builds, x.Status)
		}
	}
	if len(builds) != 2 || builds[0] != types.WorkflowExecutionStatusFailed || builds[1] != types.WorkflowExecutionStatusCompleted {
		t.Errorf("build workflow executions of the restarted build: %v, want FAILED (interrupted) then COMPLETED", builds)
	}
}
