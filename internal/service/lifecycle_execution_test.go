package service

import (
	"context"
	"encoding/json"
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

// TestCancelRunningLifecycleExecution: a cancel that arrives while an
// execution is running stops it before its next image: CANCELLING, then
// CANCELLED, the images not reached untouched and their resources SKIPPED.
func TestCancelRunningLifecycleExecution(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	svc := newWorkflowTestService(t, now)
	const account = "111122223333"
	var images []string
	err := svc.update(ctx, func(tx store.Tx) error {
		for b := 1; b <= 2; b++ {
			a := "arn:aws:imagebuilder:us-east-1:" + account + ":image/r/1.0.0/" + string(rune('0'+b))
			doc, _ := json.Marshal(awsapi.Image{Arn: a, Name: "r", Version: "1.0.0", Type: awsapi.ImageTypeAmi,
				State: &awsapi.ImageState{Status: awsapi.ImageStatusAvailable}})
			if err := tx.Insert(ctx, store.Resource{ARN: a, Kind: kindImage, Account: account, Region: svc.Region, Name: "r",
				Version: "1.0.0", Build: b, Doc: doc, Created: now, Updated: now}); err != nil {
				return err
			}
			images = append(images, a)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var e lifecycleExecution
	err = svc.update(ctx, func(tx store.Tx) (err error) {
		e, err = svc.beginLifecycle(ctx, tx, account, "arn:aws:imagebuilder:us-east-1:"+account+":lifecycle-policy/p", lifecycleExecution{
			Actions: []lifecycleAction{{Image: images[0], Action: "DELETE", Reason: "r"}, {Image: images[1], Action: "DELETE", Reason: "r"}},
		}, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CancelLifecycleExecution(ctx, account, &awsapi.CancelLifecycleExecutionRequest{LifecycleExecutionId: e.LifecycleExecutionId, ClientToken: "c"}); err != nil {
		t.Fatal(err)
	}
	got, _ := svc.GetLifecycleExecution(ctx, account, &awsapi.GetLifecycleExecutionRequest{LifecycleExecutionId: e.LifecycleExecutionId})
	if st := got.LifecycleExecution.State.Status; st != awsapi.LifecycleExecutionStatusCancelling {
		t.Fatalf("after the cancel: %s", st)
	}
	done, err := svc.performLifecycle(ctx, account, e.LifecycleExecutionId)
	if err != nil || done.State.Status != awsapi.LifecycleExecutionStatusCancelled {
		t.Fatalf("performed: %+v %v", done.State, err)
	}
	res, err := svc.ListLifecycleExecutionResources(ctx, account, &awsapi.ListLifecycleExecutionResourcesRequest{LifecycleExecutionId: e.LifecycleExecutionId})
	if err != nil || len(res.Resources) != 2 {
		t.Fatalf("resources: %+v %v", res, err)
	}
	for _, r := range res.Resources {
		if r.State.Status != awsapi.LifecycleExecutionResourceStatusSkipped {
			t.Errorf("%s: %+v", r.ResourceId, r.State)
		}
	}
	for _, a := range images {
		img, err := svc.GetImage(ctx, account, &awsapi.GetImageRequest{ImageBuildVersionArn: a})
		if err != nil || img.Image.State.Status != awsapi.ImageStatusAvailable {
			t.Errorf("%s after the cancelled execution: %+v %v", a, img, err)
		}
	}
	if _, err := svc.CancelLifecycleExecution(ctx, account, &awsapi.CancelLifecycleExecutionRequest{LifecycleExecutionId: e.LifecycleExecutionId, ClientToken: "c2"}); errCode(err) != awsapi.ErrCodeResourceInUseException {
		t.Errorf("cancelling a cancelled execution: %v", err)
	}
	if _, err := svc.CancelLifecycleExecution(ctx, "999988887777", &awsapi.CancelLifecycleExecutionRequest{LifecycleExecutionId: e.LifecycleExecutionId, ClientToken: "c3"}); errCode(err) != awsapi.ErrCodeResourceNotFoundException {
		t.Errorf("another account's cancel: %v", err)
	}
}
