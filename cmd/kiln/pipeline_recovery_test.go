package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/service"
)

// recoverySleep is the slow component's sleep, in seconds: long enough
// that kiln can be killed while the build runs, and a number no other test
// sleeps for, so the test can tell its step is running.
const recoverySleep = "7"

// TestPipelineSurvivesKill is the durable-recovery test of scheduled
// pipelines. A per-minute pipeline's first tick comes due while kiln is
// killed (SIGKILL, as a crash): at the restart the tick fires once. The
// build it started is then killed in the middle of a slow step: after the
// second restart the build runs to AVAILABLE, once, and the tick is not
// fired again. Each run is read back with `kiln pipeline runs --json` and
// ListImagePipelineImages. kiln runs on a test clock, which the test moves
// past the tick instead of waiting for it; wall time is two builds of a
// few seconds.
func TestPipelineSurvivesKill(t *testing.T) {
	t.Parallel()
	// Start kiln's clock 10 s into a minute: the first tick is then ~50 s
	// away, room to kill kiln before it comes due.
	clock := kilntest.NewClock(t)
	if err := clock.SetNow(time.Now().Truncate(time.Minute).Add(time.Minute + 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	f := newClockedBuildFixture(t, clock, true)
	comp := f.component(t, "slow-step", slowComponent("slow-step", recoverySleep))
	recipe := f.recipe(t, "recovery", minimalTemplate, types.ComponentConfiguration{ComponentArn: aws.String(comp)})

	ctx := kilntest.Context(t)
	created, err := f.client.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("recovery"), ContainerRecipeArn: aws.String(recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
		Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(* * * * ? *)"),
			PipelineExecutionStartCondition: types.PipelineExecutionStartConditionExpressionMatchOnly},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipeline := aws.ToString(created.ImagePipelineArn)
	got, err := f.client.GetImagePipeline(ctx, &imagebuilder.GetImagePipelineInput{ImagePipelineArn: aws.String(pipeline)})
	if err != nil {
		t.Fatal(err)
	}
	due, err := time.Parse(time.RFC3339Nano, aws.ToString(got.ImagePipeline.DateNextRun))
	if err != nil {
		t.Fatalf("dateNextRun %q: %v", aws.ToString(got.ImagePipeline.DateNextRun), err)
	}
	if wait := due.Sub(clock.Now()); wait < 3*time.Second || wait > time.Minute {
		t.Fatalf("dateNextRun %s is %s away, want the next minute", due, wait)
	}

	// 1. The tick is merely due: kiln is down when it comes.
	f.srv.Kill()
	if err := clock.SetNow(due.Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	restarted := clock.Now()
	f.srv.Restart()
	f.client = f.srv.Client(kilntest.DefaultCreds)

	var first service.PipelineRun
	waitFor(t, 30*time.Second, "the missed tick to fire", func() bool {
		runs := scheduledRuns(t, f, pipeline)
		if len(runs) == 0 {
			return false
		}
		first = runs[0]
		return true
	})
	if first.DueAt != formatDue(due) || first.Missed != 0 || first.Outcome != service.RunBuilt || first.Image == "" {
		t.Fatalf("the missed tick's run = %+v, want due %s, built", first, formatDue(due))
	}
	if at, err := time.Parse(time.RFC3339Nano, first.At); err != nil || at.Before(restarted.Truncate(time.Millisecond)) {
		t.Errorf("the missed tick ran at %s, before the restart at %s", first.At, restarted.UTC())
	}
	image := first.Image

	// 2. The tick's build is running: kill kiln in the middle of its step.
	f.waitImage(t, image, time.Minute, types.ImageStatusBuilding)
	waitFor(t, 30*time.Second, "the slow step to start", func() bool { return sleeping(recoverySleep) })
	f.srv.Kill()
	// The kernel kills the sandbox right after kiln dies (its init's
	// parent-death signal, then the whole PID namespace).
	waitFor(t, 10*time.Second, "the build's processes to die with kiln", func() bool { return !sleeping(recoverySleep) })
	f.srv.Restart()
	f.client = f.srv.Client(kilntest.DefaultCreds)
	img := f.waitImage(t, image, 2*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("after the restart the image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
	}
	if img.BuildType != types.BuildTypeScheduled || aws.ToString(img.SourcePipelineArn) != pipeline {
		t.Errorf("image buildType %s, sourcePipelineArn %s", img.BuildType, aws.ToString(img.SourcePipelineArn))
	}

	// Each tick ran once: the tick that came due while kiln was down
	// has one run, and neither restart fired it again. (The next minute's
	// tick may have come meanwhile; it is a run of its own.)
	runs := scheduledRuns(t, f, pipeline)
	for _, r := range runs {
		t.Logf("run %d: due %s (missed %d), at %s, %s %s %s", r.Sequence, r.DueAt, r.Missed, r.At, r.Outcome, r.Image, r.Reason)
	}
	var dues []string
	for _, r := range runs {
		if slices.Contains(dues, r.DueAt) {
			t.Errorf("tick %s ran twice: %+v", r.DueAt, runs)
		}
		dues = append(dues, r.DueAt)
		if r.DueAt != first.DueAt && r.Image == image {
			t.Errorf("run %+v claims the first tick's image", r)
		}
	}
	if len(runs) == 0 || runs[0].Sequence != first.Sequence || runs[0].Image != image {
		t.Errorf("runs after the second restart = %+v, want %+v first", runs, first)
	}

	// Every image the pipeline built is listed once and ends in a final
	// state; none is left BUILDING by the kills.
	list, err := f.client.ListImagePipelineImages(kilntest.Context(t), &imagebuilder.ListImagePipelineImagesInput{ImagePipelineArn: aws.String(pipeline)})
	if err != nil {
		t.Fatal(err)
	}
	var images []string
	for _, s := range list.ImageSummaryList {
		arn := aws.ToString(s.Arn)
		if slices.Contains(images, arn) {
			t.Errorf("ListImagePipelineImages lists %s twice", arn)
		}
		images = append(images, arn)
	}
	if len(images) == 0 || images[0] != image {
		t.Fatalf("ListImagePipelineImages = %v, want %s first", images, image)
	}
	built := 0
	for _, r := range scheduledRuns(t, f, pipeline) {
		if r.Outcome == service.RunBuilt {
			built++
			if !slices.Contains(images, r.Image) {
				t.Errorf("run %d built %s, which ListImagePipelineImages does not list", r.Sequence, r.Image)
			}
		}
	}
	if built != len(images) {
		t.Errorf("%d runs built an image but the pipeline has %d images: %v", built, len(images), images)
	}
	for _, arn := range images[1:] {
		img := f.waitImage(t, arn, 2*time.Minute)
		if img.State.Status != types.ImageStatusAvailable {
			t.Errorf("image %s is %s: %s", arn, img.State.Status, aws.ToString(img.State.Reason))
		}
	}
}

// scheduledRuns reads a pipeline's SCHEDULED runs with `kiln pipeline runs
// --json`, oldest first.
func scheduledRuns(t *testing.T, f *buildFixture, pipeline string) []service.PipelineRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run([]string{"pipeline", "runs", "--endpoint", f.srv.URL, "--json", pipeline}, &stdout, &stderr); code != 0 {
		t.Fatalf("kiln pipeline runs: exit %d: %s", code, stderr.String())
	}
	var resp kilnapi.PipelineRunsResponse
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	var out []service.PipelineRun
	for _, r := range resp.Runs {
		if r.Trigger == string(types.BuildTypeScheduled) {
			out = append(out, r)
		}
	}
	return out
}

// formatDue is a due time as run records write it.
func formatDue(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
