package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

const testWorkflowDoc = `name: approve
description: waits for a person before the image is captured
schemaVersion: 1.0
parameters:
  - name: waitForApproval
    type: boolean
    default: true
steps:
  - name: LaunchBuildInstance
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: ApplyBuildComponents
    action: ExecuteComponents
    inputs:
      instanceId.$: $.stepOutputs.LaunchBuildInstance.instanceId
  - name: WaitForApproval
    action: WaitForAction
    if:
      booleanEquals: true
      value: $.parameters.waitForApproval
  - name: CreateOutputAMI
    action: CreateImage
    inputs:
      instanceId.$: $.stepOutputs.LaunchBuildInstance.instanceId
outputs:
  - name: ImageId
    value: $.stepOutputs.CreateOutputAMI.imageId
`

func createWorkflow(t *testing.T, c *imagebuilder.Client, name, version string, typ types.WorkflowType, doc string) string {
	t.Helper()
	out, err := c.CreateWorkflow(kilntest.Context(t), &imagebuilder.CreateWorkflowInput{
		Name: aws.String(name), SemanticVersion: aws.String(version), Type: typ, Data: aws.String(doc),
	})
	if err != nil {
		t.Fatalf("CreateWorkflow %s %s: %v", name, version, err)
	}
	return aws.ToString(out.WorkflowBuildVersionArn)
}

