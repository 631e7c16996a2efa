package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// report is everything one benchmark run produced.
type report struct {
	Machine  machine          `json:"machine"`
	Options  reportOptions    `json:"options"`
	Seed     seedReport       `json:"seed"`
	Baseline *baselineReport  `json:"baseline,omitempty"`
	Window   windowReport     `json:"window"`
	CPU      cpuReport        `json:"cpu"`
	Memory   memReport        `json:"memory"`
	Lag      lagReport        `json:"lag"`
	Outcomes map[string]int   `json:"outcomes"`
	Checks   []benchkit.Check `json:"checks"`
	Targets  []benchkit.Check `json:"targets"`
}

type reportOptions struct {
	Pipelines int    `json:"pipelines"`
	Due       int    `json:"due_every_minute"`
	Measure   string `json:"measure"`
	Busy      string `json:"busy"`
	Seed      int64  `json:"seed"`
}

type seedReport struct {
	Took string         `json:"took"`
	Rare map[string]int `json:"rare_kinds"`
}

type windowReport struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// machine describes where the numbers came from.
type machine struct {
	Date        string  `json:"date"`
	CPUs        int     `json:"cpus"`
	CPUModel    string  `json:"cpu_model"`
	Kernel      string  `json:"kernel"`
	GoVersion   string  `json:"go_version"`
	KilnVersion string  `json:"kiln_version"`
	Filesystem  string  `json:"filesystem"`
	LoadBefore  float64 `json:"load_before"`
	LoadAfter   float64 `json:"load_after"`
}

func describeMachine(kiln string) machine {
	m := machine{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), CPUs: runtime.NumCPU(), CPUModel: benchkit.CPUModel(), GoVersion: runtime.Version()}
	m.Kernel = benchkit.KernelRelease()
	m.KilnVersion = benchkit.CommandOutput("", kiln, "version")
	return m
}

// baselineReport is kiln with no pipelines at all: the yardstick for its
// idle CPU and memory with 10,000.
type baselineReport struct {
	Seconds     float64 `json:"seconds"`
	IdlePercent float64 `json:"idle_cpu_percent"`
	RSSKiB      int64   `json:"rss_kib"`
}

func summarizeBaseline(s []procSample) *baselineReport {
	first, last := s[0], s[len(s)-1]
	wall := last.At.Sub(first.At)
	return &baselineReport{Seconds: wall.Seconds(), IdlePercent: percentOf(last.CPU-first.CPU, wall), RSSKiB: last.RSSKiB}
}

// cpuReport is kiln's CPU over the window, as a percentage of one core.
type cpuReport struct {
	// Idle is over the seconds away from every minute's tick (from 1 s
	// before the minute to the busy time after it): the scheduler
	// sleeping, its periodic re-read of every pipeline's schedule, the
	// build engine's polling, the Go runtime.
	IdleSeconds       float64 `json:"idle_seconds"`
	IdlePercent       float64 `json:"idle_cpu_percent"`
	IdleMaxSecPercent float64 `json:"idle_max_second_cpu_percent"`
	// Average is over the whole window, ticks included.
	AveragePercent float64 `json:"average_cpu_percent"`
	// PerTick is the CPU a tick's busy time took beyond the idle rate,
	// averaged over the ticks in the window.
	Ticks   int           `json:"ticks"`
	PerTick time.Duration `json:"per_tick_cpu_ns"`
}

type memReport struct {
	StartKiB int64 `json:"rss_start_kib"`
	MaxKiB   int64 `json:"rss_max_kib"`
	EndKiB   int64 `json:"rss_end_kib"`
}

// summarizeSamples splits the window's one-second intervals into idle ones
// and those touching a tick's busy time [minute-1s, minute+busy).
func summarizeSamples(s []procSample, busy time.Duration) (cpuReport, memReport) {
	var (
		c                  cpuReport
		idleCPU, busyCPU   time.Duration
		idleWall, busyWall time.Duration
		ticks              = map[time.Time]bool{}
	)
	m := memReport{StartKiB: s[0].RSSKiB, EndKiB: s[len(s)-1].RSSKiB}
	for i := 1; i < len(s); i++ {
		a, b := s[i-1], s[i]
		m.MaxKiB = max(m.MaxKiB, b.RSSKiB, a.RSSKiB)
		cpu, wall := b.CPU-a.CPU, b.At.Sub(a.At)
		isBusy := false
		for k := -1; k <= 2; k++ {
			minute := a.At.Truncate(time.Minute).Add(time.Duration(k) * time.Minute)
			if a.At.Before(minute.Add(busy)) && b.At.After(minute.Add(-time.Second)) {
				isBusy = true
				ticks[minute] = true
			}
		}
		if isBusy {
			busyCPU, busyWall = busyCPU+cpu, busyWall+wall
			continue
		}
		idleCPU, idleWall = idleCPU+cpu, idleWall+wall
		c.IdleMaxSecPercent = max(c.IdleMaxSecPercent, percentOf(cpu, wall))
	}
	total := s[len(s)-1].At.Sub(s[0].At)
	c.IdleSeconds = idleWall.Seconds()
	c.IdlePercent = percentOf(idleCPU, idleWall)
	c.AveragePercent = percentOf(s[len(s)-1].CPU-s[0].CPU, total)
	c.Ticks = len(ticks)
	if c.Ticks > 0 {
		above := busyCPU - time.Duration(float64(busyWall)*c.IdlePercent/100)
		c.PerTick = max(above, 0) / time.Duration(c.Ticks)
	}
	return c, m
}

