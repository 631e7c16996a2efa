package benchkit

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
)

// fakeImages answers GetImage with one status after another, repeating
// the last; an empty status answers with no image at all.
type fakeImages struct {
	statuses []types.ImageStatus
	reason   string
	err      error
	calls    int
}

func (f *fakeImages) GetImage(_ context.Context, in *imagebuilder.GetImageInput, _ ...func(*imagebuilder.Options)) (*imagebuilder.GetImageOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	s := f.statuses[min(f.calls, len(f.statuses)-1)]
	f.calls++
	if s == "" {
		return &imagebuilder.GetImageOutput{}, nil
	}
	return &imagebuilder.GetImageOutput{Image: &types.Image{
		Arn:   in.ImageBuildVersionArn,
		State: &types.ImageState{Status: s, Reason: aws.String(f.reason)},
	}}, nil
}

func TestWaitImage(t *testing.T) {
	const (
		pending   = types.ImageStatusPending
		building  = types.ImageStatusBuilding
		inTest    = types.ImageStatusTesting
		available = types.ImageStatusAvailable
		failed    = types.ImageStatusFailed
	)
	for _, tc := range []struct {
		name     string
		fake     fakeImages
		timeout  time.Duration
		want     []string // statuses seen
		wantErr  string   // "" for none
		wantCall int
	}{
		{"available", fakeImages{statuses: []types.ImageStatus{pending, pending, building, building, inTest, available}}, time.Hour,
			[]string{"PENDING", "BUILDING", "TESTING", "AVAILABLE"}, "", 6},
		{"at once", fakeImages{statuses: []types.ImageStatus{available}}, time.Hour, []string{"AVAILABLE"}, "", 1},
		{"no image yet", fakeImages{statuses: []types.ImageStatus{"", pending, available}}, time.Hour, []string{"", "PENDING", "AVAILABLE"}, "", 3},
		{"failed", fakeImages{statuses: []types.ImageStatus{pending, failed}, reason: "step Build failed"}, time.Hour,
			[]string{"PENDING", "FAILED"}, "image arn:x is FAILED: step Build failed", 2},
		{"cancelled", fakeImages{statuses: []types.ImageStatus{types.ImageStatusCancelled}}, time.Hour, []string{"CANCELLED"}, "is CANCELLED", 1},
		{"timeout", fakeImages{statuses: []types.ImageStatus{building}}, -time.Second, []string{"BUILDING"}, "image arn:x still BUILDING after -1s", 1},
		{"call fails", fakeImages{err: errors.New("connection refused")}, time.Hour, nil, "GetImage arn:x: connection refused", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			img, states, err := WaitImage(context.Background(), &tc.fake, "arn:x", start, 0, tc.timeout)
			var got []string
			for i, s := range states {
				got = append(got, s.Status)
				if s.After < 0 || (i > 0 && s.After < states[i-1].After) {
					t.Errorf("state %d seen after %v, before %v", i, s.After, states[max(i-1, 0)].After)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("states = %q, want %q", got, tc.want)
			}
			if tc.fake.calls != tc.wantCall {
				t.Errorf("GetImage called %d times, want %d", tc.fake.calls, tc.wantCall)
			}
			if tc.wantErr == "" {
				if err != nil || img == nil || img.State.Status != types.ImageStatusAvailable {
					t.Fatalf("WaitImage = %+v, %v; want the AVAILABLE image", img, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || img != nil {
				t.Errorf("WaitImage = %+v, %v; want no image and an error with %q", img, err, tc.wantErr)
			}
		})
	}
}

// A cancelled context ends the wait between polls, with what was seen.
func TestWaitImageCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeImages{statuses: []types.ImageStatus{types.ImageStatusBuilding}}
	_, states, err := WaitImage(ctx, f, "arn:x", time.Now(), time.Hour, time.Hour)
	if !errors.Is(err, context.Canceled) || len(states) != 1 || states[0].Status != "BUILDING" {
		t.Errorf("WaitImage = %+v, %v; want BUILDING seen and context.Canceled", states, err)
	}
}

// fakeWorkflows answers the two List calls from a fixed set of records.
type fakeWorkflows struct {
	workflows []types.WorkflowExecutionMetadata
	steps     map[string][]types.WorkflowStepMetadata // by workflow execution id
	err       error
}

func (f *fakeWorkflows) ListWorkflowExecutions(_ context.Context, _ *imagebuilder.ListWorkflowExecutionsInput, _ ...func(*imagebuilder.Options)) (*imagebuilder.ListWorkflowExecutionsOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &imagebuilder.ListWorkflowExecutionsOutput{WorkflowExecutions: f.workflows}, nil
}

func (f *fakeWorkflows) ListWorkflowStepExecutions(_ context.Context, in *imagebuilder.ListWorkflowStepExecutionsInput, _ ...func(*imagebuilder.Options)) (*imagebuilder.ListWorkflowStepExecutionsOutput, error) {
	return &imagebuilder.ListWorkflowStepExecutionsOutput{Steps: f.steps[aws.ToString(in.WorkflowExecutionId)]}, nil
}

func step(name, action, start, end string) types.WorkflowStepMetadata {
	s := types.WorkflowStepMetadata{Name: aws.String(name), Action: aws.String(action)}
	if start != "" {
		s.StartTime = aws.String(start)
	}
	if end != "" {
		s.EndTime = aws.String(end)
	}
	return s
}

func workflows(steps map[string][]types.WorkflowStepMetadata) *fakeWorkflows {
	f := &fakeWorkflows{steps: steps}
	for _, id := range []string{"build", "test"} {
		if _, ok := steps[id]; ok {
			f.workflows = append(f.workflows, types.WorkflowExecutionMetadata{WorkflowExecutionId: aws.String(id), Type: types.WorkflowType(strings.ToUpper(id))})
		}
	}
	return f
}

func TestStepBreakdown(t *testing.T) {
	ms := time.Millisecond
	// CreateImage sent 0.4 ms into second 0; GetImage said AVAILABLE at 2.5 s.
	start := time.Date(2026, 12, 2, 10, 0, 0, 400_000, time.UTC)
	end := start.Add(2500*ms - 400_000)
	type row struct {
		workflow, step string
		d              time.Duration
	}
	for _, tc := range []struct {
		name    string
		fake    *fakeWorkflows
		want    []row
		wantErr string
	}{
		{"two workflows, out of order, one skipped", workflows(map[string][]types.WorkflowStepMetadata{
			"test": {
				step("LaunchTest", "LaunchInstance", "2026-12-02T10:00:01.300Z", "2026-12-02T10:00:01.900Z"),
				step("Skipped", "RunCommand", "", ""),
			},
			"build": {
				step("Build", "ExecuteComponents", "2026-12-02T10:00:00.050Z", "2026-12-02T10:00:01Z"),
				step("Output", "CreateOutputImage", "2026-12-02T10:00:01.100Z", "2026-12-02T10:00:01.200Z"),
			},
		}), []row{
			{"", GapBefore, 50 * ms},
			{"BUILD", "Build", 950 * ms},
			{"BUILD", "Output", 100 * ms},
			{"TEST", "LaunchTest", 600 * ms},
			{"", GapsAll, 200 * ms},
			{"", GapAfter, 600 * ms},
		}, ""},
		// A step recorded before the client's clock said CreateImage was
		// sent (same millisecond), and one ending after AVAILABLE was seen:
		// the unaccounted parts clamp at zero.
		{"clamped", workflows(map[string][]types.WorkflowStepMetadata{
			"build": {step("Build", "ExecuteComponents", "2026-12-02T09:59:59.999Z", "2026-12-02T10:00:03Z")},
		}), []row{{"", GapBefore, 0}, {"BUILD", "Build", 3001 * ms}, {"", GapsAll, 0}, {"", GapAfter, 0}}, ""},
		{"end before start", workflows(map[string][]types.WorkflowStepMetadata{
			"build": {step("Build", "ExecuteComponents", "2026-12-02T10:00:01Z", "2026-12-02T10:00:00Z")},
		}), nil, "step Build: unreadable times"},
		{"garbled time", workflows(map[string][]types.WorkflowStepMetadata{
			"build": {step("Build", "ExecuteComponents", "yesterday", "2026-12-02T10:00:00Z")},
		}), nil, `unreadable times "yesterday"`},
		{"only skipped steps", workflows(map[string][]types.WorkflowStepMetadata{
			"build": {step("Skipped", "RunCommand", "", "")},
		}), nil, "no workflow steps recorded"},
		{"no workflows", &fakeWorkflows{}, nil, "no workflow steps recorded"},
		{"call fails", &fakeWorkflows{err: errors.New("boom")}, nil, "ListWorkflowExecutions: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := StepBreakdown(context.Background(), tc.fake, "arn:x", start, end)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("StepBreakdown = %+v, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var rows []row
			for _, s := range got {
				rows = append(rows, row{s.Workflow, s.Step, s.Duration})
			}
			if !slices.Equal(rows, tc.want) {
				t.Errorf("StepBreakdown =\n%v\nwant\n%v", rows, tc.want)
			}
		})
	}
}

// Whatever times the records hold, StepBreakdown neither panics nor
// reports a negative duration.
func FuzzStepBreakdown(f *testing.F) {
	f.Add("2026-12-02T10:00:00.050Z", "2026-12-02T10:00:01Z", "2026-12-02T10:00:01.1Z", "2026-12-02T10:00:01.2Z")
	f.Add("", "", "2026-12-02T10:00:01+02:00", "2026-12-02T10:00:01Z")
	f.Add("x", "2026-12-02T10:00:01Z", "9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z")
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s1, e1, s2, e2 string) {
		fake := workflows(map[string][]types.WorkflowStepMetadata{"build": {step("A", "a", s1, e1), step("B", "b", s2, e2)}})
		steps, err := StepBreakdown(context.Background(), fake, "arn:x", start, start.Add(time.Second))
		if err != nil {
			return
		}
		for _, s := range steps {
			if s.Duration < 0 {
				t.Errorf("%s: negative duration %v", s.Step, s.Duration)
			}
		}
	})
}

