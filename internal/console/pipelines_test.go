package console

import (
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestPipelineRow(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		schedule             *awsapi.Schedule
		next                 string
		wantSchedule, wantAt string
	}{
		{"no schedule", nil, "", "", ""},
		{"cron in a zone", &awsapi.Schedule{ScheduleExpression: "cron(0 3 * * ? *)", Timezone: "Europe/Paris"}, "2026-12-08T02:00:00.000Z",
			"every day at 03:00 (Europe/Paris)", "2026-12-08 03:00 CET (02:00 UTC)"},
		{"summer time", &awsapi.Schedule{ScheduleExpression: "cron(0 3 * * ? *)", Timezone: "Europe/Paris"}, "2026-07-08T01:00:00.000Z",
			"every day at 03:00 (Europe/Paris)", "2026-07-08 03:00 CEST (01:00 UTC)"},
		{"rate, zone left out", &awsapi.Schedule{ScheduleExpression: "rate(2 hours)"}, "2026-12-08T02:00:00.000Z",
			"every 2 hours (UTC)", "2026-12-08 02:00 UTC"},
		{"an expression without words", &awsapi.Schedule{ScheduleExpression: "cron(0 1,13 * * ? *)", Timezone: "UTC"}, "",
			"cron(0 1,13 * * ? *) (UTC)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := pipelineRow(awsapi.ImagePipeline{Schedule: tc.schedule, DateNextRun: tc.next})
			if row.Schedule != tc.wantSchedule || row.NextRun != tc.wantAt {
				t.Errorf("schedule %q, next run %q; want %q, %q", row.Schedule, row.NextRun, tc.wantSchedule, tc.wantAt)
			}
		})
	}
}

func TestImageLabelAndDuration(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:imagebuilder:us-east-1:111111111111:image/hello/1.0.0/2": "hello 1.0.0/2",
		"not an arn": "not an arn",
	} {
		if got := imageLabel(arn); got != want {
			t.Errorf("imageLabel(%q) = %q, want %q", arn, got, want)
		}
	}
	for _, tc := range []struct{ start, end, want string }{
		{"2026-12-07T11:00:00.000Z", "2026-12-07T11:00:01.250Z", "1.2 s"},
		{"2026-12-07T11:00:00.000Z", "2026-12-07T11:03:05.600Z", "3m6s"},
		{"2026-12-07T11:00:00.000Z", "", "running"},
		{"", "", ""},
	} {
		if got := duration(tc.start, tc.end); got != tc.want {
			t.Errorf("duration(%q, %q) = %q, want %q", tc.start, tc.end, got, tc.want)
		}
	}
}

func TestImageTimeline(t *testing.T) {
	img := &awsapi.Image{DateCreated: "t0", BuildType: "SCHEDULED", State: &awsapi.ImageState{Status: awsapi.ImageStatusFailed, Reason: "step X failed"}}
	got := imageTimeline(img, []WorkflowRow{
		{WorkflowExecutionMetadata: awsapi.WorkflowExecutionMetadata{Type: awsapi.WorkflowTypeBuild, StartTime: "t1", EndTime: "t2", Status: "FAILED", Message: "step X failed"}},
	})
	want := []TimelineEntry{
		{"t0", "PENDING", "created by scheduled"},
		{"t1", "BUILDING", "build workflow started"},
		{"t2", "", "build workflow failed: step X failed"},
		{"t2", "FAILED", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("timeline = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
