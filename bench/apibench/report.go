package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// report is everything one benchmark run produced.
type report struct {
	Machine     machine          `json:"machine"`
	Duration    time.Duration    `json:"duration_ns"`
	Warmup      time.Duration    `json:"warmup_ns"`
	Components  int              `json:"components"`
	Store       string           `json:"store"`
	Results     []Result         `json:"results"`
	Checks      []benchkit.Check `json:"checks"`
	TargetCheck []benchkit.Check `json:"targets"`
}

// machine describes where the numbers came from; they mean little without it.
type machine struct {
	Date        string `json:"date"`
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpu_model"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go_version"`
	KilnVersion string `json:"kiln_version"`
	DataFS      string `json:"data_filesystem"`
	// LoadBefore and LoadAfter are /proc/loadavg's 1-minute figure when
	// the run started and ended: other work on the machine skews every
	// number, the floor's included.
	LoadBefore float64 `json:"load_before"`
	LoadAfter  float64 `json:"load_after"`
}

func machineInfo(kiln, dataDir string, loadBefore float64) machine {
	m := machine{
		LoadBefore: loadBefore,
		LoadAfter:  benchkit.LoadAverage(),
		Date:       time.Now().UTC().Format(time.RFC3339),
		CPUs:       runtime.NumCPU(),
		CPUModel:   benchkit.CPUModel(),
		GoVersion:  runtime.Version(),
		DataFS:     benchkit.FilesystemType(dataDir),
	}
	m.Kernel = benchkit.KernelRelease()
	m.KilnVersion = benchkit.CommandOutput("", kiln, "version")
	return m
}

// isFloor reports whether r measured the floor server.
func isFloor(r Result) bool { return strings.HasPrefix(r.Scenario, "floor") }

// floorFor returns the best floor throughput measured at concurrency n, or
// 0. The best, because other work on the machine only ever slows a run
// down: the highest figure is the closest to the real floor, and ratios
// against it never flatter kiln.
func floorFor(results []Result, n int) float64 {
	best := 0.0
	for _, r := range results {
		if isFloor(r) && r.Concurrency == n {
			best = max(best, r.PerSecond)
		}
	}
	return best
}

// Floor ratios the issue asks for, per scenario.
var floorTargets = map[string]float64{"GetComponent": 0.7, "ListComponents": 0.4}

// evaluateTargets states the targets against results: GetComponent
// at least 0.7× and ListComponents at least 0.4× the floor at every
// concurrency; at least 1,000 CreateComponent/s (at the highest
// concurrency measured: at concurrency 1 each create waits for its own
// sync, so throughput there measures the disk's latency, not kiln); p99 at
// most 10 ms at concurrency 32.
func evaluateTargets(results []Result) []benchkit.Check {
	var out []benchkit.Check
	maxConc := 0
	for _, r := range results {
		maxConc = max(maxConc, r.Concurrency)
	}
	for _, r := range results {
		if want, ok := floorTargets[r.Scenario]; ok {
			floor := floorFor(results, r.Concurrency)
			ratio := 0.0
			if floor > 0 {
				ratio = r.PerSecond / floor
			}
			out = append(out, benchkit.Check{
				Name:   fmt.Sprintf("%s ≥ %.1f× floor at concurrency %d", r.Scenario, want, r.Concurrency),
				OK:     ratio >= want,
				Detail: fmt.Sprintf("%.0f req/s = %.2f× the floor's %.0f", r.PerSecond, ratio, floor),
			})
		}
		if r.Scenario == "CreateComponent" && r.Concurrency == maxConc {
			out = append(out, benchkit.Check{
				Name:   fmt.Sprintf("≥ 1,000 durable CreateComponent/s (concurrency %d)", r.Concurrency),
				OK:     r.PerSecond >= 1000,
				Detail: fmt.Sprintf("%.0f req/s", r.PerSecond),
			})
		}
	}
	for _, r := range results {
		if r.Concurrency == 32 && !isFloor(r) {
			out = append(out, benchkit.Check{
				Name:   fmt.Sprintf("%s p99 ≤ 10 ms at concurrency 32", r.Scenario),
				OK:     r.P99 <= 10*time.Millisecond,
				Detail: "p99 " + benchkit.Millis(r.P99),
			})
		}
	}
	return out
}

func (rep report) writeMarkdown(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "## kiln API benchmark, %s\n\n", m.Date)
	fmt.Fprintf(w, "- machine: %d CPUs, %s, Linux %s, %s\n", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion)
	fmt.Fprintf(w, "- kiln: %s, `--auth strict`, store: %s, data directory on %s\n", m.KilnVersion, rep.Store, m.DataFS)
	fmt.Fprintf(w, "- load average (1 min): %.2f before, %.2f after", m.LoadBefore, m.LoadAfter)
	if max(m.LoadBefore, m.LoadAfter) > float64(m.CPUs)/2 {
		fmt.Fprintf(w, " — **the machine was busy with other work; these numbers are skewed**")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- %v measured per row after %v warm-up; %d components seeded; client and servers share the machine\n\n",
		rep.Duration, rep.Warmup, rep.Components)
	fmt.Fprintln(w, "| scenario | concurrency | req/s | p50 | p99 | vs floor | server CPU/req | client CPU/req | errors |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Results {
		ratio := "—"
		if f := floorFor(rep.Results, r.Concurrency); f > 0 && !isFloor(r) {
			ratio = fmt.Sprintf("%.2f×", r.PerSecond/f)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %d |\n",
			r.Scenario, r.Concurrency, thousands(r.PerSecond), benchkit.Millis(r.P50), benchkit.Millis(r.P99), ratio,
			cpuPerRequest(r.ServerCPU), cpuPerRequest(r.ClientCPU), r.Errors)
	}
	benchkit.WriteChecks(w, "Targets", rep.TargetCheck)
	benchkit.WriteChecks(w, "Checks", rep.Checks)
}

// cpuPerRequest formats a CPU time per request, "—" when unknown.
func cpuPerRequest(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f µs", micros(d))
}

// micros is d in microseconds.
func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// thousands formats a rate as a whole number with thousands separators.
func thousands(f float64) string { return benchkit.Thousands(int64(math.RoundToEven(f))) }