func percentOf(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// targets states the targets: under 1% of a core idle, lag under
// one second (taken as the slowest tick in the window, not a percentile).
func targets(r report) []benchkit.Check {
	return []benchkit.Check{
		{Name: "idle CPU < 1% of a core", OK: r.CPU.IdleSeconds > 0 && r.CPU.IdlePercent < 1,
			Detail: fmt.Sprintf("%.2f%% over %.0f s", r.CPU.IdlePercent, r.CPU.IdleSeconds)},
		{Name: "lag < 1 s (slowest tick in the window)", OK: r.Lag.Window.Runs > 0 && r.Lag.Window.Max < time.Second,
			Detail: fmt.Sprintf("max %s over %d runs (p99 %s)", ms(r.Lag.Window.Max), r.Lag.Window.Runs, ms(r.Lag.Window.P99))},
	}
}

func writeJSON(path string, r report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

func okOrFail(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

// writeMarkdown writes the report as bench/results/sched-*.md holds it.
func writeMarkdown(w io.Writer, r report) {
	m := r.Machine
	fmt.Fprintf(w, "# kiln scheduler: %s ENABLED pipelines\n\n", thousands(r.Options.Pipelines))
	fmt.Fprintf(w, "%s; %d × %s, Linux %s, %s, %s, data directory on %s. 1-minute load %.2f before, %.2f after. Seed %d.\n\n",
		m.Date, m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.KilnVersion, m.Filesystem, m.LoadBefore, m.LoadAfter, r.Options.Seed)
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(r.Seed.Rare)) {
		kinds = append(kinds, fmt.Sprintf("%s %s", thousands(r.Seed.Rare[k]), k))
	}
	fmt.Fprintf(w, "%s pipelines run `%s`; the other %s have random schedules (%s) in random IANA zones, none due during the run by kiln's own cron engine. Created through aws-sdk-go-v2 in %s. Window %s to %s (ticks counted busy for %s after each minute).\n\n",
		thousands(r.Options.Due), everyMinute, thousands(r.Options.Pipelines-r.Options.Due), strings.Join(kinds, ", "), r.Seed.Took,
		r.Window.Start, r.Window.End, r.Options.Busy)

	fmt.Fprintln(w, "| measure | value | target |")
	fmt.Fprintln(w, "|---|---:|---|")
	idleT, lagT := r.Targets[0], r.Targets[1]
	fmt.Fprintf(w, "| kiln CPU while idle (%.0f s between ticks) | %.2f%% of a core | < 1%%: %s |\n", r.CPU.IdleSeconds, r.CPU.IdlePercent, okOrFail(idleT.OK))
	fmt.Fprintf(w, "| busiest idle second | %.1f%% of a core | — |\n", r.CPU.IdleMaxSecPercent)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "| kiln CPU idle with no pipelines (%.0f s) | %.2f%% of a core | — |\n", b.Seconds, b.IdlePercent)
	}
	fmt.Fprintf(w, "| kiln CPU over the whole window, ticks included | %.2f%% of a core | — |\n", r.CPU.AveragePercent)
	fmt.Fprintf(w, "| CPU per tick of %s pipelines, beyond idle (%d ticks) | %s | — |\n", thousands(r.Options.Due), r.CPU.Ticks, ms(r.CPU.PerTick))
	fmt.Fprintf(w, "| RSS start / max / end of window | %s / %s / %s | — |\n", mib(r.Memory.StartKiB), mib(r.Memory.MaxKiB), mib(r.Memory.EndKiB))
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "| RSS with no pipelines | %s | — |\n", mib(b.RSSKiB))
	}
	l := r.Lag.Window
	fmt.Fprintf(w, "| lag, due → run recorded, window (%s runs) p50 / p99 / max | %s / %s / %s | < 1 s: %s |\n",
		thousands(l.Runs), ms(l.P50), ms(l.P99), ms(l.Max), okOrFail(lagT.OK))
	f := r.Lag.First
	fmt.Fprintf(w, "| lag of each pipeline's first tick, which queues its build (%s runs) p50 / p99 / max | %s / %s / %s | — |\n\n",
		thousands(f.Runs), ms(f.P50), ms(f.P99), ms(f.Max))

	fmt.Fprintln(w, "Per tick in the window:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| due (UTC) | runs | min | p50 | p99 | max |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, t := range r.Lag.PerTick {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", t.Due, t.Lags.Runs, ms(t.Lags.Min), ms(t.Lags.P50), ms(t.Lags.P99), ms(t.Lags.Max))
	}
	fmt.Fprintln(w)
	var outs []string
	for _, k := range slices.Sorted(maps.Keys(r.Outcomes)) {
		outs = append(outs, fmt.Sprintf("%s %s", thousands(r.Outcomes[k]), k))
	}
	fmt.Fprintf(w, "Outcomes of the window's runs: %s.\n\n", strings.Join(outs, ", "))
	fmt.Fprintln(w, "Checks:")
	fmt.Fprintln(w)
	for _, c := range append(slices.Clone(r.Checks), r.Targets...) {
		fmt.Fprintf(w, "- %s: %s (%s)\n", okOrFail(c.OK), c.Name, c.Detail)
	}
}

// thousands formats a count with thousands separators.
func thousands(n int) string { return benchkit.Thousands(int64(n)) }
