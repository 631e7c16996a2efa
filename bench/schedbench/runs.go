package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// pipelineRun is the part of a `kiln pipeline runs --json` record the
// benchmark reads.
type pipelineRun struct {
	Pipeline string `json:"imagePipelineArn"`
	Sequence int    `json:"sequence"`
	Trigger  string `json:"trigger"`
	DueAt    string `json:"dueAt"`
	Missed   int    `json:"missed"`
	At       string `json:"at"`
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason"`
}

// parseRuns parses the JSON `kiln pipeline runs --json` prints.
func parseRuns(b []byte) ([]pipelineRun, error) {
	var resp struct {
		Runs []pipelineRun `json:"runs"`
	}
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, err
	}
	return resp.Runs, nil
}

// readRuns runs `kiln pipeline runs --json` for each pipeline, conc at a
// time, and returns the runs by pipeline ARN.
func readRuns(ctx context.Context, bin, url string, pipelines map[string]string, conc int) (map[string][]pipelineRun, error) {
	arns := make(chan string)
	var (
		mu       sync.Mutex
		out      = map[string][]pipelineRun{}
		firstErr error
		wg       sync.WaitGroup
	)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for arn := range arns {
				cmd := exec.CommandContext(ctx, bin, "pipeline", "runs", "--json", "--endpoint", url, arn)
				cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+benchAccessKey, "AWS_SECRET_ACCESS_KEY="+benchSecret,
					"AWS_DEFAULT_REGION="+benchkit.Region, "AWS_REGION="+benchkit.Region)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				b, err := cmd.Output()
				var runs []pipelineRun
				if err == nil {
					runs, err = parseRuns(b)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("kiln pipeline runs %s: %v: %s", arn, err, strings.TrimSpace(stderr.String()))
				}
				out[arn] = runs
				mu.Unlock()
			}
		}()
	}
	for arn := range pipelines {
		arns <- arn
	}
	close(arns)
	wg.Wait()
	return out, firstErr
}

// lagStats summarizes lags (nearest-rank percentiles).
type lagStats struct {
	Runs int           `json:"runs"`
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	Max  time.Duration `json:"max_ns"`
	Min  time.Duration `json:"min_ns"`
}

func summarizeLags(lags []time.Duration) lagStats {
	if len(lags) == 0 {
		return lagStats{}
	}
	s := slices.Clone(lags)
	slices.Sort(s)
	return lagStats{Runs: len(s), P50: benchkit.Percentile(s, 50), P99: benchkit.Percentile(s, 99), Max: s[len(s)-1], Min: s[0]}
}

// lagReport is the lag between a tick's due time and the run kiln
// recorded for it (the moment it claimed the tick and queued the build or
// decided to skip it).
type lagReport struct {
	// Window: the ticks whose due time and busy period lie in the measured
	// window; every one is skipped (the pipeline's first build waits
	// behind the hung ones).
	Window lagStats `json:"window"`
	// PerTick is Window split by due minute.
	PerTick []tickLag `json:"per_tick"`
	// First: each pipeline's first tick, which queues its build
	// (CreateImage in the claim's transaction), before the window.
	First lagStats `json:"first"`
}

type tickLag struct {
	Due  string   `json:"due"`
	Lags lagStats `json:"lags"`
	// Spread is from the tick's first recorded run to its last.
	Spread time.Duration `json:"spread_ns"`
}

