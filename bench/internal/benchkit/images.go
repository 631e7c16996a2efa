package benchkit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
)

// ImageGetter is the one call WaitImage makes; *imagebuilder.Client has
// it, and tests stand in for it without a server.
type ImageGetter interface {
	GetImage(ctx context.Context, in *imagebuilder.GetImageInput, opts ...func(*imagebuilder.Options)) (*imagebuilder.GetImageOutput, error)
}

// WorkflowLister is the two calls StepBreakdown makes;
// *imagebuilder.Client has them.
type WorkflowLister interface {
	ListWorkflowExecutions(ctx context.Context, in *imagebuilder.ListWorkflowExecutionsInput, opts ...func(*imagebuilder.Options)) (*imagebuilder.ListWorkflowExecutionsOutput, error)
	ListWorkflowStepExecutions(ctx context.Context, in *imagebuilder.ListWorkflowStepExecutionsInput, opts ...func(*imagebuilder.Options)) (*imagebuilder.ListWorkflowStepExecutionsOutput, error)
}

// StateSeen is an image status as the client polling GetImage first saw
// it, and how long after CreateImage was sent. The JSON names are those
// of the benchmarks' result files.
type StateSeen struct {
	Status string        `json:"status"`
	After  time.Duration `json:"after_ns"`
}

