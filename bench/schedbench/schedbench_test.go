package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/schedule"
)

func TestParseStatCPU(t *testing.T) {
	tail := " S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 12 0 100 2000 300"
	for _, tc := range []struct {
		name, line string
		want       time.Duration
		err        bool
	}{
		{"plain", "123 (kiln)" + tail, 3 * time.Second, false},
		{"name with spaces and parens", "123 (a (b) c)" + tail, 3 * time.Second, false},
		{"no name", "123 kiln" + tail, 0, true},
		{"short", "123 (kiln) S 1 2 3", 0, true},
		{"negative", "123 (kiln) S 1 2 3 4 5 6 7 8 9 10 -1 50 0", 0, true},
		{"not a number", "123 (kiln) S 1 2 3 4 5 6 7 8 9 10 x 50 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU(tc.line)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add("123 (kiln) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 12 0 100 2000 300")
	f.Add("1 ())) R")
	f.Fuzz(func(t *testing.T, line string) {
		if d, err := parseStatCPU(line); err == nil && d < 0 {
			t.Errorf("negative CPU time %v", d)
		}
	})
}

func TestParseVmRSS(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         int64
		err          bool
	}{
		{"present", "Name:\tkiln\nVmPeak:\t  9 kB\nVmRSS:\t   51200 kB\nThreads: 9\n", 51200, false},
		{"missing", "Name:\tkiln\n", 0, true},
		{"no unit", "VmRSS:\t51200\n", 0, true},
		{"bad number", "VmRSS:\tx kB\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVmRSS(tc.status)
			if (err != nil) != tc.err || got != tc.want {
				t.Errorf("parseVmRSS = %v, %v; want %v, error %v", got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add("VmRSS:\t   51200 kB\n")
	f.Fuzz(func(t *testing.T, status string) {
		if n, err := parseVmRSS(status); err == nil && n < 0 {
			t.Errorf("negative RSS %d", n)
		}
	})
}

func TestParseRuns(t *testing.T) {
	runs, err := parseRuns([]byte(`{"runs":[{"imagePipelineArn":"arn:p","sequence":2,"trigger":"SCHEDULED","dueAt":"2026-12-02T10:00:00.000Z","at":"2026-12-02T10:00:00.012Z","outcome":"SKIPPED","reason":"still PENDING"}]}`))
	if err != nil || len(runs) != 1 || runs[0].Sequence != 2 || runs[0].Outcome != "SKIPPED" || runs[0].DueAt == "" {
		t.Errorf("parseRuns = %+v, %v", runs, err)
	}
	if _, err := parseRuns([]byte(`{"runs":`)); err == nil {
		t.Error("parseRuns accepted a truncated body")
	}
}

func FuzzParseRuns(f *testing.F) {
	f.Add([]byte(`{"runs":[{"sequence":1,"dueAt":"2026-12-02T10:00:00.000Z"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) { parseRuns(b) })
}

// The generator only makes expressions kiln's cron engine accepts, and
// pickQuiet only keeps those not due before the quiet time.
func TestRandomExpressionsAreQuiet(t *testing.T) {
	zones := []string{"UTC", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe", "Europe/London"}
	w := newWorkload(42, 2000, 100, zones)
	now := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC) // a DST change in Europe
	quiet := now.Add(40 * time.Minute)
	if err := w.pickQuiet(now, quiet); err != nil {
		t.Fatal(err)
	}
	due := 0
	for _, s := range w.specs {
		if s.EveryMin {
			due++
			if s.Expression != everyMinute {
				t.Errorf("%s: %s", s.Name, s.Expression)
			}
			continue
		}
		sch, err := schedule.Parse(s.Expression)
		if err != nil {
			t.Fatalf("%s: %v", s.Expression, err)
		}
		loc, _ := schedule.LoadZone(s.Zone)
		if next, ok := sch.NextFrom(now, now, loc); ok && !next.After(quiet) {
			t.Errorf("%s in %s is due at %s, before %s", s.Expression, s.Zone, next, quiet)
		}
	}
	if due != 100 {
		t.Errorf("%d per-minute pipelines, want 100", due)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		if e := randomExpression(r); !strings.HasPrefix(e, "rate(") && strings.Count(e, " ") != 5 {
			t.Errorf("%q does not have six fields", e)
		} else if _, err := schedule.Parse(e); err != nil {
			t.Errorf("%q: %v", e, err)
		}
	}
}

func TestSummarizeLagsEmpty(t *testing.T) {
	if s := summarizeLags(nil); s.Runs != 0 {
		t.Errorf("summarizeLags(nil) = %+v", s)
	}
}

// Seconds touching [minute-1s, minute+busy) count as the tick's; the rest
// as idle.
func TestSummarizeSamples(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 0, 30, 0, time.UTC)
	var s []procSample
	cpu := time.Duration(0)
	for i := 0; i <= 60; i++ {
		at := start.Add(time.Duration(i) * time.Second)
		s = append(s, procSample{At: at, CPU: cpu, RSSKiB: int64(1000 + i)})
		// 10 ms a second idle; 500 ms in each second of 10:01:00-10:01:05.
		if at.After(start.Add(29*time.Second)) && at.Before(start.Add(35*time.Second)) {
			cpu += 500 * time.Millisecond
		} else {
			cpu += 10 * time.Millisecond
		}
	}
	c, m := summarizeSamples(s, 5*time.Second)
	if c.IdlePercent < 0.99 || c.IdlePercent > 1.01 || c.IdleMaxSecPercent > 1.01 {
		t.Errorf("idle = %.3f%% (max %.3f%%), want 1%%", c.IdlePercent, c.IdleMaxSecPercent)
	}
	if c.Ticks != 1 || c.IdleSeconds != 54 {
		t.Errorf("ticks %d, idle seconds %v", c.Ticks, c.IdleSeconds)
	}
	// Six busy seconds (10:00:59 to 10:01:05) took 2.51 s, 60 ms of it
	// the idle rate.
	if c.PerTick < 2440*time.Millisecond || c.PerTick > 2460*time.Millisecond {
		t.Errorf("per tick %v, want 2.45 s", c.PerTick)
	}
	if m.StartKiB != 1000 || m.MaxKiB != 1060 || m.EndKiB != 1060 {
		t.Errorf("memory %+v", m)
	}
}

func TestAnalyzeRuns(t *testing.T) {
	w := newWorkload(1, 3, 3, []string{"UTC"})
	for i := range w.specs {
		w.specs[i].ARN = fmt.Sprintf("arn:p%d", i)
	}
	b0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	busy := 10 * time.Second
	start, end := b0.Add(busy), b0.Add(busy+2*time.Minute)
	run := func(seq int, due time.Time, lag time.Duration) pipelineRun {
		return pipelineRun{Sequence: seq, Trigger: "SCHEDULED", DueAt: due.Format(time.RFC3339Nano), At: due.Add(lag).Format(time.RFC3339Nano),
			Outcome: "SKIPPED", Reason: "the pipeline's previous build x is still PENDING"}
	}
	good := []pipelineRun{run(1, b0, 800*time.Millisecond), run(2, b0.Add(time.Minute), 20*time.Millisecond), run(3, b0.Add(2*time.Minute), 40*time.Millisecond),
		{Sequence: 4, Trigger: "USER_INITIATED", At: b0.Format(time.RFC3339Nano)}}
	runs := map[string][]pipelineRun{"arn:p0": good, "arn:p1": good, "arn:p2": good}
	lag, outcomes, checks := analyzeRuns(runs, w, start, end, busy)
	for _, c := range checks {
		if !c.OK {
			t.Errorf("%s: %s", c.Name, c.Detail)
		}
	}
	if lag.Window.Runs != 6 || lag.Window.Max != 40*time.Millisecond || lag.First.Runs != 3 || lag.First.Max != 800*time.Millisecond || len(lag.PerTick) != 2 {
		t.Errorf("lag = %+v", lag)
	}
	if outcomes["SKIPPED (previous build PENDING)"] != 6 {
		t.Errorf("outcomes = %v", outcomes)
	}

	runs["arn:p1"] = []pipelineRun{good[0], good[2]}                   // a tick missing
	runs["arn:p2"] = []pipelineRun{good[0], good[1], good[1], good[2]} // one twice
	_, _, checks = analyzeRuns(runs, w, start, end, busy)
	failed := map[string]bool{}
	for _, c := range checks {
		failed[c.Name] = !c.OK
	}
	if !failed["every tick of every per-minute pipeline recorded"] || !failed["no tick recorded twice"] || failed["no tick reported as missed"] {
		t.Errorf("checks = %+v", checks)
	}
}
