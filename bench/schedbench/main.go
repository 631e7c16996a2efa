// Command schedbench measures kiln's pipeline scheduler with many ENABLED
// pipelines: the CPU kiln spends while nothing is due, its memory, and the
// lag between a tick's due time and the moment kiln acted on it.
//
// It starts the real kiln binary, creates -pipelines pipelines through
// aws-sdk-go-v2 with random cron and rate expressions in random IANA
// zones, of which -due fire every minute and the rest are checked (with
// kiln's own cron engine) not to come due during the run. Builds are not
// what is measured, so every recipe's parent image lives in a "registry"
// that accepts connections and never answers: the first builds hang
// pulling it, the others wait behind them, and every later tick of a due
// pipeline is recorded as skipped ("the previous build is still
// PENDING") — a full claim, decision and run record, without a build.
//
//	go run ./bench/schedbench -kiln /path/to/kiln [-pipelines 10000] [-due 300] [-measure 3m] [-json out.json]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

type options struct {
	kiln      string
	pipelines int
	due       int
	measure   time.Duration
	baseline  time.Duration
	busy      time.Duration
	seed      int64
	jsonPath  string
	tmpDir    string
	keep      bool
}

func main() {
	var o options
	flag.StringVar(&o.kiln, "kiln", "", "path to the kiln binary to measure (required)")
	flag.IntVar(&o.pipelines, "pipelines", 10000, "ENABLED pipelines in all")
	flag.IntVar(&o.due, "due", 300, "of those, how many run every minute (cron(* * * * ? *))")
	flag.DurationVar(&o.measure, "measure", 3*time.Minute, "length of the measured window (at least 2m: it should hold two ticks)")
	flag.DurationVar(&o.baseline, "baseline", 30*time.Second, "idle CPU of kiln with no pipelines, measured before seeding (0: skip)")
	flag.DurationVar(&o.busy, "busy", 10*time.Second, "time after each minute counted as the tick's work, not idle")
	flag.Int64Var(&o.seed, "seed", 0, "random seed for the schedules (0: from the clock)")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.tmpDir, "tmpdir", "", "parent of kiln's data directory (default: the system temp dir)")
	flag.BoolVar(&o.keep, "keep", false, "keep kiln's data directory and log")
	flag.Parse()
	switch {
	case o.kiln == "":
		fmt.Fprintln(os.Stderr, "schedbench: -kiln PATH is required")
		os.Exit(2)
	case o.pipelines < 1 || o.due < 0 || o.due > o.pipelines:
		fmt.Fprintln(os.Stderr, "schedbench: want 0 <= -due <= -pipelines, -pipelines >= 1")
		os.Exit(2)
	case o.measure < time.Minute:
		fmt.Fprintln(os.Stderr, "schedbench: -measure must be at least 1m")
		os.Exit(2)
	case o.busy <= 0 || o.busy >= 50*time.Second:
		fmt.Fprintln(os.Stderr, "schedbench: -busy must be between 0 and 50s")
		os.Exit(2)
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
	benchkit.Run("schedbench", func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) })
}

