package lifecycle_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/kilntest"
)

const day = 24 * time.Hour

// importAMIs imports the bootable busybox root tarball n times (no VM
// boots: an import makes the disk and registers an AMI), 20 days apart by
// kiln's clock, tagged team=a; it returns the images oldest first and
// their AMI IDs.
func (f *fixture) importAMIs(t *testing.T, dir string, n int) (arns, amis []string) {
	t.Helper()
	tarball := kilntest.BootableRootTarball(t, dir)
	for i := range n {
		if i > 0 {
			f.advance(t, 20*day)
		}
		out, err := f.client.ImportDiskImage(ctx(t), &imagebuilder.ImportDiskImageInput{
			Name: aws.String("debian-busybox"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
			OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(f.infra),
			Uri: aws.String("file://" + tarball), Tags: map[string]string{"team": "a"},
		})
		if err != nil {
			t.Fatalf("ImportDiskImage: %v", err)
		}
		img := f.wait(t, *out.ImageBuildVersionArn)
		arns = append(arns, *out.ImageBuildVersionArn)
		amis = append(amis, aws.ToString(img.OutputResources.Amis[0].Image))
	}
	return arns, amis
}

// catalogue is kiln's AMI catalogue as the owner sees it (its disabled
// AMIs included), by ID.
func (f *fixture) catalogue(t *testing.T) map[string]ami.AMI {
	t.Helper()
	resp := f.srv.Raw(t, kilntest.DefaultCreds, "GET", "/kiln/v1/amis", nil)
	var list []ami.AMI
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		t.Fatalf("GET /kiln/v1/amis: %d %s", resp.Status, resp.Body)
	}
	out := map[string]ami.AMI{}
	for _, a := range list {
		out[a.ImageID] = a
	}
	return out
}

func (f *fixture) disks(t *testing.T) int {
	t.Helper()
	list, _ := filepath.Glob(filepath.Join(f.srv.DataDir, "disks", "*.raw"))
	return len(list)
}

