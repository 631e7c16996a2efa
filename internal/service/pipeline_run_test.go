package service

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

const (
	runRecipe = "arn:aws:imagebuilder:us-east-1:111122223333:container-recipe/runs/1.0.0"
	runComp   = "arn:aws:imagebuilder:us-east-1:111122223333:component/tool"
)

// runClock is a settable clock shared by the services of a test.
type runClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *runClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *runClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// newRunTest returns a service over a fresh store with a recipe whose one
// component is named with x.x.x (tool 1.0.0/1 exists), an infrastructure
// configuration, and a second service with its own connection to the
// same database (another kiln process).
func newRunTest(t *testing.T, clock *runClock) (*Service, *Service) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kiln.db")
	open := func() *Service {
		st, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return &Service{Store: st, Partition: "aws", Region: "us-east-1", TokenKey: []byte("test-key"), Now: clock.Now}
	}
	s := open()
	seedPipelineDeps(t, s)
	recipe := fmt.Sprintf(`{"arn":%q,"name":"runs","version":"1.0.0","platform":"Linux","containerType":"DOCKER","parentImage":"registry.example/debian:12","components":[{"componentArn":%q}]}`,
		runRecipe, runComp+"/x.x.x")
	ctx := context.Background()
	err := s.update(ctx, func(tx store.Tx) error {
		if err := tx.Insert(ctx, store.Resource{ARN: runRecipe, Kind: "container-recipe", Account: testAccount, Region: "us-east-1",
			Name: "runs", Version: "1.0.0", Doc: []byte(recipe)}); err != nil {
			return err
		}
		return insertComponent(ctx, tx, "1.0.0")
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, open()
}

func insertComponent(ctx context.Context, tx store.Tx, version string) error {
	return tx.Insert(ctx, store.Resource{ARN: runComp + "/" + version + "/1", Kind: "component", Account: testAccount, Region: "us-east-1",
		Name: "tool", Version: version, Build: 1, Doc: []byte(`{"platform":"Linux"}`)})
}

func createRunPipeline(t *testing.T, s *Service, name, expr, condition, status string) string {
	t.Helper()
	var sched *awsapi.Schedule
	if expr != "" {
		sched = &awsapi.Schedule{ScheduleExpression: expr, Timezone: "Europe/Berlin", PipelineExecutionStartCondition: condition}
	}
	out, err := s.CreateImagePipeline(context.Background(), testAccount, &awsapi.CreateImagePipelineRequest{
		Name: name, ContainerRecipeArn: "arn:aws:imagebuilder:us-east-1:111122223333:container-recipe/runs/x.x.x",
		InfrastructureConfigurationArn: testInfra, Schedule: sched, Status: status,
		ImageTags: map[string]string{"from": "pipeline"}, ClientToken: "create-" + name,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.ImagePipelineArn
}

// setImageStatus plays the build engine: it moves an image to status.
func setImageStatus(t *testing.T, s *Service, image, status string) {
	t.Helper()
	ctx := context.Background()
	err := s.update(ctx, func(tx store.Tx) error {
		r, err := tx.Get(ctx, image)
		if err != nil {
			return err
		}
		var img awsapi.Image
		if err := json.Unmarshal(r.Doc, &img); err != nil {
			return err
		}
		img.State = &awsapi.ImageState{Status: status}
		r.Doc, _ = json.Marshal(img)
		return tx.Put(ctx, r)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func runs(t *testing.T, s *Service, pipeline string) []PipelineRun {
	t.Helper()
	list, err := s.PipelineRuns(context.Background(), testAccount, pipeline)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestStartImagePipelineExecution(t *testing.T) {
	ctx := context.Background()
	clock := &runClock{now: time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)}
	s, _ := newRunTest(t, clock)
	p := createRunPipeline(t, s, "manual", "", "", "")

	start := func(token string, tags map[string]string) (string, error) {
		out, err := s.StartImagePipelineExecution(ctx, testAccount, &awsapi.StartImagePipelineExecutionRequest{
			ImagePipelineArn: p, ClientToken: token, Tags: tags})
		if err != nil {
			return "", err
		}
		return out.ImageBuildVersionArn, nil
	}
	first, err := start("t1", map[string]string{"run": "one"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:imagebuilder:us-east-1:111122223333:image/runs/1.0.0/1"; first != want {
		t.Errorf("first run built %s, want %s", first, want)
	}
	again, err := start("t1", map[string]string{"run": "one"})
	if err != nil || again != first {
		t.Errorf("repeat with the same token = %s, %v; want %s", again, err, first)
	}
	if _, err := start("t1", nil); errCode(err) != "IdempotentParameterMismatchException" {
		t.Errorf("same token, other parameters: %v", err)
	}
	// A second run while the first is still PENDING is allowed: the user asked.
	second, err := start("t2", nil)
	if err != nil || !strings.HasSuffix(second, "/1.0.0/2") {
		t.Fatalf("second run = %s, %v; want build 2", second, err)
	}
	if _, err := s.StartImagePipelineExecution(ctx, testAccount, &awsapi.StartImagePipelineExecutionRequest{
		ImagePipelineArn: p + "-gone", ClientToken: "t3"}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown pipeline: %v", err)
	}

	img, err := s.GetImage(ctx, testAccount, &awsapi.GetImageRequest{ImageBuildVersionArn: first})
	if err != nil {
		t.Fatal(err)
	}
	if i := img.Image; i.BuildType != awsapi.BuildTypeUserInitiated || i.SourcePipelineArn != p || i.SourcePipelineName != "manual" ||
		i.Tags["from"] != "pipeline" || i.Tags["run"] != "one" {
		t.Errorf("image = buildType %s, source %s/%s, tags %v", i.BuildType, i.SourcePipelineArn, i.SourcePipelineName, i.Tags)
	}
	got, err := s.GetImagePipeline(ctx, testAccount, &awsapi.GetImagePipelineRequest{ImagePipelineArn: p})
	if err != nil {
		t.Fatal(err)
	}
	if got.ImagePipeline.DateLastRun != "2026-03-28T12:00:00.000Z" {
		t.Errorf("dateLastRun = %q", got.ImagePipeline.DateLastRun)
	}
	rs := runs(t, s, p)
	if len(rs) != 2 || rs[0].Outcome != RunBuilt || rs[0].Image != first || rs[1].Image != second || rs[0].Trigger != awsapi.BuildTypeUserInitiated {
		t.Errorf("runs = %+v", rs)
	}

	// ListImagePipelineImages: only this pipeline's images, filtered and paged.
	other := createRunPipeline(t, s, "other", "", "", "")
	if _, err := s.StartImagePipelineExecution(ctx, testAccount, &awsapi.StartImagePipelineExecutionRequest{
		ImagePipelineArn: other, ClientToken: "t4"}); err != nil {
		t.Fatal(err)
	}
	list := func(in awsapi.ListImagePipelineImagesRequest) ([]string, string, error) {
		in.ImagePipelineArn = p
		out, err := s.ListImagePipelineImages(ctx, testAccount, &in)
		if err != nil {
			return nil, "", err
		}
		var arns []string
		for _, i := range out.ImageSummaryList {
			arns = append(arns, i.Arn)
		}
		return arns, out.NextToken, nil
	}
	one := int32(1)
	page1, next, err := list(awsapi.ListImagePipelineImagesRequest{MaxResults: &one})
	if err != nil || len(page1) != 1 || page1[0] != first || next == "" {
		t.Fatalf("page 1 = %v, %q, %v", page1, next, err)
	}
	page2, next, err := list(awsapi.ListImagePipelineImagesRequest{MaxResults: &one, NextToken: next})
	if err != nil || len(page2) != 1 || page2[0] != second {
		t.Fatalf("page 2 = %v, %q, %v", page2, next, err)
	}
	if next != "" {
		if page3, _, err := list(awsapi.ListImagePipelineImagesRequest{MaxResults: &one, NextToken: next}); err != nil || len(page3) != 0 {
			t.Errorf("page 3 = %v, %v", page3, err)
		}
	}
	for _, tt := range []struct {
		name   string
		filter awsapi.Filter
		want   int
		code   string
	}{
		{"name", awsapi.Filter{Name: "name", Values: []string{"runs"}}, 2, ""},
		{"other name", awsapi.Filter{Name: "name", Values: []string{"nope"}}, 0, ""},
		{"version", awsapi.Filter{Name: "version", Values: []string{"1.0.0"}}, 2, ""},
		{"unsupported", awsapi.Filter{Name: "platform", Values: []string{"Linux"}}, 0, "InvalidRequestException"},
	} {
		got, _, err := list(awsapi.ListImagePipelineImagesRequest{Filters: []awsapi.Filter{tt.filter}})
		if errCode(err) != tt.code || len(got) != tt.want {
			t.Errorf("%s: %v, %v", tt.name, got, err)
		}
	}
}

// tick advances the clock to at and fires the pipeline as the scheduler
// would, returning the next due time.
func tick(t *testing.T, s *Service, clock *runClock, p string, at time.Time) time.Time {
	t.Helper()
	clock.Set(at)
	next, err := s.Fire(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func TestScheduledRuns(t *testing.T) {
	ctx := context.Background()
	// 10:30 UTC = 11:30 in Berlin; the schedule fires at minute 0 of every hour.
	base := time.Date(2026, 3, 28, 10, 30, 0, 0, time.UTC)
	clock := &runClock{now: base}
	s, other := newRunTest(t, clock)
	p := createRunPipeline(t, s, "hourly", "cron(0 * * * ? *)", awsapi.PipelineExecutionStartConditionExpressionMatchAndDependencyUpdatesAvailable, "")
	off := createRunPipeline(t, s, "off", "cron(* * * * ? *)", "", awsapi.PipelineStatusDisabled)
	createRunPipeline(t, s, "unscheduled", "", "", "")

	due, err := s.Scheduled(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 1 || due[0].Pipeline != p || !due[0].At.Equal(base.Add(30*time.Minute)) {
		t.Fatalf("Scheduled = %+v; want only %s at 11:00", due, p)
	}
	h := func(hours float64) time.Time {
		return base.Add(30*time.Minute + time.Duration(hours*float64(time.Hour)))
	}

	// Not due yet: nothing happens.
	if next := tick(t, s, clock, p, h(-0.1)); !next.Equal(h(0)) || len(runs(t, s, p)) != 0 {
		t.Fatalf("early fire: next %v, runs %+v", next, runs(t, s, p))
	}
	// Due: the first run builds (no earlier image to compare with).
	if next := tick(t, s, clock, p, h(0)); !next.Equal(h(1)) {
		t.Errorf("next after the first tick = %v", next)
	}
	rs := runs(t, s, p)
	if len(rs) != 1 || rs[0].Outcome != RunBuilt || rs[0].Trigger != awsapi.BuildTypeScheduled || rs[0].DueAt != "2026-03-28T11:00:00.000Z" {
		t.Fatalf("first tick = %+v", rs)
	}
	first := rs[0].Image
	img, _ := s.GetImage(ctx, testAccount, &awsapi.GetImageRequest{ImageBuildVersionArn: first})
	if img.Image.BuildType != awsapi.BuildTypeScheduled {
		t.Errorf("buildType = %s", img.Image.BuildType)
	}
	// Another process firing the same tick finds nothing due.
	if next := tick(t, other, clock, p, h(0.01)); !next.Equal(h(1)) || len(runs(t, s, p)) != 1 {
		t.Errorf("second process: next %v, %d runs", next, len(runs(t, s, p)))
	}
	// Next hour: the first build is still PENDING, so the tick is skipped.
	tick(t, s, clock, p, h(1))
	if r := runs(t, s, p)[1]; r.Outcome != RunSkipped || !strings.Contains(r.Reason, first) || !strings.Contains(r.Reason, "PENDING") {
		t.Errorf("tick during a build = %+v", r)
	}
	// The build succeeds; nothing changed since, so the next tick skips.
	setImageStatus(t, s, first, awsapi.ImageStatusAvailable)
	tick(t, s, clock, p, h(2))
	if r := runs(t, s, p)[2]; r.Outcome != RunSkipped || !strings.Contains(r.Reason, "no dependency update") {
		t.Errorf("tick without updates = %+v", r)
	}
	// A newer component version is published: the x.x.x reference moves.
	if err := s.update(ctx, func(tx store.Tx) error { return insertComponent(ctx, tx, "1.1.0") }); err != nil {
		t.Fatal(err)
	}
	tick(t, s, clock, p, h(3))
	r := runs(t, s, p)[3]
	if r.Outcome != RunBuilt || !strings.HasSuffix(r.Image, "/1.0.0/2") || !strings.Contains(r.Reason, "1.1.0") {
		t.Errorf("tick after an update = %+v", r)
	}
	// kiln is down after the 14:00 UTC tick until 17:19 UTC: the ticks of
	// 15:00, 16:00 and 17:00 fire as one run, recorded as due at 15:00
	// with two more missed.
	setImageStatus(t, s, r.Image, awsapi.ImageStatusFailed)
	if err := s.update(ctx, func(tx store.Tx) error { return insertComponent(ctx, tx, "1.2.0") }); err != nil {
		t.Fatal(err)
	}
	next := tick(t, s, clock, p, h(6.33))
	rs = runs(t, s, p)
	if len(rs) != 5 || rs[4].Outcome != RunBuilt || rs[4].Missed != 2 || rs[4].DueAt != "2026-03-28T15:00:00.000Z" || !next.Equal(h(7)) {
		t.Errorf("after downtime: next %v, runs %+v", next, rs[4:])
	}
	got, _ := s.GetImagePipeline(ctx, testAccount, &awsapi.GetImagePipelineRequest{ImagePipelineArn: p})
	if got.ImagePipeline.DateLastRun != formatDateTime(h(6.33)) || got.ImagePipeline.DateNextRun != formatDateTime(h(7)) {
		t.Errorf("dateLastRun %s, dateNextRun %s", got.ImagePipeline.DateLastRun, got.ImagePipeline.DateNextRun)
	}

	// DISABLED never fires, even when asked.
	if next := tick(t, s, clock, off, h(8)); !next.IsZero() || len(runs(t, s, off)) != 0 {
		t.Errorf("disabled pipeline fired: next %v, runs %+v", next, runs(t, s, off))
	}
}

func TestScheduledExpressionMatchOnly(t *testing.T) {
	base := time.Date(2026, 3, 28, 10, 30, 0, 0, time.UTC)
	clock := &runClock{now: base}
	s, _ := newRunTest(t, clock)
	p := createRunPipeline(t, s, "always", "rate(1 hour)", awsapi.PipelineExecutionStartConditionExpressionMatchOnly, "")
	for i := 1; i <= 3; i++ {
		tick(t, s, clock, p, base.Add(time.Duration(i)*time.Hour))
		rs := runs(t, s, p)
		if len(rs) != i || rs[i-1].Outcome != RunBuilt {
			t.Fatalf("tick %d: %+v", i, rs)
		}
		setImageStatus(t, s, rs[i-1].Image, awsapi.ImageStatusAvailable)
	}
}

func TestScheduledRunFailsCleanly(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2026, 3, 28, 10, 30, 0, 0, time.UTC)
	clock := &runClock{now: base}
	s, _ := newRunTest(t, clock)
	p := createRunPipeline(t, s, "broken", "rate(1 hour)", awsapi.PipelineExecutionStartConditionExpressionMatchOnly, "")
	// The component disappears: the tick is recorded as FAILED, with why.
	if err := s.update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, runComp+"/1.0.0/1") }); err != nil {
		t.Fatal(err)
	}
	if next := tick(t, s, clock, p, base.Add(time.Hour)); !next.Equal(base.Add(2 * time.Hour)) {
		t.Errorf("next = %v", next)
	}
	rs := runs(t, s, p)
	if len(rs) != 1 || rs[0].Outcome != RunFailed || !strings.Contains(rs[0].Reason, "component") {
		t.Errorf("runs = %+v", rs)
	}
}

// TestFireOnceAcrossProcesses fires one due tick from many goroutines of
// two services sharing a store: exactly one run is recorded.
func TestFireOnceAcrossProcesses(t *testing.T) {
	base := time.Date(2026, 3, 28, 10, 30, 0, 0, time.UTC)
	clock := &runClock{now: base}
	s, other := newRunTest(t, clock)
	p := createRunPipeline(t, s, "contended", "cron(0/5 * * * ? *)", awsapi.PipelineExecutionStartConditionExpressionMatchOnly, "")
	clock.Set(base.Add(5 * time.Minute))
	var wg sync.WaitGroup
	for i := range 8 {
		svc := s
		if i%2 == 1 {
			svc = other
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.Fire(context.Background(), p); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if rs := runs(t, s, p); len(rs) != 1 {
		t.Errorf("%d runs, want 1: %+v", len(rs), rs)
	}
}
