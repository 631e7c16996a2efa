package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// report is everything one benchmark run produced.
type report struct {
	Machine     machine       `json:"machine"`
	Duration    time.Duration `json:"duration_ns"`
	Warmup      time.Duration `json:"warmup_ns"`
	Components  int           `json:"components"`
	Results     []Result      `json:"results"`
	Checks      []check       `json:"checks"`
	TargetCheck []check       `json:"targets"`
}

// check is one pass/fail statement about the run.
type check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
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
		LoadAfter:  loadAverage(),
		Date:       time.Now().UTC().Format(time.RFC3339),
		CPUs:       runtime.NumCPU(),
		CPUModel:   cpuModel(),
		GoVersion:  runtime.Version(),
		DataFS:     filesystemType(dataDir),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := exec.Command(kiln, "version").Output(); err == nil {
		m.KilnVersion = strings.TrimSpace(string(b))
	}
	return m
}

// loadAverage returns the 1-minute load average, or -1 if unknown.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return -1
	}
	return l
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
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

// evaluateTargets states the targets against results: GetComponent
// at least 0.6× the floor at every concurrency; at least 1,000
// CreateComponent/s (at the highest concurrency measured: at concurrency 1
// each create waits for its own sync, so throughput there measures the
// disk's latency, not kiln); p99 at most 10 ms at concurrency 32.
func evaluateTargets(results []Result) []check {
	var out []check
	maxConc := 0
	for _, r := range results {
		maxConc = max(maxConc, r.Concurrency)
	}
	for _, r := range results {
		switch {
		case r.Scenario == "GetComponent":
			floor := floorFor(results, r.Concurrency)
			ratio := 0.0
			if floor > 0 {
				ratio = r.PerSecond / floor
			}
			out = append(out, check{
				Name:   fmt.Sprintf("GetComponent ≥ 0.6× floor at concurrency %d", r.Concurrency),
				OK:     ratio >= 0.6,
				Detail: fmt.Sprintf("%.0f req/s = %.2f× the floor's %.0f", r.PerSecond, ratio, floor),
			})
		case r.Scenario == "CreateComponent" && r.Concurrency == maxConc:
			out = append(out, check{
				Name:   fmt.Sprintf("≥ 1,000 durable CreateComponent/s (concurrency %d)", r.Concurrency),
				OK:     r.PerSecond >= 1000,
				Detail: fmt.Sprintf("%.0f req/s", r.PerSecond),
			})
		}
	}
	for _, r := range results {
		if r.Concurrency == 32 && !isFloor(r) {
			out = append(out, check{
				Name:   fmt.Sprintf("%s p99 ≤ 10 ms at concurrency 32", r.Scenario),
				OK:     r.P99 <= 10*time.Millisecond,
				Detail: "p99 " + ms(r.P99),
			})
		}
	}
	return out
}

// ms formats d in milliseconds, the unit every latency here is read in.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func (rep report) writeMarkdown(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "## kiln API benchmark, %s\n\n", m.Date)
	fmt.Fprintf(w, "- machine: %d CPUs, %s, Linux %s, %s\n", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion)
	fmt.Fprintf(w, "- kiln: %s, `--auth strict`, data directory on %s\n", m.KilnVersion, m.DataFS)
	fmt.Fprintf(w, "- load average (1 min): %.2f before, %.2f after", m.LoadBefore, m.LoadAfter)
	if max(m.LoadBefore, m.LoadAfter) > float64(m.CPUs)/2 {
		fmt.Fprintf(w, " — **the machine was busy with other work; these numbers are skewed**")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- %v measured per row after %v warm-up; %d components seeded; client and servers share the machine\n\n",
		rep.Duration, rep.Warmup, rep.Components)
	fmt.Fprintln(w, "| scenario | concurrency | req/s | p50 | p99 | vs floor | errors |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rep.Results {
		ratio := "—"
		if f := floorFor(rep.Results, r.Concurrency); f > 0 && !isFloor(r) {
			ratio = fmt.Sprintf("%.2f×", r.PerSecond/f)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d |\n",
			r.Scenario, r.Concurrency, thousands(r.PerSecond), ms(r.P50), ms(r.P99), ratio, r.Errors)
	}
	writeChecks(w, "Targets", rep.TargetCheck)
	writeChecks(w, "Checks", rep.Checks)
}

func writeChecks(w io.Writer, title string, cs []check) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n\n", title)
	for _, c := range cs {
		mark := "FAIL"
		if c.OK {
			mark = "ok"
		}
		fmt.Fprintf(w, "- %s — %s: %s\n", mark, c.Name, c.Detail)
	}
}

// thousands formats a rate as a whole number with thousands separators.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