func TestStepStatsOver(t *testing.T) {
	s := time.Second
	build := func(ds ...time.Duration) []StepTime {
		return []StepTime{
			{Step: GapBefore, Duration: ds[0]},
			{Workflow: "BUILD", Step: "Build", Action: "ExecuteComponents", Duration: ds[1]},
			{Workflow: "TEST", Step: "Build", Action: "ExecuteComponents", Duration: ds[2]},
		}
	}
	for _, tc := range []struct {
		name   string
		builds [][]StepTime
		want   []StepStats
	}{
		{"none", nil, nil},
		{"one", [][]StepTime{build(1, 2, 3)}, []StepStats{
			{Step: GapBefore, Median: 1, Min: 1, Max: 1},
			{Workflow: "BUILD", Step: "Build", Action: "ExecuteComponents", Median: 2, Min: 2, Max: 2},
			{Workflow: "TEST", Step: "Build", Action: "ExecuteComponents", Median: 3, Min: 3, Max: 3},
		}},
		{"three", [][]StepTime{build(1*s, 5*s, 1*s), build(3*s, 4*s, 2*s), build(2*s, 6*s, 9*s)}, []StepStats{
			{Step: GapBefore, Median: 2 * s, Min: 1 * s, Max: 3 * s},
			{Workflow: "BUILD", Step: "Build", Action: "ExecuteComponents", Median: 5 * s, Min: 4 * s, Max: 6 * s},
			{Workflow: "TEST", Step: "Build", Action: "ExecuteComponents", Median: 2 * s, Min: 1 * s, Max: 9 * s},
		}},
		// The last build decides the rows; a step only it has counts once.
		{"new step last", [][]StepTime{build(1, 2, 3), append(build(1, 2, 3), StepTime{Workflow: "TEST", Step: "Extra", Duration: 7})}, []StepStats{
			{Step: GapBefore, Median: 1, Min: 1, Max: 1},
			{Workflow: "BUILD", Step: "Build", Action: "ExecuteComponents", Median: 2, Min: 2, Max: 2},
			{Workflow: "TEST", Step: "Build", Action: "ExecuteComponents", Median: 3, Min: 3, Max: 3},
			{Workflow: "TEST", Step: "Extra", Median: 7, Min: 7, Max: 7},
		}},
	} {
		if got := StepStatsOver(tc.builds); !slices.Equal(got, tc.want) {
			t.Errorf("%s: StepStatsOver =\n%+v\nwant\n%+v", tc.name, got, tc.want)
		}
	}
}

