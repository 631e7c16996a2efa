package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// TestLifecycleOneExecutionAtATime: while an execution of a policy is in
// progress, another run (by hand or by the periodic loop) and a delete of
// the policy are refused; one that made no progress for lifecycleStale
// (kiln stopped during it) is closed FAILED and the policy runs again.
func TestLifecycleOneExecutionAtATime(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc := newWorkflowTestService(t, now)
	svc.Now = func() time.Time { return now }
	const account = "111122223333"
	created, err := svc.CreateLifecyclePolicy(ctx, account, &awsapi.CreateLifecyclePolicyRequest{
		Name: "p", ExecutionRole: "role", ResourceType: awsapi.LifecyclePolicyResourceTypeAmiImage, ClientToken: "t1",
		PolicyDetails: []awsapi.LifecyclePolicyDetail{{
			Action: &awsapi.LifecyclePolicyDetailAction{Type: awsapi.LifecyclePolicyDetailActionTypeDelete},
			Filter: &awsapi.LifecyclePolicyDetailFilter{Type: awsapi.LifecyclePolicyDetailFilterTypeAge, Value: ptr(int32(1)), Unit: "DAYS"},
		}},
		ResourceSelection: &awsapi.LifecyclePolicyResourceSelection{TagMap: map[string]string{"k": "v"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := created.LifecyclePolicyArn

	// An execution left running.
	var running lifecycleExecution
	err = svc.update(ctx, func(tx store.Tx) error {
		running, err = svc.beginLifecycle(ctx, tx, account, policy, lifecycleExecution{
			LifecycleExecution: awsapi.LifecycleExecution{LifecyclePolicyArn: policy}}, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := svc.RunLifecyclePolicy(ctx, account, policy, false); errCode(err) != awsapi.ErrCodeResourceInUseException || !strings.Contains(err.Error(), running.LifecycleExecutionId) {
		t.Fatalf("a second run: %v", err)
	}
	if run, err := svc.RunLifecyclePolicy(ctx, account, policy, true); err != nil || !run.DryRun || run.LifecycleExecutionId != "" {
		t.Fatalf("a dry run beside it: %+v %v", run, err)
	}
	if _, err := svc.DeleteLifecyclePolicy(ctx, account, &awsapi.DeleteLifecyclePolicyRequest{LifecyclePolicyArn: policy}); errCode(err) != awsapi.ErrCodeResourceDependencyException {
		t.Fatalf("deleting the policy: %v", err)
	}
	if _, err := svc.RunLifecyclePolicy(ctx, "999988887777", policy, false); errCode(err) != awsapi.ErrCodeResourceNotFoundException {
		t.Fatalf("another account's run: %v", err)
	}

	// The periodic run comes due: its claim stands, the run is skipped.
	now = now.Add(6 * time.Minute)
	if err := svc.FireLifecycle(ctx, policy, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	due, err := svc.LifecycleDue(ctx, 5*time.Minute)
	if err != nil || !due[policy].Equal(now.Add(5*time.Minute)) {
		t.Fatalf("after the skipped periodic run the policy is due %v (%v), want %v", due[policy], err, now.Add(5*time.Minute))
	}
	list, err := svc.ListLifecycleExecutions(ctx, account, &awsapi.ListLifecycleExecutionsRequest{ResourceArn: policy})
	if err != nil || len(list.LifecycleExecutions) != 1 {
		t.Fatalf("executions: %+v %v", list, err)
	}

	// Abandoned: taken over.
	now = now.Add(lifecycleStale)
	run, err := svc.RunLifecyclePolicy(ctx, account, policy, false)
	if err != nil || run.State.Status != awsapi.LifecycleExecutionStatusSuccess {
		t.Fatalf("the run after the stale one: %+v %v", run, err)
	}
	old, err := svc.GetLifecycleExecution(ctx, account, &awsapi.GetLifecycleExecutionRequest{LifecycleExecutionId: running.LifecycleExecutionId})
	if err != nil || old.LifecycleExecution.State.Status != awsapi.LifecycleExecutionStatusFailed || !strings.Contains(old.LifecycleExecution.State.Reason, "kiln stopped") {
		t.Fatalf("the abandoned execution: %+v %v", old, err)
	}
	if _, err := svc.DeleteLifecyclePolicy(ctx, account, &awsapi.DeleteLifecyclePolicyRequest{LifecyclePolicyArn: policy}); err != nil {
		t.Fatalf("deleting the policy once idle: %v", err)
	}
}

// TestBuildMarksParentLaunched: a machine build launches an instance from
// its parent AMI, which is the last launch lifecycle exclusion rules
// (lastLaunched) read.
func TestBuildMarksParentLaunched(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc := newWorkflowTestService(t, now)
	const account = "111122223333"
	parent := ami.AMI{ImageID: "ami-00000000000000007", Region: "us-east-1", AccountID: account, Repository: "kiln/machine-images", Digest: "sha256:aa"}
	if err := svc.update(ctx, func(tx store.Tx) error { return ami.Put(ctx, tx, svc.Region, parent, now) }); err != nil {
		t.Fatal(err)
	}
	comp, err := svc.CreateComponent(ctx, account, &awsapi.CreateComponentRequest{Name: "c", SemanticVersion: "1.0.0", Platform: "Linux", ClientToken: "c",
		Data: "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs:\n          commands: [true]\n"})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := svc.CreateImageRecipe(ctx, account, &awsapi.CreateImageRecipeRequest{Name: "r", SemanticVersion: "1.0.0", ClientToken: "r",
		ParentImage: parent.ImageID, Components: []awsapi.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}}})
	if err != nil {
		t.Fatal(err)
	}
	infra, err := svc.CreateInfrastructureConfiguration(ctx, account, &awsapi.CreateInfrastructureConfigurationRequest{Name: "i", InstanceProfileName: "p", ClientToken: "i"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateImage(ctx, account, &awsapi.CreateImageRequest{ImageRecipeArn: recipe.ImageRecipeArn,
		InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn, ClientToken: "b"}); err != nil {
		t.Fatal(err)
	}
	var got ami.AMI
	if err := svc.view(ctx, func(tx store.Tx) (err error) { got, err = ami.Get(ctx, tx, parent.ImageID); return err }); err != nil {
		t.Fatal(err)
	}
	if !got.LastLaunched.Equal(now) {
		t.Errorf("the parent's lastLaunched = %v, want %v", got.LastLaunched, now)
	}
}