// analyzeRuns measures the lag of the per-minute pipelines' ticks and
// checks that each tick between a pipeline's first and the window's end
// was recorded exactly once.
func analyzeRuns(runs map[string][]pipelineRun, w *workload, start, end time.Time, busy time.Duration) (lagReport, map[string]int, []benchkit.Check) {
	var (
		rep       lagReport
		window    []time.Duration
		first     []time.Duration
		byTick    = map[time.Time][]time.Time{}
		outcomes  = map[string]int{}
		bad       []string
		missing   int
		duplicate int
		missed    int
		unparsed  int
	)
	lastTick := end.Add(-busy).Truncate(time.Minute)
	for arn, name := range w.duePipelines() {
		var sched []pipelineRun
		for _, r := range runs[arn] {
			if r.Trigger == "SCHEDULED" {
				sched = append(sched, r)
			}
		}
		sort.Slice(sched, func(i, j int) bool { return sched[i].Sequence < sched[j].Sequence })
		seen := map[time.Time]int{}
		var firstDue time.Time
		for k, r := range sched {
			due, err1 := time.Parse(time.RFC3339Nano, r.DueAt)
			at, err2 := time.Parse(time.RFC3339Nano, r.At)
			if err1 != nil || err2 != nil {
				unparsed++
				continue
			}
			seen[due]++
			if r.Missed > 0 {
				missed++
				bad = append(bad, fmt.Sprintf("%s run %d due %s missed %d", name, r.Sequence, r.DueAt, r.Missed))
			}
			lag := at.Sub(due)
			if k == 0 {
				firstDue = due
				first = append(first, lag)
				continue
			}
			if due.After(start) && !due.After(lastTick) {
				window = append(window, lag)
				byTick[due] = append(byTick[due], at)
				outcomes[r.Outcome+reasonKind(r.Reason)]++
			}
		}
		if firstDue.IsZero() {
			missing++
			bad = append(bad, name+" never ran")
			continue
		}
		for t := firstDue; !t.After(lastTick); t = t.Add(time.Minute) {
			switch n := seen[t]; {
			case n == 0:
				missing++
				bad = append(bad, fmt.Sprintf("%s has no run due %s", name, t.UTC().Format(time.RFC3339)))
			case n > 1:
				duplicate++
				bad = append(bad, fmt.Sprintf("%s ran %d times for %s", name, n, t.UTC().Format(time.RFC3339)))
			}
		}
	}
	rep.Window, rep.First = summarizeLags(window), summarizeLags(first)
	for _, due := range slices.SortedFunc(maps.Keys(byTick), func(a, b time.Time) int { return a.Compare(b) }) {
		ats := byTick[due]
		var lags []time.Duration
		for _, at := range ats {
			lags = append(lags, at.Sub(due))
		}
		s := summarizeLags(lags)
		rep.PerTick = append(rep.PerTick, tickLag{Due: due.UTC().Format("15:04:05"), Lags: s, Spread: s.Max - s.Min})
	}
	wantTicks := 0
	for t := start.Truncate(time.Minute).Add(time.Minute); !t.After(lastTick); t = t.Add(time.Minute) {
		wantTicks++
	}
	detail := func(n int) string {
		if len(bad) == 0 {
			return fmt.Sprintf("%d", n)
		}
		return fmt.Sprintf("%d; e.g. %s", n, strings.Join(bad[:min(3, len(bad))], "; "))
	}
	checks := []benchkit.Check{
		{Name: "every tick of every per-minute pipeline recorded", OK: missing == 0 && unparsed == 0,
			Detail: "missing " + detail(missing) + fmt.Sprintf(", unparsable %d", unparsed)},
		{Name: "no tick recorded twice", OK: duplicate == 0, Detail: "duplicated " + detail(duplicate)},
		{Name: "no tick reported as missed", OK: missed == 0, Detail: "runs with missed > 0: " + detail(missed)},
		{Name: "the window holds every pipeline's ticks", OK: rep.Window.Runs == wantTicks*len(w.duePipelines()),
			Detail: fmt.Sprintf("%d runs for %d ticks × %d pipelines", rep.Window.Runs, wantTicks, len(w.duePipelines()))},
	}
	return rep, outcomes, checks
}

// reasonKind shortens a skip reason to its kind for the outcome counts.
func reasonKind(reason string) string {
	switch {
	case reason == "":
		return ""
	case strings.Contains(reason, "still PENDING"):
		return " (previous build PENDING)"
	case strings.Contains(reason, "still BUILDING"):
		return " (previous build BUILDING)"
	case strings.Contains(reason, "still"):
		return " (previous build running)"
	case strings.Contains(reason, "no dependency update"):
		return " (no dependency update)"
	}
	return " (other)"
}
