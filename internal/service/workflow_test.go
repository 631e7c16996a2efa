package service

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

// newWorkflowTestService is a Service on a fresh SQLite store with a fixed
// clock.
func newWorkflowTestService(t *testing.T, now time.Time) *Service {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &Service{Store: st, Partition: "aws", Region: "us-east-1", TokenKey: []byte("test-key"), Now: func() time.Time { return now }}
}

func errCode(err error) string {
	var e *awsapi.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

const testBuildWorkflow = `schemaVersion: 1.0
parameters:
  - name: approve
    type: boolean
    default: false
steps:
  - name: Launch
    action: LaunchInstance
    inputs:
      waitFor: ssmAgent
  - name: Approve
    action: WaitForAction
    if:
      booleanEquals: true
      value: $.parameters.approve
`

func TestCreateWorkflowVersions(t *testing.T) {
	ctx := context.Background()
	s := newWorkflowTestService(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	const account = "111122223333"
	create := func(token, data string) (*awsapi.CreateWorkflowResponse, error) {
		return s.CreateWorkflow(ctx, account, &awsapi.CreateWorkflowRequest{
			Name: "My Flow", SemanticVersion: "1.0.0", Type: "BUILD", Data: data, ClientToken: token,
		})
	}
	out, err := create("t1", testBuildWorkflow)
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:imagebuilder:us-east-1:111122223333:workflow/build/my-flow/1.0.0/1"; out.WorkflowBuildVersionArn != want {
		t.Fatalf("arn = %s, want %s", out.WorkflowBuildVersionArn, want)
	}
	if out.LatestVersionReferences == nil || !strings.HasSuffix(out.LatestVersionReferences.LatestVersionArn, "/my-flow/x.x.x") {
		t.Errorf("latestVersionReferences = %+v", out.LatestVersionReferences)
	}
	if _, err := create("t2", testBuildWorkflow); errCode(err) != "ResourceInUseException" {
		t.Errorf("identical document again: %v", err)
	}
	out2, err := create("t3", testBuildWorkflow+"# changed\n")
	if err != nil || !strings.HasSuffix(out2.WorkflowBuildVersionArn, "/1.0.0/2") {
		t.Fatalf("changed document: %v %v", out2, err)
	}
	again, err := create("t1", testBuildWorkflow)
	if err != nil || again.WorkflowBuildVersionArn != out.WorkflowBuildVersionArn {
		t.Errorf("idempotent repeat = %v, %v", again, err)
	}

	got, err := s.GetWorkflow(ctx, account, &awsapi.GetWorkflowRequest{WorkflowBuildVersionArn: strings.TrimSuffix(out.WorkflowBuildVersionArn, "/1.0.0/1") + "/x.x.x"})
	if err != nil {
		t.Fatal(err)
	}
	w := got.Workflow
	if w.Arn != out2.WorkflowBuildVersionArn || w.Name != "My Flow" || w.Type != "BUILD" || w.Owner != account || w.DateCreated != "2026-01-02T03:04:05.000Z" {
		t.Errorf("GetWorkflow = %+v", w)
	}
	if len(w.Parameters) != 1 || w.Parameters[0].Name != "approve" || w.Parameters[0].Type != "boolean" || strings.Join(w.Parameters[0].DefaultValue, ",") != "false" {
		t.Errorf("parameters = %+v", w.Parameters)
	}
}

func TestCreateWorkflowRejects(t *testing.T) {
	ctx := context.Background()
	s := newWorkflowTestService(t, time.Now())
	tests := []struct {
		name, typ, data, code, want string
		dryRun                      bool
	}{
		{"stage", "TEST", "schemaVersion: 1.0\nsteps:\n  - name: Ship\n    action: DistributeImage\n", "InvalidParameterValueException", "line 3, column 5: step \"Ship\": the action DistributeImage cannot run in a TEST workflow", false},
		{"timeout", "BUILD", "schemaVersion: 1.0\nsteps:\n  - name: Wait\n    action: WaitForSSMAgent\n    timeoutSeconds: 99999\n", "InvalidParameterValueException", "line 5, column 21", false},
		{"yaml", "BUILD", "schemaVersion: 1.0\nsteps: [\n", "InvalidParameterValueException", "invalid YAML", false},
		{"dry run ok", "BUILD", testBuildWorkflow, "DryRunOperationException", "DryRun", true},
		{"dry run still validates", "BUILD", "schemaVersion: 1.0\n", "InvalidParameterValueException", "steps is required", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateWorkflow(ctx, "111122223333", &awsapi.CreateWorkflowRequest{
				Name: "bad", SemanticVersion: "1.0.0", Type: tt.typ, Data: tt.data, ClientToken: tt.name, DryRun: &tt.dryRun,
			})
			if errCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %s containing %q", err, tt.code, tt.want)
			}
		})
	}
	list, err := s.ListWorkflows(ctx, "111122223333", &awsapi.ListWorkflowsRequest{})
	if err != nil || len(list.WorkflowVersionList) != 0 {
		t.Errorf("rejected creates left %v (%v)", list, err)
	}
}