// run is the whole benchmark: start kiln, measure its idle baseline, seed
// the pipelines, let the first ticks pass, measure, read the runs back,
// check, report.
func run(ctx context.Context, o options, out, progress io.Writer) error {
	logf := func(format string, args ...any) {
		fmt.Fprintf(progress, "schedbench %s: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
	rep := report{Machine: describeMachine(o.kiln), Options: reportOptions{
		Pipelines: o.pipelines, Due: o.due, Measure: o.measure.String(), Busy: o.busy.String(), Seed: o.seed,
	}}
	rep.Machine.LoadBefore = benchkit.LoadAverage()
	if benchkit.Busy(rep.Machine.LoadBefore) {
		logf("warning: load average is %.2f on %d CPUs; other work will skew the lag", rep.Machine.LoadBefore, runtime.NumCPU())
	}

	tmp, err := os.MkdirTemp(o.tmpDir, "schedbench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer logf("kept kiln's data and log (kiln.log) in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	rep.Machine.Filesystem = benchkit.FilesystemType(tmp)

	hang, err := startHangingRegistry()
	if err != nil {
		return err
	}
	defer hang.Close()
	kiln, err := benchkit.StartKiln(ctx, o.kiln, filepath.Join(tmp, "data"), filepath.Join(tmp, "kiln.log"), "--region", benchkit.Region)
	if err != nil {
		return err
	}
	defer kiln.Stop(15 * time.Second)
	logf("kiln (pid %d) at %s, data in %s (%s); parent images at %s, which never answers",
		kiln.PID(), kiln.Addr, tmp, rep.Machine.Filesystem, hang.Addr())

	if o.baseline > 0 {
		logf("measuring kiln's idle CPU with no pipelines for %s", o.baseline)
		s, err := sample(ctx, kiln.PID(), o.baseline)
		if err != nil {
			return err
		}
		rep.Baseline = summarizeBaseline(s)
	}

	w := newWorkload(o.seed, o.pipelines, o.due, zoneNames())
	// Nothing but the per-minute pipelines may come due from now until
	// the measurement ends: seeding, the wait for the first tick and the
	// window, with room to spare.
	quiet := time.Now().Add(30*time.Minute + o.measure)
	if err := w.pickQuiet(time.Now(), quiet); err != nil {
		return err
	}
	logf("creating %d pipelines (%d every minute) in %d zones", o.pipelines, o.due, w.zoneCount())
	client := benchkit.NewClient(kiln.URL(), benchAccessKey, benchSecret, 0)
	seedStart := time.Now()
	if err := w.create(ctx, client, hang.Addr(), 16, func(done int) {
		if done%2000 == 0 {
			logf("created %d pipelines", done)
		}
	}); err != nil {
		return fmt.Errorf("creating pipelines: %w", err)
	}
	rep.Seed = seedReport{Took: time.Since(seedStart).Round(time.Millisecond).String(), Rare: w.rareKinds()}
	logf("created in %s", rep.Seed.Took)
	if time.Now().After(quiet.Add(-o.measure - 2*time.Minute)) {
		return fmt.Errorf("seeding took too long (%s): rare schedules may come due in the window", rep.Seed.Took)
	}

	// The first tick of each per-minute pipeline (the next minute: every
	// pipeline exists by then) queues its build; the window starts half a
	// minute after it, so it holds whole minutes' ticks that skip.
	start := time.Now().Truncate(time.Minute).Add(time.Minute + max(o.busy, 30*time.Second))
	logf("waiting for the first ticks; measuring from %s for %s", start.Format("15:04:05"), o.measure)
	select {
	case <-time.After(time.Until(start)):
	case <-ctx.Done():
		return ctx.Err()
	}
	samples, err := sample(ctx, kiln.PID(), o.measure)
	if err != nil {
		return err
	}
	end := start.Add(o.measure)
	rep.Window = windowReport{Start: start.UTC().Format(time.RFC3339), End: end.UTC().Format(time.RFC3339)}
	rep.CPU, rep.Memory = summarizeSamples(samples, o.busy)
	rep.Machine.LoadAfter = benchkit.LoadAverage()

	logf("reading the run records of the %d per-minute pipelines", o.due)
	runs, err := readRuns(ctx, o.kiln, kiln.URL(), w.duePipelines(), 8)
	if err != nil {
		return err
	}
	rep.Lag, rep.Outcomes, rep.Checks = analyzeRuns(runs, w, start, end, o.busy)
	rep.Targets = targets(rep)

	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, rep); err != nil {
			return err
		}
	}
	writeMarkdown(out, rep)
	// A missed or doubled tick fails the run; a target missed is
	// reported (the report says FAIL) but the numbers stand.
	failed := 0
	for _, c := range rep.Checks {
		if !c.OK {
			failed++
		}
	}
	for _, c := range append(rep.Checks, rep.Targets...) {
		if !c.OK {
			logf("FAIL: %s: %s", c.Name, c.Detail)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed; the end of kiln's log:\n%s", failed, len(rep.Checks), kiln.LogTail())
	}
	return nil
}
