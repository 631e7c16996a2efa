package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/scheduler"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
)

const pipelineUsage = `usage: kiln pipeline runs [--endpoint URL] [--json] IMAGE-PIPELINE-ARN

Lists every run of a pipeline, oldest first: each due tick of its schedule
and each StartImagePipelineExecution, with what it did (the image it
built, or why it skipped or failed). The last 1000 runs are kept.
Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (any on a
loopback kiln); the endpoint from --endpoint or KILN_ENDPOINT.`

// pipelineRunsPath is the signed endpoint `kiln pipeline runs` reads.
const pipelineRunsPath = "/kiln/v1/pipeline-runs"

// pipelineMain is `kiln pipeline`.
func pipelineMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "runs" {
		fmt.Fprintln(stderr, pipelineUsage)
		return 2
	}
	fs := flag.NewFlagSet("kiln pipeline runs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, pipelineUsage) }
	endpoint := fs.String("endpoint", defaultEndpoint(), "kiln's URL (KILN_ENDPOINT)")
	asJSON := fs.Bool("json", false, "print the runs as JSON")
	rest, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return 2
	}
	if len(rest) != 1 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q := url.Values{"imagePipelineArn": {rest[0]}}
	resp, err := kilnCall(ctx, http.MethodGet, strings.TrimRight(*endpoint, "/")+pipelineRunsPath+"?"+q.Encode())
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
	var out pipelineRunsResponse
	if err := json.Unmarshal(body, &out); err != nil {
		fmt.Fprintln(stderr, "kiln pipeline runs: reading the answer:", err)
		return 1
	}
	writeRuns(stdout, out.Runs)
	return 0
}

// pipelineRunsResponse is the JSON body of /kiln/v1/pipeline-runs.
type pipelineRunsResponse struct {
	Runs []service.PipelineRun `json:"runs"`
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

// pipelineRunsHandler serves GET /kiln/v1/pipeline-runs?imagePipelineArn=ARN
// for `kiln pipeline runs`: the pipeline's run records as JSON. The
// request is signed like an API call (SigV4, service imagebuilder); the
// caller must own the pipeline.
func pipelineRunsHandler(svc *service.Service, v *sigv4.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != pipelineRunsPath || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		caller, err := v.Verify(r, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		runs, err := svc.PipelineRuns(r.Context(), caller.Account, r.URL.Query().Get("imagePipelineArn"))
		if err != nil {
			if apiErr := (*awsapi.Error)(nil); errors.As(err, &apiErr) {
				http.Error(w, apiErr.Code+": "+apiErr.Message, apiErr.Status())
				return
			}
			server.InternalError(w, r, svc.Log, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(pipelineRunsResponse{Runs: runs})
	})
}

// startScheduler serves `kiln pipeline runs` on srv and starts the loop
// that fires due pipelines. Pipeline changes made through this process
// wake the loop at once (other processes sharing the store are noticed at
// its next refresh). clock is the scheduler's time (nil: the wall clock).
// The returned stop ends the loop and waits for a
// firing in progress; serve calls it before stopping the build engine.
func startScheduler(svc *service.Service, srv *server.Server, clock scheduler.Clock, log *slog.Logger) (stop func()) {
	srv.Extra[pipelineRunsPath] = pipelineRunsHandler(svc, srv.Verifier)
	sched := &scheduler.Scheduler{Pipelines: svc, Clock: clock, Log: log}
	svc.Schedules = sched
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sched.Run(ctx) }()
	return func() { cancel(); <-done }
}
