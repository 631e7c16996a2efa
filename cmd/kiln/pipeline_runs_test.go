package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/service"
)

func TestWriteRuns(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	writeRuns(&b, []service.PipelineRun{
		{Sequence: 1, At: "2026-03-28T11:00:00.000Z", Trigger: "SCHEDULED", DueAt: "2026-03-28T11:00:00.000Z", Outcome: service.RunBuilt, Image: "arn:img/1"},
		{Sequence: 2, At: "2026-03-28T12:00:00.000Z", Trigger: "SCHEDULED", DueAt: "2026-03-28T12:00:00.000Z", Missed: 2, Outcome: service.RunSkipped, Reason: "still BUILDING"},
		{Sequence: 3, At: "2026-03-28T12:05:00.000Z", Trigger: "USER_INITIATED", Outcome: service.RunBuilt, Image: "arn:img/2", Reason: "dependency updates: x"},
	})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		"RUN  AT                        TRIGGER         DUE                                   OUTCOME  DETAIL",
		"1    2026-03-28T11:00:00.000Z  SCHEDULED       2026-03-28T11:00:00.000Z              BUILT    arn:img/1",
		"2    2026-03-28T12:00:00.000Z  SCHEDULED       2026-03-28T12:00:00.000Z (+2 missed)  SKIPPED  still BUILDING",
		"3    2026-03-28T12:05:00.000Z  USER_INITIATED  -                                     BUILT    arn:img/2 (dependency updates: x)",
	}
	if len(lines) != len(want) {
		t.Fatalf("got\n%s", b.String())
	}
	for i := range want {
		if strings.TrimRight(lines[i], " ") != want[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], want[i])
		}
	}
}

// TestPipelineRuns runs a pipeline by hand and on a per-minute schedule
// against a real kiln, and reads the runs back with `kiln pipeline runs`.
// kiln runs on a test clock, which the test moves to the next minute to
// bring the schedule due.
func TestPipelineRuns(t *testing.T) {
	t.Parallel()
	clock := kilntest.NewClock(t)
	srv := kilntest.StartEnv(t, []string{clock.Env()})
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	g := buildPipelineGraph(t, c, "runs")
	// A container recipe: its build is queued at once (and, with no
	// registry to pull the parent from, fails soon after).
	recipe, err := c.CreateContainerRecipe(ctx, containerRecipeInput("runs-recipe", "1.0.0", g.component))
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("runs"), ContainerRecipeArn: recipe.ContainerRecipeArn, InfrastructureConfigurationArn: aws.String(g.infra),
		Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(* * * * ? *)"),
			PipelineExecutionStartCondition: types.PipelineExecutionStartConditionExpressionMatchOnly},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := aws.ToString(created.ImagePipelineArn)

	start := &imagebuilder.StartImagePipelineExecutionInput{ImagePipelineArn: aws.String(p), ClientToken: aws.String("run-1")}
	out, err := c.StartImagePipelineExecution(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	image := aws.ToString(out.ImageBuildVersionArn)
	if !strings.Contains(image, ":image/runs-recipe/1.0.0/") {
		t.Errorf("StartImagePipelineExecution built %s", image)
	}
	again, err := c.StartImagePipelineExecution(ctx, start)
	if err != nil || aws.ToString(again.ImageBuildVersionArn) != image {
		t.Errorf("repeat with the same clientToken = %v, %v", again, err)
	}
	list, err := c.ListImagePipelineImages(ctx, &imagebuilder.ListImagePipelineImagesInput{ImagePipelineArn: aws.String(p)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.ImageSummaryList) < 1 || aws.ToString(list.ImageSummaryList[0].Arn) != image ||
		list.ImageSummaryList[0].BuildType != types.BuildTypeUserInitiated {
		t.Errorf("ListImagePipelineImages = %+v", list.ImageSummaryList)
	}

	runsOf := func() []service.PipelineRun {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"pipeline", "runs", "--endpoint", srv.URL, "--json", p}, &stdout, &stderr); code != 0 {
			t.Fatalf("kiln pipeline runs: exit %d: %s", code, stderr.String())
		}
		var resp kilnapi.PipelineRunsResponse
		if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Runs
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"pipeline", "runs", "--endpoint", srv.URL, p}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "USER_INITIATED") || !strings.Contains(stdout.String(), image) {
		t.Errorf("kiln pipeline runs: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if code := run([]string{"pipeline", "runs", "--endpoint", srv.URL, p + "-gone"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "ResourceNotFoundException") {
		t.Errorf("runs of an unknown pipeline: exit %d: %s", code, stderr.String())
	}

	if err := clock.SetNow(clock.Now().Truncate(time.Minute).Add(time.Minute + time.Second)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs := runsOf()
		var scheduled []service.PipelineRun
		for _, r := range rs {
			if r.Trigger == "SCHEDULED" {
				scheduled = append(scheduled, r)
			}
		}
		if len(scheduled) > 0 {
			r := scheduled[0]
			// The manual build may still be going: then the tick is skipped,
			// saying so; otherwise it builds.
			if r.Outcome == service.RunSkipped && !strings.Contains(r.Reason, image) || r.Outcome == service.RunFailed {
				t.Errorf("scheduled run = %+v", r)
			}
			if !strings.HasSuffix(r.DueAt, ":00.000Z") {
				t.Errorf("scheduled run due at %s, not on a minute", r.DueAt)
			}
			if !strings.Contains(srv.Log(), "pipeline run") {
				t.Errorf("the server log does not mention the run:\n%s", srv.Log())
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no scheduled run within 30 s of the clock passing the minute; runs %+v\nlog:\n%s", rs, srv.Log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	got, err := c.GetImagePipeline(ctx, &imagebuilder.GetImagePipelineInput{ImagePipelineArn: aws.String(p)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(got.ImagePipeline.DateLastRun) == "" || aws.ToString(got.ImagePipeline.DateNextRun) == "" {
		t.Errorf("dateLastRun %q, dateNextRun %q", aws.ToString(got.ImagePipeline.DateLastRun), aws.ToString(got.ImagePipeline.DateNextRun))
	}
}
