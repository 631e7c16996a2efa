package service

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// wakeCounter stands in for the scheduler: it counts Wake calls.
type wakeCounter struct{ n atomic.Int32 }

func (w *wakeCounter) Wake() { w.n.Add(1) }

// TestPipelineChangesWakeSchedules: every pipeline change that commits
// tells Schedules, so the scheduler picks it up at once; a refused change,
// a read, or a change to another kind of resource does not.
func TestPipelineChangesWakeSchedules(t *testing.T) {
	ctx := context.Background()
	s := newWorkflowTestService(t, time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC))
	seedPipelineDeps(t, s)
	woken := &wakeCounter{}
	s.Schedules = woken
	const pipeline = "arn:aws:imagebuilder:us-east-1:111122223333:image-pipeline/nightly"
	create := &awsapi.CreateImagePipelineRequest{Name: "nightly", ImageRecipeArn: testRecipe,
		InfrastructureConfigurationArn: testInfra, ClientToken: "c1",
		Schedule: &awsapi.Schedule{ScheduleExpression: "cron(0 9 * * ? *)"}}
	update := &awsapi.UpdateImagePipelineRequest{ImagePipelineArn: pipeline, ImageRecipeArn: testRecipe,
		InfrastructureConfigurationArn: testInfra, ClientToken: "u1",
		Schedule: &awsapi.Schedule{ScheduleExpression: "rate(1 hour)"}}
	steps := []struct {
		name     string
		call     func() error
		wantCode string
		wake     bool
	}{
		{"create", func() error { _, err := s.CreateImagePipeline(ctx, testAccount, create); return err }, "", true},
		{"create with a taken name", func() error {
			dup := *create
			dup.ClientToken = "c2"
			_, err := s.CreateImagePipeline(ctx, testAccount, &dup)
			return err
		}, awsapi.ErrCodeResourceAlreadyExistsException, false},
		{"get", func() error {
			_, err := s.GetImagePipeline(ctx, testAccount, &awsapi.GetImagePipelineRequest{ImagePipelineArn: pipeline})
			return err
		}, "", false},
		{"update", func() error { _, err := s.UpdateImagePipeline(ctx, testAccount, update); return err }, "", true},
		{"update to a bad schedule", func() error {
			bad := *update
			bad.ClientToken, bad.Schedule = "u2", &awsapi.Schedule{ScheduleExpression: "cron(0 24 * * ? *)"}
			_, err := s.UpdateImagePipeline(ctx, testAccount, &bad)
			return err
		}, awsapi.ErrCodeInvalidParameterValueException, false},
		{"update by another account", func() error {
			other := *update
			other.ClientToken = "u3"
			_, err := s.UpdateImagePipeline(ctx, "444455556666", &other)
			return err
		}, awsapi.ErrCodeResourceNotFoundException, false},
		{"delete", func() error {
			_, err := s.DeleteImagePipeline(ctx, testAccount, &awsapi.DeleteImagePipelineRequest{ImagePipelineArn: pipeline})
			return err
		}, "", true},
		{"delete again", func() error {
			_, err := s.DeleteImagePipeline(ctx, testAccount, &awsapi.DeleteImagePipelineRequest{ImagePipelineArn: pipeline})
			return err
		}, awsapi.ErrCodeResourceNotFoundException, false},
	}
	for _, st := range steps {
		before := woken.n.Load()
		err := st.call()
		if got := errCode(err); got != st.wantCode {
			t.Fatalf("%s: error %v, want code %q", st.name, err, st.wantCode)
		}
		if woke := woken.n.Load() > before; woke != st.wake {
			t.Errorf("%s: woke the scheduler = %v, want %v", st.name, woke, st.wake)
		}
	}
}
