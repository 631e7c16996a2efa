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
	"time"

	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/lifecycle"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/service"
)

const lifecycleUsage = `usage: kiln lifecycle run [--endpoint URL] [--dry-run] [--json] LIFECYCLE-POLICY-ARN

Runs a lifecycle policy now, as kiln serve's periodic run does
(--lifecycle-interval), and prints what it did to each image and AMI.
With --dry-run it only prints what a run would act on, changing and
recording nothing. The policy must be the caller's; a DISABLED policy runs
too when named. Exits 1 when the execution failed.
Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (any on a
loopback kiln); the endpoint from --endpoint or KILN_ENDPOINT.`

// lifecycleMain is `kiln lifecycle`.
func lifecycleMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(stderr, lifecycleUsage)
		return 2
	}
	fs, endpoint := clientFlags("kiln lifecycle run", lifecycleUsage, stderr)
	dryRun := fs.Bool("dry-run", false, "print what a run would act on; change nothing")
	asJSON := fs.Bool("json", false, "print the answer as JSON")
	arg, ok := oneArgument(fs, args[1:])
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	q := url.Values{"lifecyclePolicyArn": {arg}}
	if *dryRun {
		q.Set("dryRun", "true")
	}
	resp, err := kilnCall(ctx, http.MethodPost, strings.TrimRight(*endpoint, "/")+kilnapi.LifecycleRunsPath+"?"+q.Encode())
	if err != nil {
		fmt.Fprintln(stderr, "kiln lifecycle run:", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(stderr, "kiln lifecycle run:", err)
		return 1
	}
	var run service.LifecycleRun
	if err := json.Unmarshal(body, &run); err != nil {
		fmt.Fprintln(stderr, "kiln lifecycle run: reading the answer:", err)
		return 1
	}
	if *asJSON {
		stdout.Write(body)
	} else {
		writeLifecycleRun(stdout, run)
	}
	if run.State != nil && run.State.Status == "FAILED" {
		return 1
	}
	return 0
}

// writeLifecycleRun prints a run: the execution, then one line per
// resource (AMIs indented under their image).
func writeLifecycleRun(w io.Writer, run service.LifecycleRun) {
	switch {
	case run.DryRun:
		fmt.Fprintf(w, "dry run of %s: nothing was changed\n", run.LifecyclePolicyArn)
	case run.LifecycleExecutionId == "":
		fmt.Fprintf(w, "%s did not run\n", run.LifecyclePolicyArn)
		return
	default:
		status := ""
		if run.State != nil {
			status = run.State.Status
			if run.State.Reason != "" {
				status += " (" + run.State.Reason + ")"
			}
		}
		fmt.Fprintf(w, "execution %s of %s: %s\n", run.LifecycleExecutionId, run.LifecyclePolicyArn, status)
	}
	if len(run.Resources) == 0 {
		fmt.Fprintln(w, "no resources to act on")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESOURCE\tREGION\tACTION\tSTATUS\tREASON")
	for _, r := range run.Resources {
		id := r.ResourceId
		if r.ParentResourceId != "" {
			id = "  " + id
		}
		action, why := "", ""
		if r.Action != nil {
			action, why = r.Action.Name, r.Action.Reason
		}
		status := "-"
		if r.State != nil {
			status = r.State.Status
			if r.State.Reason != "" {
				why = r.State.Reason
			}
		} else if run.DryRun {
			status = "WOULD " + action
		}
		for _, s := range r.Snapshots {
			why += " [" + s.SnapshotId + "]"
		}
		for _, u := range r.ImageUris {
			why += " [" + u + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, r.Region, action, status, why)
	}
	tw.Flush()
}

// startLifecycle wires what lifecycle actions delete outside the store
// (disks, registry images) into svc, and starts the loop that runs every
// ENABLED policy once per --lifecycle-interval (none when 0). stop ends
// the loop, letting a run in progress finish.
func startLifecycle(cfg serveConfig, svc *service.Service, reg *registry.Registry, registryHost string, clock lifecycle.Clock, log *slog.Logger) (stop func(), err error) {
	if cfg.lifecycleInterval < 0 {
		return nil, fmt.Errorf("--lifecycle-interval %s: want a duration of 0 (off) or more", cfg.lifecycleInterval)
	}
	svc.LifecycleArtifacts = &lifecycle.Artifacts{Registry: reg, Hosts: []string{registryHost}, DataDir: cfg.dataDir, Blobs: cfg.sharedBlobs()}
	if cfg.lifecycleInterval == 0 {
		return func() {}, nil
	}
	loop := &lifecycle.Loop{Service: svc, Interval: cfg.lifecycleInterval, Clock: clock, Log: log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); loop.Run(ctx) }()
	return func() { cancel(); <-done }, nil
}

// lifecycleIntervalDefault is how often kiln serve runs lifecycle
// policies: daily, as Image Builder does.
const lifecycleIntervalDefault = 24 * time.Hour