// WaitImage polls GetImage every poll until the image arn is AVAILABLE,
// and returns it with every status seen, each once, with when it was
// first seen after start (when CreateImage was sent). A terminal status
// other than AVAILABLE, a failed call, ctx ending or the image not being
// AVAILABLE after timeout is an error; the statuses seen until then are
// returned with it, since they say where the build stopped.
func WaitImage(ctx context.Context, client ImageGetter, arn string, start time.Time, poll, timeout time.Duration) (*types.Image, []StateSeen, error) {
	var states []StateSeen
	deadline := time.Now().Add(timeout)
	for {
		got, err := client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
		if err != nil {
			return nil, states, fmt.Errorf("GetImage %s: %w", arn, err)
		}
		img := got.Image
		var status types.ImageStatus
		if img != nil && img.State != nil {
			status = img.State.Status
		}
		if n := len(states); n == 0 || states[n-1].Status != string(status) {
			states = append(states, StateSeen{Status: string(status), After: time.Since(start)})
		}
		switch status {
		case types.ImageStatusAvailable:
			return img, states, nil
		case types.ImageStatusFailed, types.ImageStatusCancelled, types.ImageStatusDeprecated, types.ImageStatusDeleted:
			return nil, states, fmt.Errorf("image %s is %s: %s", arn, status, aws.ToString(img.State.Reason))
		}
		if time.Now().After(deadline) {
			return nil, states, fmt.Errorf("image %s still %s after %s", arn, status, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, states, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// StepTime is how long one part of a kiln build took. The JSON names
// are those of the benchmarks' result files.
type StepTime struct {
	Workflow string        `json:"workflow"`
	Step     string        `json:"step"`
	Action   string        `json:"action"`
	Duration time.Duration `json:"duration_ns"`
	start    time.Time
	end      time.Time
}

// Names of the parts of a build no step accounts for, as StepBreakdown
// lists them.
const (
	GapBefore = "(CreateImage until the first step starts)"
	GapsAll   = "(between steps, all gaps)"
	GapAfter  = "(last step's end until GetImage says AVAILABLE)"
)

// StepBreakdown lists the workflow steps of the build arn with the times
// kiln recorded (to the millisecond), in order of their start, plus what
// no step accounts for: the wait from CreateImage (sent at start) to the
// first step, the gaps between steps, and the time from the last step's
// end until GetImage reported AVAILABLE (at end). Client and server share
// a clock. A step without both times was skipped and is left out.
func StepBreakdown(ctx context.Context, client WorkflowLister, arn string, start, end time.Time) ([]StepTime, error) {
	wfs, err := client.ListWorkflowExecutions(ctx, &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("ListWorkflowExecutions: %w", err)
	}
	var out []StepTime
	for _, wf := range wfs.WorkflowExecutions {
		steps, err := client.ListWorkflowStepExecutions(ctx, &imagebuilder.ListWorkflowStepExecutionsInput{WorkflowExecutionId: wf.WorkflowExecutionId})
		if err != nil {
			return nil, fmt.Errorf("ListWorkflowStepExecutions: %w", err)
		}
		for _, s := range steps.Steps {
			if s.StartTime == nil || s.EndTime == nil {
				continue // a skipped step
			}
			st, err1 := time.Parse(time.RFC3339Nano, aws.ToString(s.StartTime))
			en, err2 := time.Parse(time.RFC3339Nano, aws.ToString(s.EndTime))
			if err1 != nil || err2 != nil || en.Before(st) {
				return nil, fmt.Errorf("step %s: unreadable times %q, %q", aws.ToString(s.Name), aws.ToString(s.StartTime), aws.ToString(s.EndTime))
			}
			out = append(out, StepTime{Workflow: string(wf.Type), Step: aws.ToString(s.Name), Action: aws.ToString(s.Action),
				Duration: en.Sub(st), start: st, end: en})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no workflow steps recorded")
	}
	slices.SortStableFunc(out, func(a, b StepTime) int { return a.start.Compare(b.start) })
	var gaps time.Duration
	for i := 1; i < len(out); i++ {
		if g := out[i].start.Sub(out[i-1].end); g > 0 {
			gaps += g
		}
	}
	// Millisecond timestamps against nanosecond clocks: clamp at zero.
	wait := max(out[0].start.Sub(start.Truncate(time.Millisecond)), 0)
	tail := max(end.Sub(out[len(out)-1].end), 0)
	out = append([]StepTime{{Step: GapBefore, Duration: wait}}, out...)
	return append(out,
		StepTime{Step: GapsAll, Duration: gaps},
		StepTime{Step: GapAfter, Duration: tail},
	), nil
}

// StepStats are one step's times over several builds.
type StepStats struct {
	Workflow, Step, Action string
	Median, Min, Max       time.Duration
}

// StepStatsOver is every step's median, min and max over builds (each
// one build's StepBreakdown), in the order of the last build. A step is
// known by its workflow and name.
func StepStatsOver(builds [][]StepTime) []StepStats {
	if len(builds) == 0 {
		return nil
	}
	key := func(s StepTime) string { return s.Workflow + "\x00" + s.Step }
	times := map[string][]time.Duration{}
	for _, b := range builds {
		for _, s := range b {
			times[key(s)] = append(times[key(s)], s.Duration)
		}
	}
	var out []StepStats
	for _, s := range builds[len(builds)-1] {
		ds := times[key(s)]
		out = append(out, StepStats{Workflow: s.Workflow, Step: s.Step, Action: s.Action,
			Median: Median(ds), Min: slices.Min(ds), Max: slices.Max(ds)})
	}
	return out
}

// WriteStepTimes writes one build's steps as a Markdown table, one row a
// step, in seconds.
func WriteStepTimes(w io.Writer, steps []StepTime) {
	fmt.Fprintln(w, "| workflow | step | action | time |")
	fmt.Fprintln(w, "|---|---|---|---:|")
	for _, s := range steps {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", s.Workflow, s.Step, s.Action, Seconds(s.Duration))
	}
}

// WriteStepStats writes steps' times over several builds as a Markdown
// table: median, min and max in seconds.
func WriteStepStats(w io.Writer, stats []StepStats) {
	fmt.Fprintln(w, "| workflow | step | action | median | min | max |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|")
	for _, s := range stats {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", s.Workflow, s.Step, s.Action, Seconds(s.Median), Seconds(s.Min), Seconds(s.Max))
	}
}

// WriteStates writes the line that says how a build looked to a client
// polling GetImage every poll: each status and when it was first seen.
func WriteStates(w io.Writer, poll time.Duration, states []StateSeen) {
	var parts []string
	for _, s := range states {
		parts = append(parts, fmt.Sprintf("%s at %s", s.Status, Seconds(s.After)))
	}
	fmt.Fprintf(w, "\nkiln's last build as GetImage showed it (polled every %d ms, from CreateImage): %s\n", poll.Milliseconds(), strings.Join(parts, ", "))
}
