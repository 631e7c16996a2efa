package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/scheduler"
	"github.com/kiln-build/kiln/internal/service"
)

const pipelineUsage = `usage: kiln pipeline runs [--endpoint URL] [--json] IMAGE-PIPELINE-ARN

Lists every run of a pipeline, oldest first: each due tick of its schedule
and each StartImagePipelineExecution, with what it did (the image it
built, or why it skipped or failed). The last 1000 runs are kept.
Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (any on a
loopback kiln); the endpoint from --endpoint or KILN_ENDPOINT.`

// pipelineMain is `kiln pipeline`.
func pipelineMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "runs" {
		fmt.Fprintln(stderr, pipelineUsage)
		return 2
	}
	fs, endpoint := clientFlags("kiln pipeline runs", pipelineUsage, stderr)
	asJSON := fs.Bool("json", false, "print the runs as JSON")
	arg, ok := oneArgument(fs, args[1:])
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q := url.Values{"imagePipelineArn": {arg}}
	resp, err := kilnCall(ctx, http.MethodGet, strings.TrimRight(*endpoint, "/")+kilnapi.PipelineRunsPath+"?"+q.Encode())
	if err != nil {
		fmt.Fprintln(stderr, "kiln pipeline runs:", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(stderr, "kiln pipeline runs:", err)
		return 1
	}
	if *asJSON {
		stdout.Write(body)
		return 0
	}
	var out kilnapi.PipelineRunsResponse
	if err := json.Unmarshal(body, &out); err != nil {
		fmt.Fprintln(stderr, "kiln pipeline runs: reading the answer:", err)
		return 1
	}
	writeRuns(stdout, out.Runs)
	return 0
}

// writeRuns prints runs as a table: one line each, with the image built
// or the reason it was not.
func writeRuns(w io.Writer, runs []service.PipelineRun) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tAT\tTRIGGER\tDUE\tOUTCOME\tDETAIL")
	for _, r := range runs {
		due := r.DueAt
		if due == "" {
			due = "-"
		} else if r.Missed > 0 {
			due += fmt.Sprintf(" (+%d missed)", r.Missed)
		}
		detail := r.Image
		if r.Reason != "" {
			if detail != "" {
				detail += " "
			}
			detail += "(" + r.Reason + ")"
			if r.Image == "" {
				detail = r.Reason
			}
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Sequence, r.At, r.Trigger, due, r.Outcome, detail)
	}
	tw.Flush()
}

// startScheduler starts the loop that fires due pipelines. Pipeline changes made through this process
// wake the loop at once (other processes sharing the store are noticed at
// its next refresh). clock is the scheduler's time (nil: the wall clock).
// The returned stop ends the loop and waits for a
// firing in progress; serve calls it before stopping the build engine.
func startScheduler(svc *service.Service, clock scheduler.Clock, log *slog.Logger) (stop func()) {
	sched := &scheduler.Scheduler{Pipelines: svc, Clock: clock, Log: log}
	svc.Schedules = sched
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(ctx) }()
	return func() { cancel(); <-done }
}