// waitRuns waits until the policy has n executions, all ended, and
// returns the last.
func (f *fixture) waitRuns(t *testing.T, policy string, n int) types.LifecycleExecution {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		out, err := f.client.ListLifecycleExecutions(ctx(t), &imagebuilder.ListLifecycleExecutionsInput{ResourceArn: aws.String(policy)})
		if err != nil {
			t.Fatal(err)
		}
		if l := out.LifecycleExecutions; len(l) >= n && l[len(l)-1].EndTime != nil {
			if len(l) > n {
				t.Fatalf("the policy ran %d times, want %d", len(l), n)
			}
			return l[n-1]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the policy did not run a %dth time\n%s", n, f.srv.Log())
	return types.LifecycleExecution{}
}

// TestAMIAgeRules: an AMI_IMAGE policy selecting images by tag, with
// DEPRECATE (AGE 10 days, retaining at least 2), DISABLE (AGE 30 days) and
// DELETE (AGE 35 days, AMIs and snapshots included), run by kiln serve's
// periodic loop (--lifecycle-interval 1h) as the test clock moves. Of
// three imports aged 40, 20 and 0 days, only the oldest is acted on, one
// step per run: deprecated (its AMI deprecated and tagged), then
// disabled (its AMI launches for nobody), then deleted (its AMI
// deregistered, its disk freed). StartResourceStateUpdate then disables
// the middle one sparing its AMI by a region exclusion rule, restores it,
// and a scheduled (updateAt) update waits PENDING until the clock reaches
// it, or is cancelled.
func TestAMIAgeRules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := start(t, "--allow-import-dir", dir, "--lifecycle-interval", "1h")
	arns, amis := f.importAMIs(t, dir, 3)
	oldest, middle, newest := arns[0], arns[1], arns[2]
	if n := f.disks(t); n != 3 {
		t.Fatalf("%d disks after three imports", n)
	}

	amisOnly := &types.LifecyclePolicyDetailActionIncludeResources{Amis: true}
	pol, err := f.client.CreateLifecyclePolicy(ctx(t), &imagebuilder.CreateLifecyclePolicyInput{
		Name: aws.String("age-out"), ExecutionRole: aws.String("arn:aws:iam::000000000000:role/lifecycle"),
		ResourceType: types.LifecyclePolicyResourceTypeAmiImage,
		PolicyDetails: []types.LifecyclePolicyDetail{
			{
				Action: &types.LifecyclePolicyDetailAction{Type: types.LifecyclePolicyDetailActionTypeDelete,
					IncludeResources: &types.LifecyclePolicyDetailActionIncludeResources{Amis: true, Snapshots: true}},
				Filter: ageFilter(35),
			},
			{
				Action: &types.LifecyclePolicyDetailAction{Type: types.LifecyclePolicyDetailActionTypeDeprecate, IncludeResources: amisOnly},
				Filter: &types.LifecyclePolicyDetailFilter{Type: types.LifecyclePolicyDetailFilterTypeAge, Value: aws.Int32(10),
					Unit: types.LifecyclePolicyTimeUnitDays, RetainAtLeast: aws.Int32(2)},
			},
			{
				Action: &types.LifecyclePolicyDetailAction{Type: types.LifecyclePolicyDetailActionTypeDisable, IncludeResources: amisOnly},
				Filter: ageFilter(30),
			},
		},
		ResourceSelection: &types.LifecyclePolicyResourceSelection{TagMap: map[string]string{"team": "a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := *pol.LifecyclePolicyArn

	// Run 1: deprecate.
	f.advance(t, 61*time.Minute)
	run := f.waitRuns(t, policy, 1)
	if run.State.Status != types.LifecycleExecutionStatusSuccess {
		t.Fatalf("run 1: %+v", run.State)
	}
	img := f.image(t, oldest)
	if img.State.Status != types.ImageStatusDeprecated || img.DeprecationTime == nil {
		t.Fatalf("after run 1 the oldest is %s (deprecationTime %v)", img.State.Status, img.DeprecationTime)
	}
	for _, a := range []string{middle, newest} {
		if st := f.status(t, a); st != types.ImageStatusAvailable {
			t.Errorf("after run 1 %s is %s; retainAtLeast 2 keeps it", a, st)
		}
	}
	cat := f.catalogue(t)
	if m := cat[amis[0]]; m.DeprecationTime == nil || m.Tags["DeprecatedBy"] != "EC2 Image Builder" {
		t.Errorf("the oldest AMI after run 1: %+v", m)
	}
	res := f.resources(t, *run.LifecycleExecutionId, "")
	if r := resourceOf(t, res, oldest); r.Action.Name != types.LifecycleExecutionResourceActionNameDeprecate || r.State.Status != types.LifecycleExecutionResourceStatusSuccess {
		t.Errorf("run 1 resource: %+v %+v", r.Action, r.State)
	}
	if r := resourceOf(t, f.resources(t, *run.LifecycleExecutionId, oldest), amis[0]); r.State.Status != types.LifecycleExecutionResourceStatusSuccess {
		t.Errorf("run 1 AMI resource: %+v", r.State)
	}

	// Run 2: disable.
	f.advance(t, 61*time.Minute)
	run = f.waitRuns(t, policy, 2)
	if st := f.status(t, oldest); st != types.ImageStatusDisabled {
		t.Fatalf("after run 2 the oldest is %s", st)
	}
	if m := f.catalogue(t)[amis[0]]; !m.Disabled || m.Tags["DeprecatedBy"] != "" {
		t.Errorf("the oldest AMI after run 2: %+v", m)
	}
	if out, err := f.kiln(t, "ami", "export", amis[0], "--output", filepath.Join(t.TempDir(), "disk.raw")); err == nil {
		t.Errorf("a disabled AMI was exported:\n%s", out)
	}

	// Run 3: delete, with the AMI and its disk.
	f.advance(t, 61*time.Minute)
	run = f.waitRuns(t, policy, 3)
	if st := f.status(t, oldest); st != types.ImageStatusDeleted {
		t.Fatalf("after run 3 the oldest is %s", st)
	}
	if _, ok := f.catalogue(t)[amis[0]]; ok {
		t.Error("the deleted image's AMI is still registered")
	}
	if n := f.disks(t); n != 2 {
		t.Errorf("%d disks after the delete, want 2", n)
	}
	child := resourceOf(t, f.resources(t, *run.LifecycleExecutionId, oldest), amis[0])
	if len(child.Snapshots) != 1 || child.Snapshots[0].State.Status != types.LifecycleExecutionResourceStatusSuccess {
		t.Errorf("run 3 AMI resource snapshots: %+v", child.Snapshots)
	}
	for _, a := range []string{middle, newest} {
		if st := f.status(t, a); st != types.ImageStatusAvailable {
			t.Errorf("after run 3 %s is %s", a, st)
		}
	}

	// StartResourceStateUpdate with an AMI exclusion rule, then back.
	upd, err := f.client.StartResourceStateUpdate(ctx(t), &imagebuilder.StartResourceStateUpdateInput{
		ResourceArn: aws.String(middle), State: &types.ResourceState{Status: types.ResourceStatusDisabled}, ClientToken: aws.String("dis-1"),
		IncludeResources: &types.ResourceStateUpdateIncludeResources{Amis: true},
		ExclusionRules:   &types.ResourceStateUpdateExclusionRules{Amis: &types.LifecyclePolicyDetailExclusionRulesAmis{Regions: []string{"us-east-1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := f.status(t, middle); st != types.ImageStatusDisabled {
		t.Errorf("the middle image is %s after the state update", st)
	}
	if m := f.catalogue(t)[amis[1]]; m.Disabled {
		t.Error("the AMI the exclusion rule spares was disabled")
	}
	if r := resourceOf(t, f.resources(t, *upd.LifecycleExecutionId, middle), amis[1]); r.State.Status != types.LifecycleExecutionResourceStatusSkipped {
		t.Errorf("the spared AMI: %+v", r.State)
	}
	_, err = f.client.StartResourceStateUpdate(ctx(t), &imagebuilder.StartResourceStateUpdateInput{
		ResourceArn: aws.String(middle), State: &types.ResourceState{Status: types.ResourceStatusDeprecated}, ClientToken: aws.String("dep-1"),
	})
	expectCode(t, err, "InvalidRequestException", "DISABLED")
	if _, err := f.client.StartResourceStateUpdate(ctx(t), &imagebuilder.StartResourceStateUpdateInput{
		ResourceArn: aws.String(middle), State: &types.ResourceState{Status: types.ResourceStatusAvailable}, ClientToken: aws.String("av-1"),
		IncludeResources: &types.ResourceStateUpdateIncludeResources{Amis: true},
	}); err != nil {
		t.Fatal(err)
	}
	if st := f.status(t, middle); st != types.ImageStatusAvailable {
		t.Errorf("the middle image is %s after going back to AVAILABLE", st)
	}

	// updateAt: PENDING until the clock gets there; or cancelled.
	later := func(token string, in time.Duration) string {
		out, err := f.client.StartResourceStateUpdate(ctx(t), &imagebuilder.StartResourceStateUpdateInput{
			ResourceArn: aws.String(newest), State: &types.ResourceState{Status: types.ResourceStatusDeprecated}, ClientToken: aws.String(token),
			UpdateAt: aws.Time(f.clock.Now().Add(in)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return *out.LifecycleExecutionId
	}
	cancelled := later("later-1", 30*time.Minute)
	if _, err := f.client.CancelLifecycleExecution(ctx(t), &imagebuilder.CancelLifecycleExecutionInput{LifecycleExecutionId: aws.String(cancelled), ClientToken: aws.String("c-1")}); err != nil {
		t.Fatal(err)
	}
	pending := later("later-2", 30*time.Minute)
	got, err := f.client.GetLifecycleExecution(ctx(t), &imagebuilder.GetLifecycleExecutionInput{LifecycleExecutionId: aws.String(pending)})
	if err != nil || got.LifecycleExecution.State.Status != types.LifecycleExecutionStatusPending {
		t.Fatalf("a state update with updateAt in the future: %+v %v", got, err)
	}
	if st := f.status(t, newest); st != types.ImageStatusAvailable {
		t.Fatalf("the newest is %s before its updateAt", st)
	}
	f.advance(t, 31*time.Minute)
	deadline := time.Now().Add(time.Minute)
	for f.status(t, newest) != types.ImageStatusDeprecated {
		if time.Now().After(deadline) {
			t.Fatalf("the pending state update did not happen\n%s", f.srv.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err = f.client.GetLifecycleExecution(ctx(t), &imagebuilder.GetLifecycleExecutionInput{LifecycleExecutionId: aws.String(cancelled)})
	if err != nil || got.LifecycleExecution.State.Status != types.LifecycleExecutionStatusCancelled {
		t.Errorf("the cancelled update: %+v %v", got, err)
	}
}
