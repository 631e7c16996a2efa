package engine

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

func TestJobFinalState(t *testing.T) {
	dist := &DistributionSpec{}
	cases := []struct {
		name         string
		distribution *DistributionSpec
		status       string
		reason       string
		wantStatus   string
		wantReason   string
	}{
		{"build available", nil, awsapi.ImageStatusAvailable, "", awsapi.ImageStatusAvailable, ""},
		{"build failed", nil, awsapi.ImageStatusFailed, "boom", awsapi.ImageStatusFailed, "boom"},
		{"build cancelled", nil, awsapi.ImageStatusCancelled, "asked", awsapi.ImageStatusCancelled, "asked"},
		{"distribution done", dist, awsapi.ImageStatusAvailable, "", awsapi.ImageStatusAvailable, ""},
		{"distribution failed", dist, awsapi.ImageStatusFailed, "no disk", awsapi.ImageStatusAvailable, "The last DistributeImage failed: no disk"},
		{"distribution cancelled", dist, awsapi.ImageStatusCancelled, "asked", awsapi.ImageStatusAvailable, "The last DistributeImage was cancelled."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := Job{Spec: Spec{Distribution: tc.distribution}}
			status, reason := j.finalState(tc.status, tc.reason)
			if status != tc.wantStatus || reason != tc.wantReason {
				t.Fatalf("finalState(%s, %q) = %s, %q; want %s, %q", tc.status, tc.reason, status, reason, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

func TestMergeAmis(t *testing.T) {
	a := func(ids ...string) []awsapi.Ami {
		var out []awsapi.Ami
		for _, id := range ids {
			out = append(out, awsapi.Ami{Image: id})
		}
		return out
	}
	ids := func(amis []awsapi.Ami) []string {
		var out []string
		for _, x := range amis {
			out = append(out, x.Image)
		}
		return out
	}
	cases := []struct {
		name           string
		have           *awsapi.OutputResources
		added          []awsapi.Ami
		redistribution bool
		want           []string
	}{
		{"build replaces", &awsapi.OutputResources{Amis: a("ami-old")}, a("ami-new"), false, []string{"ami-new"}},
		{"distribution adds", &awsapi.OutputResources{Amis: a("ami-old")}, a("ami-new"), true, []string{"ami-old", "ami-new"}},
		{"distribution onto nothing", nil, a("ami-new"), true, []string{"ami-new"}},
		{"no id twice", &awsapi.OutputResources{Amis: a("ami-1", "ami-2")}, a("ami-2", "ami-3"), true, []string{"ami-1", "ami-2", "ami-3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(mergeAmis(tc.have, tc.added, tc.redistribution)); !slices.Equal(got, tc.want) {
				t.Fatalf("mergeAmis = %v, want %v", got, tc.want)
			}
		})
	}
}

// redistributor is a stubExecutor that can also open a built image; its
// steps fail with stepErr.
type redistributor struct {
	stubExecutor
	stepErr error
	actions []string
}

type redistributing struct{ x *redistributor }

func (x *redistributor) OpenBuilt(ctx context.Context, b *Build) (Instance, error) {
	return redistributing{x}, nil
}

func (i redistributing) Do(ctx context.Context, s *Step) error {
	i.x.mu.Lock()
	i.x.actions = append(i.x.actions, s.Workflow+"/"+s.Action)
	i.x.mu.Unlock()
	return i.x.stepErr
}

func (i redistributing) Close(keep bool) error { return nil }

// TestRunDistributionJobs runs DistributeImage jobs through the engine
// with stand-in executors: only the distribution workflow runs, it is
// recorded after what the image ran before, and the image ends AVAILABLE
// whatever happened, with the failure as its reason.
func TestRunDistributionJobs(t *testing.T) {
	t.Parallel()
	const wfARN = "arn:aws:imagebuilder:us-east-1:aws:workflow/distribution/distribute-image/1.0.0/1"
	wfDoc, _ := json.Marshal(awsapi.Workflow{Arn: wfARN, Type: awsapi.WorkflowTypeDistribution,
		Data: "name: distribute-image\nschemaVersion: 1.0\nsteps:\n  - name: DistributeOutputImage\n    action: DistributeImage\n    onFailure: Abort\n"})
	tests := []struct {
		name       string
		exec       Executor
		wantReason string
		wantExec   string // the new execution's status; "" for none
		wantRan    []string
	}{
		{"distributed", &redistributor{}, "", awsapi.WorkflowExecutionStatusCompleted, []string{"DISTRIBUTION/DistributeImage"}},
		{"step fails", &redistributor{stepErr: errors.New("no disk")}, "The last DistributeImage failed: Workflow distribute-image failed at step DistributeOutputImage: no disk",
			awsapi.WorkflowExecutionStatusFailed, []string{"DISTRIBUTION/DistributeImage"}},
		{"executor cannot", &stubExecutor{}, "cannot distribute images of type AMI again", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st, clock := openStore(t), newClock()
			image := imageARN(1)
			doc, _ := json.Marshal(awsapi.Image{Arn: image, Type: awsapi.ImageTypeAmi, State: &awsapi.ImageState{Status: awsapi.ImageStatusAvailable}})
			img := store.Resource{ARN: image, Kind: "image", Account: "111122223333", Region: testRegion, Name: "img", Version: "1.0.0", Build: 1, Doc: doc}
			e := &Engine{Store: st, Region: testRegion, Now: clock.Now, DataDir: t.TempDir(),
				Executors: map[string]Executor{awsapi.ImageTypeAmi: tt.exec}, Poll: 10 * time.Millisecond}
			e.init()
			// The build's own execution, to be listed before the distribution's.
			built := WorkflowExecution{GetWorkflowExecutionResponse: awsapi.GetWorkflowExecutionResponse{
				WorkflowExecutionId: "wf-build", ImageBuildVersionArn: image, Type: awsapi.WorkflowTypeBuild,
				Status: awsapi.WorkflowExecutionStatusCompleted}, Seq: 102}
			err := st.Update(ctx, func(tx store.Tx) error {
				if err := tx.Insert(ctx, img); err != nil {
					return err
				}
				if err := tx.Insert(ctx, store.Resource{ARN: wfARN, Kind: "workflow/distribution", Account: "aws", Region: testRegion, Doc: wfDoc}); err != nil {
					return err
				}
				if err := e.putExecution(ctx, tx, built, true); err != nil {
					return err
				}
				return EnqueueDistribution(ctx, tx, img, "111122223333", Spec{
					Workflows:    []WorkflowRef{{ARN: wfARN, Type: awsapi.WorkflowTypeDistribution}},
					Distribution: &DistributionSpec{Configuration: awsapi.DistributionConfiguration{Arn: "dc"}},
				}, clock.Now())
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := imageStatus(t, st, image); got != awsapi.ImageStatusDistributing {
				t.Fatalf("queued distribution: image %s", got)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); e.Run(runCtx) }()
			e.Wake()
			deadline := time.Now().Add(time.Minute) // a fail-safe, not a measure
			for {
				if _, err := job(t, st, image); errors.Is(err, store.ErrNotFound) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the distribution job never finished")
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			<-done
			r, _ := st.Get(ctx, image)
			got, _ := decode[awsapi.Image](r)
			if got.State.Status != awsapi.ImageStatusAvailable || !strings.Contains(got.State.Reason, tt.wantReason) || (tt.wantReason == "" && got.State.Reason != "") {
				t.Errorf("image %+v, want AVAILABLE (%q)", got.State, tt.wantReason)
			}
			var execs []WorkflowExecution
			st.View(ctx, func(tx store.Tx) error { execs, err = WorkflowExecutions(ctx, tx, testRegion, image); return err })
			switch {
			case tt.wantExec == "" && len(execs) != 1:
				t.Errorf("executions %+v, want the build's only", execs)
			case tt.wantExec != "" && (len(execs) != 2 || execs[0].WorkflowExecutionId != "wf-build" ||
				execs[1].Type != awsapi.WorkflowTypeDistribution || execs[1].Status != tt.wantExec):
				t.Errorf("executions %+v, want the build's then a %s distribution", execs, tt.wantExec)
			}
			if r, ok := tt.exec.(*redistributor); ok && !slices.Equal(r.actions, tt.wantRan) {
				t.Errorf("ran %v, want %v", r.actions, tt.wantRan)
			}
		})
	}
}