func TestWorkflowRoundTrip(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)

	out, err := c.CreateWorkflow(ctx, &imagebuilder.CreateWorkflowInput{
		Name: aws.String("Approve Flow"), SemanticVersion: aws.String("1.2.3"), Type: types.WorkflowTypeBuild,
		Data: aws.String(testWorkflowDoc), Description: aws.String("with approval"), ChangeDescription: aws.String("first"),
		KmsKeyId: aws.String("alias/flows"), Tags: map[string]string{"team": "images"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := aws.ToString(out.WorkflowBuildVersionArn)
	if want := "arn:aws:imagebuilder:us-east-1:000000000000:workflow/build/approve-flow/1.2.3/1"; a != want {
		t.Fatalf("arn = %s, want %s", a, want)
	}
	if out.ClientToken == nil || out.LatestVersionReferences == nil {
		t.Errorf("create output = %+v", out)
	}

	get, err := c.GetWorkflow(ctx, &imagebuilder.GetWorkflowInput{WorkflowBuildVersionArn: aws.String(strings.TrimSuffix(a, "/1.2.3/1") + "/1.x.x")})
	if err != nil {
		t.Fatal(err)
	}
	w := get.Workflow
	if aws.ToString(w.Arn) != a || aws.ToString(w.Name) != "Approve Flow" || aws.ToString(w.Version) != "1.2.3" ||
		w.Type != types.WorkflowTypeBuild || aws.ToString(w.Data) != testWorkflowDoc || aws.ToString(w.Description) != "with approval" ||
		aws.ToString(w.ChangeDescription) != "first" || aws.ToString(w.KmsKeyId) != "alias/flows" || w.Tags["team"] != "images" ||
		aws.ToString(w.Owner) != "000000000000" || !dateTimePattern.MatchString(aws.ToString(w.DateCreated)) {
		t.Errorf("GetWorkflow = %+v", w)
	}
	if len(w.Parameters) != 1 || aws.ToString(w.Parameters[0].Name) != "waitForApproval" || aws.ToString(w.Parameters[0].Type) != "boolean" ||
		strings.Join(w.Parameters[0].DefaultValue, ",") != "true" {
		t.Errorf("parameters = %+v", w.Parameters)
	}

	// The same version again is its next build; an identical document is refused.
	_, err = c.CreateWorkflow(ctx, &imagebuilder.CreateWorkflowInput{Name: aws.String("Approve Flow"), SemanticVersion: aws.String("1.2.3"),
		Type: types.WorkflowTypeBuild, Data: aws.String(testWorkflowDoc)})
	wantCode(t, err, "ResourceInUseException")
	b2 := createWorkflow(t, c, "Approve Flow", "1.2.3", types.WorkflowTypeBuild, testWorkflowDoc+"# v2\n")
	if !strings.HasSuffix(b2, "/1.2.3/2") {
		t.Errorf("second build = %s", b2)
	}
	builds, err := c.ListWorkflowBuildVersions(ctx, &imagebuilder.ListWorkflowBuildVersionsInput{WorkflowVersionArn: aws.String(strings.TrimSuffix(a, "/1"))})
	if err != nil || len(builds.WorkflowSummaryList) != 2 || aws.ToString(builds.WorkflowSummaryList[1].Arn) != b2 {
		t.Fatalf("ListWorkflowBuildVersions = %+v, %v", builds, err)
	}

	createWorkflow(t, c, "checks", "1.0.0", types.WorkflowTypeTest,
		"schemaVersion: 1.0\nsteps:\n  - name: Launch\n    action: LaunchInstance\n    inputs:\n      waitFor: ssmAgent\n")
	list, err := c.ListWorkflows(ctx, &imagebuilder.ListWorkflowsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range list.WorkflowVersionList {
		got = append(got, string(v.Type)+" "+aws.ToString(v.Name)+" "+aws.ToString(v.Version))
	}
	if strings.Join(got, ", ") != "BUILD Approve Flow 1.2.3, TEST checks 1.0.0" {
		t.Errorf("ListWorkflows = %v", got)
	}
	filtered, err := c.ListWorkflows(ctx, &imagebuilder.ListWorkflowsInput{Filters: []types.Filter{{Name: aws.String("type"), Values: []string{"TEST"}}}})
	if err != nil || len(filtered.WorkflowVersionList) != 1 {
		t.Errorf("type filter = %+v, %v", filtered, err)
	}

	if _, err := c.DeleteWorkflow(ctx, &imagebuilder.DeleteWorkflowInput{WorkflowBuildVersionArn: aws.String(a)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetWorkflow(ctx, &imagebuilder.GetWorkflowInput{WorkflowBuildVersionArn: aws.String(a)})
	wantCode(t, err, "ResourceNotFoundException")
}

// TestWorkflowDocumentErrors checks that document problems come back as
// InvalidParameterValueException naming the line, and that dryRun
// validates without storing.
func TestWorkflowDocumentErrors(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	tests := []struct {
		name string
		typ  types.WorkflowType
		doc  string
		want string
	}{
		{"unknown action", types.WorkflowTypeBuild, "schemaVersion: 1.0\nsteps:\n  - name: Boom\n    action: Explode\n", `line 4, column 13: unknown action "Explode"`},
		{"stage", types.WorkflowTypeBuild, "schemaVersion: 1.0\nsteps:\n  - name: Ship\n    action: DistributeImage\n", "line 3, column 5: step \"Ship\": the action DistributeImage cannot run in a BUILD workflow"},
		{"timeout", types.WorkflowTypeTest, "schemaVersion: 1.0\nsteps:\n  - name: Wait\n    action: WaitForSSMAgent\n    timeoutSeconds: 20000\n", "line 5, column 21: step \"Wait\": timeoutSeconds 20000 exceeds"},
		{"schema", types.WorkflowTypeDistribution, "steps:\n  - name: Ship\n    action: DistributeImage\n", "line 1, column 1: schemaVersion is required"},
		{"reference", types.WorkflowTypeBuild, "schemaVersion: 1.0\nsteps:\n  - name: Apply\n    action: ExecuteComponents\n    inputs:\n      instanceId.$: $.stepOutputs.Launch.instanceId\n", "line 6, column 21"},
	}
	for _, tt := range tests {
		_, err := c.CreateWorkflow(ctx, &imagebuilder.CreateWorkflowInput{Name: aws.String("bad"), SemanticVersion: aws.String("1.0.0"), Type: tt.typ, Data: aws.String(tt.doc)})
		if apiCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want InvalidParameterValueException containing %q", tt.name, err, tt.want)
		}
	}
	_, err := c.CreateWorkflow(ctx, &imagebuilder.CreateWorkflowInput{Name: aws.String("dry"), SemanticVersion: aws.String("1.0.0"),
		Type: types.WorkflowTypeBuild, Data: aws.String(testWorkflowDoc), DryRun: true})
	wantCode(t, err, "DryRunOperationException")
	_, err = c.CreateWorkflow(ctx, &imagebuilder.CreateWorkflowInput{Name: aws.String("dry"), SemanticVersion: aws.String("1.0.0"),
		Type: types.WorkflowTypeBuild, Data: aws.String("schemaVersion: 1.0\n"), DryRun: true})
	wantCode(t, err, "InvalidParameterValueException")
	_, err = c.CreateWorkflow(ctx, &imagebuilder.CreateWorkflowInput{Name: aws.String("both"), SemanticVersion: aws.String("1.0.0"),
		Type: types.WorkflowTypeBuild, Data: aws.String(testWorkflowDoc), Uri: aws.String("s3://b/k")})
	wantCode(t, err, "InvalidParameterCombinationException")
	list, err := c.ListWorkflows(ctx, &imagebuilder.ListWorkflowsInput{})
	if err != nil || len(list.WorkflowVersionList) != 0 {
		t.Errorf("failed creates stored %+v (%v)", list, err)
	}
}

// TestAmazonWorkflows checks kiln's default workflows are listed as
// Amazon's and readable by their managed ARNs.
func TestAmazonWorkflows(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	list, err := c.ListWorkflows(ctx, &imagebuilder.ListWorkflowsInput{Owner: types.OwnershipAmazon})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range list.WorkflowVersionList {
		got = append(got, aws.ToString(v.Arn)+" "+aws.ToString(v.Owner))
	}
	const prefix = "arn:aws:imagebuilder:us-east-1:aws:workflow/"
	want := []string{"build/build-container", "build/build-image", "distribution/distribute-container", "distribution/distribute-image", "test/test-container", "test/test-image"}
	for i := range want {
		want[i] = prefix + want[i] + "/1.0.0 Amazon"
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Amazon workflows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	get, err := c.GetWorkflow(ctx, &imagebuilder.GetWorkflowInput{WorkflowBuildVersionArn: aws.String(prefix + "build/build-image/x.x.x")})
	if err != nil {
		t.Fatal(err)
	}
	if w := get.Workflow; aws.ToString(w.Arn) != prefix+"build/build-image/1.0.0/1" || !strings.Contains(aws.ToString(w.Data), "action: CreateImage") {
		t.Errorf("build-image = %+v", w)
	}
	_, err = c.DeleteWorkflow(ctx, &imagebuilder.DeleteWorkflowInput{WorkflowBuildVersionArn: aws.String(prefix + "build/build-image/1.0.0/1")})
	wantCode(t, err, "ForbiddenException")
}