func TestWriteSteps(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		write func(*bytes.Buffer)
		want  string
	}{
		{"times", func(b *bytes.Buffer) {
			WriteStepTimes(b, []StepTime{{Step: GapBefore, Duration: 12 * ms}, {Workflow: "BUILD", Step: "Build", Action: "ExecuteComponents", Duration: 1500 * ms}})
		}, "| workflow | step | action | time |\n|---|---|---|---:|\n" +
			"|  | (CreateImage until the first step starts) |  | 0.01 s |\n" +
			"| BUILD | Build | ExecuteComponents | 1.50 s |\n"},
		{"stats", func(b *bytes.Buffer) {
			WriteStepStats(b, []StepStats{{Workflow: "TEST", Step: "Test", Action: "RunCommand", Median: 350 * ms, Min: 300 * ms, Max: 400 * ms}})
		}, "| workflow | step | action | median | min | max |\n|---|---|---|---:|---:|---:|\n" +
			"| TEST | Test | RunCommand | 0.35 s | 0.30 s | 0.40 s |\n"},
		{"states", func(b *bytes.Buffer) {
			WriteStates(b, 20*ms, []StateSeen{{"PENDING", 5 * ms}, {"AVAILABLE", 2 * time.Second}})
		}, "\nkiln's last build as GetImage showed it (polled every 20 ms, from CreateImage): PENDING at 0.01 s, AVAILABLE at 2.00 s\n"},
		{"no states", func(b *bytes.Buffer) { WriteStates(b, 50*ms, nil) },
			"\nkiln's last build as GetImage showed it (polled every 50 ms, from CreateImage): \n"},
	} {
		var b bytes.Buffer
		tc.write(&b)
		if b.String() != tc.want {
			t.Errorf("%s: wrote\n%q\nwant\n%q", tc.name, b.String(), tc.want)
		}
	}
}