func TestSeedAndListWorkflows(t *testing.T) {
	ctx := context.Background()
	s := newWorkflowTestService(t, time.Now())
	if err := s.SeedWorkflows(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SeedWorkflows(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	const account = "111122223333"
	var names []string
	req := &awsapi.ListWorkflowsRequest{Owner: "Amazon", MaxResults: ptr(int32(4))}
	for {
		out, err := s.ListWorkflows(ctx, account, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.WorkflowVersionList {
			names = append(names, v.Type+":"+v.Name+":"+v.Owner)
			if !strings.Contains(v.Arn, ":aws:workflow/") || !strings.HasSuffix(v.Arn, "/1.0.0") {
				t.Errorf("arn %s", v.Arn)
			}
		}
		if out.NextToken == "" {
			break
		}
		req.NextToken = out.NextToken
	}
	want := "BUILD:build-container:Amazon BUILD:build-image:Amazon DISTRIBUTION:distribute-container:Amazon DISTRIBUTION:distribute-image:Amazon TEST:test-container:Amazon TEST:test-image:Amazon"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("Amazon workflows = %s\nwant %s", got, want)
	}
	self, err := s.ListWorkflows(ctx, account, &awsapi.ListWorkflowsRequest{})
	if err != nil || len(self.WorkflowVersionList) != 0 {
		t.Errorf("Self list = %v, %v", self, err)
	}
	typed, err := s.ListWorkflows(ctx, account, &awsapi.ListWorkflowsRequest{Owner: "Amazon", Filters: []awsapi.Filter{{Name: "type", Values: []string{"TEST"}}}})
	if err != nil || len(typed.WorkflowVersionList) != 2 {
		t.Errorf("type filter = %v, %v", typed, err)
	}
	if _, err := s.DeleteWorkflow(ctx, account, &awsapi.DeleteWorkflowRequest{WorkflowBuildVersionArn: "arn:aws:imagebuilder:us-east-1:aws:workflow/build/build-image/1.0.0/1"}); errCode(err) != "ForbiddenException" {
		t.Errorf("deleting an Amazon workflow: %v", err)
	}
}

func TestDeleteWorkflowInUse(t *testing.T) {
	ctx := context.Background()
	s := newWorkflowTestService(t, time.Now())
	const account = "111122223333"
	out, err := s.CreateWorkflow(ctx, account, &awsapi.CreateWorkflowRequest{Name: "used", SemanticVersion: "2.1.0", Type: "BUILD", Data: testBuildWorkflow, ClientToken: "c"})
	if err != nil {
		t.Fatal(err)
	}
	// A pipeline naming the workflow by a wildcard that only this build
	// satisfies.
	pipeline := store.Resource{
		ARN: "arn:aws:imagebuilder:us-east-1:111122223333:image-pipeline/p", Kind: "image-pipeline", Account: account, Region: "us-east-1", Name: "p",
		Doc: []byte(`{"workflows":[{"workflowArn":"arn:aws:imagebuilder:us-east-1:111122223333:workflow/build/used/2.x.x"}]}`),
	}
	if err := s.update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, pipeline) }); err != nil {
		t.Fatal(err)
	}
	del := &awsapi.DeleteWorkflowRequest{WorkflowBuildVersionArn: out.WorkflowBuildVersionArn}
	if _, err := s.DeleteWorkflow(ctx, account, del); errCode(err) != "ResourceDependencyException" {
		t.Fatalf("delete in use: %v", err)
	}
	if err := s.update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, pipeline.ARN) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteWorkflow(ctx, account, del); err != nil {
		t.Fatalf("delete after the pipeline is gone: %v", err)
	}
	if _, err := s.GetWorkflow(ctx, account, &awsapi.GetWorkflowRequest{WorkflowBuildVersionArn: out.WorkflowBuildVersionArn}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("get after delete: %v", err)
	}
}
