package main

import (
	"cmp"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// Tool names, as the table shows them.
const (
	toolKiln  = "kiln"
	toolFloor = "by hand (floor)"
)

// targetWall is the end-to-end target for kiln (software
// emulation, 2 cores), and targetRatio its limit against the floor.
const (
	targetWall  = 90 * time.Second
	targetRatio = 1.5
	// Issue 13 (machine images that boot anywhere): under 30 s end to end
	// booting through firmware for the test phase, within 1.3× the floor.
	firmwareTargetWall  = 30 * time.Second
	firmwareTargetRatio = 1.3
)

// toolResult is one tool's builds.
type toolResult struct {
	Tool  string          `json:"tool"`
	Timed string          `json:"timed"`
	First time.Duration   `json:"warmup_ns"`
	Runs  []time.Duration `json:"runs_ns"`
}

func (t toolResult) stats() (median, lo, hi time.Duration) {
	if len(t.Runs) == 0 {
		return 0, 0, 0
	}
	return benchkit.Median(t.Runs), slices.Min(t.Runs), slices.Max(t.Runs)
}

// report is everything one benchmark run produced.
type report struct {
	Machine     machine          `json:"machine"`
	Runs        int              `json:"runs"`
	Files       int              `json:"files"`
	VolumeGiB   int              `json:"volume_gib"`
	MemoryMB    int              `json:"vm_memory_mib"`
	CPUs        int              `json:"vm_cpus"`
	Accel       string           `json:"accel"`
	TestBoot    string           `json:"test_boot"` // kiln serve --test-boot
	Parent      parent           `json:"parent"`
	Import      time.Duration    `json:"import_ns"`
	Components  []component      `json:"components"`
	FloorKernel string           `json:"floor_kernel"`
	Exports     []exportResult   `json:"exports"`
	Boots       []bootResult     `json:"boots"`
	Kiln        toolResult       `json:"kiln"`
	Floor       toolResult       `json:"floor"`
	KilnRuns    []kilnRun        `json:"kiln_runs"`
	FloorRuns   []floorRun       `json:"floor_runs"`
	Checks      []benchkit.Check `json:"checks"`
	Targets     []benchkit.Check `json:"targets"`
}

// machine describes where the numbers came from.
type machine struct {
	Date        string  `json:"date"`
	CPUs        int     `json:"cpus"`
	CPUModel    string  `json:"cpu_model"`
	Kernel      string  `json:"kernel"`
	GoVersion   string  `json:"go_version"`
	KilnVersion string  `json:"kiln_version"`
	QEMUVersion string  `json:"qemu_version"`
	E2fsVersion string  `json:"e2fsprogs_version"`
	WorkFS      string  `json:"work_filesystem"`
	LoadBefore  float64 `json:"load_before"`
	LoadAfter   float64 `json:"load_after"`
}

func machineInfo(kiln, workDir string, loadBefore float64) machine {
	qemu, _, _ := strings.Cut(benchkit.CommandOutput("unknown", "qemu-system-x86_64", "--version"), "\n")
	e2fs := "unknown"
	if out, err := exec.Command("mkfs.ext4", "-V").CombinedOutput(); err == nil || len(out) > 0 {
		e2fs, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	m := machine{
		Date:        time.Now().UTC().Format(time.RFC3339),
		CPUs:        runtime.NumCPU(),
		CPUModel:    benchkit.CPUModel(),
		GoVersion:   runtime.Version(),
		KilnVersion: benchkit.CommandOutput("unknown", kiln, "version"),
		QEMUVersion: qemu,
		E2fsVersion: e2fs,
		WorkFS:      benchkit.FilesystemType(workDir),
		LoadBefore:  loadBefore,
		LoadAfter:   benchkit.LoadAverage(),
	}
	m.Kernel = benchkit.KernelRelease()
	return m
}

// ratio is kiln's median over the floor's, or 0.
func (rep report) ratio() float64 {
	k, _, _ := rep.Kiln.stats()
	f, _, _ := rep.Floor.stats()
	if k == 0 || f == 0 {
		return 0
	}
	return float64(k) / float64(f)
}

// evaluateTargets states the targets: kiln's median end to end
// under 90 s, and at most 1.5× the floor's median.
func (rep report) evaluateTargets() []benchkit.Check {
	k, klo, _ := rep.Kiln.stats()
	_, flo, _ := rep.Floor.stats()
	if k == 0 {
		return nil
	}
	out := []benchkit.Check{{
		Name:   fmt.Sprintf("kiln end to end < %s (median wall time, %s)", benchkit.Seconds(targetWall), rep.Accel),
		OK:     k < targetWall,
		Detail: benchkit.Seconds(k),
	}}
	if r := rep.ratio(); r > 0 {
		detail := fmt.Sprintf("%.2f×", r)
		if flo > 0 {
			// Other work only ever slows a build down: the fastest runs
			// are the least disturbed. Shown, not judged.
			detail += fmt.Sprintf(" (fastest against fastest: %.2f×)", float64(klo)/float64(flo))
		}
		out = append(out, benchkit.Check{Name: fmt.Sprintf("kiln ≤ %.1f× the floor (median wall time)", targetRatio), OK: r <= targetRatio, Detail: detail})
	}
	// Issue 13's target supposes the test phase boots through firmware.
	// With kiln serve --test-boot bios or uefi kiln's median is measured so;
	// with direct boot the firmware boot's extra time (measured above on
	// the same disk) is added to it. The floor boots directly either way,
	// so the extra time is added to its median.
	if rep.TestBoot == "bios" || rep.TestBoot == "uefi" {
		extra := firmwareOverDirect(rep.Boots)
		out = append(out, benchkit.Check{
			Name:   fmt.Sprintf("issue 13: end to end with a firmware (%s) test boot < %s (kiln's median, measured)", rep.TestBoot, benchkit.Seconds(firmwareTargetWall)),
			OK:     k < firmwareTargetWall,
			Detail: benchkit.Seconds(k),
		})
		if fm, _, _ := rep.Floor.stats(); fm > 0 && extra > 0 {
			r := float64(k) / float64(fm+extra)
			out = append(out, benchkit.Check{Name: fmt.Sprintf("issue 13: ≤ %.1f× the floor, both booting through firmware (the floor's median + %s firmware over direct boot)", firmwareTargetRatio, benchkit.Seconds(extra)),
				OK: r <= firmwareTargetRatio, Detail: fmt.Sprintf("%.2f× (the floor's firmware boot estimated)", r)})
		}
	} else if extra := firmwareOverDirect(rep.Boots); extra > 0 {
		var f time.Duration
		if fm, _, _ := rep.Floor.stats(); fm > 0 {
			f = fm + extra
		}
		est := k + extra
		out = append(out, benchkit.Check{
			Name:   fmt.Sprintf("issue 13: end to end with a firmware test boot < %s (kiln's median + %s firmware over direct boot)", benchkit.Seconds(firmwareTargetWall), benchkit.Seconds(extra)),
			OK:     est < firmwareTargetWall,
			Detail: benchkit.Seconds(est) + " (estimated)",
		})
		if f > 0 {
			r := float64(est) / float64(f)
			out = append(out, benchkit.Check{Name: fmt.Sprintf("issue 13: ≤ %.1f× the floor, both booting through firmware", firmwareTargetRatio), OK: r <= firmwareTargetRatio, Detail: fmt.Sprintf("%.2f× (estimated)", r)})
		}
	}
	return out
}

// kilnStdout prefixes a command's output in kiln's step logs.
const kilnStdout = "Stdout: "

// kilnChecks states what every kiln build (the warm-up included) proves:
// the test phase ran in the booted guest, and the disk was written, not
// taken from kiln's content-addressed store.
func kilnChecks(runs []kilnRun) []benchkit.Check {
	var noMarker, reused []string
	amis := map[string]bool{}
	for i, r := range runs {
		if !printedLine(r.Log, kilnStdout, testMarker) {
			noMarker = append(noMarker, fmt.Sprint(i))
		}
		if strings.Contains(r.Log, "reusing") {
			reused = append(reused, fmt.Sprint(i))
		}
		amis[r.AMI] = true
	}
	marker := benchkit.Check{Name: "kiln: every build's test phase printed " + testMarker + " in the booted guest", OK: len(noMarker) == 0,
		Detail: fmt.Sprintf("%d builds (warm-up included), %d distinct AMIs", len(runs), len(amis))}
	if len(noMarker) > 0 {
		marker.Detail = "missing from `kiln logs` of build(s) " + strings.Join(noMarker, ", ")
	}
	disk := benchkit.Check{Name: "kiln: every build wrote its own disk (none reused from the store)", OK: len(reused) == 0, Detail: fmt.Sprintf("%d builds", len(runs))}
	if len(reused) > 0 {
		disk.Detail = "reused by build(s) " + strings.Join(reused, ", ")
	}
	return []benchkit.Check{marker, disk}
}

func (rep report) writeMarkdown(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "## kiln machine image benchmark, %s\n\n", m.Date)
	fmt.Fprintf(w, "- machine: %d CPUs, %s, Linux %s, %s; work directory on %s\n", m.CPUs, m.CPUModel, m.Kernel, m.GoVersion, m.WorkFS)
	fmt.Fprintf(w, "- %s; %s; %s\n", m.KilnVersion, m.QEMUVersion, m.E2fsVersion)
	fmt.Fprintf(w, "- load average (1 min): %.2f before, %.2f after", m.LoadBefore, m.LoadAfter)
	if max(m.LoadBefore, m.LoadAfter) > float64(m.CPUs)/2 {
		fmt.Fprintf(w, " — **the machine was busy with other work; compare ratios, not seconds**")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- parent: %s; tarball %s bytes", rep.Parent.Kind, benchkit.Thousands(rep.Parent.Bytes))
	if rep.Parent.Debootstrapped {
		fmt.Fprintf(w, ", debootstrapped and packed in %s (cached for later runs)", benchkit.Seconds(rep.Parent.Prepared))
	} else if rep.Parent.Prepared > 0 {
		fmt.Fprintf(w, ", packed from the cached tree in %s", benchkit.Seconds(rep.Parent.Prepared))
	} else {
		fmt.Fprintf(w, ", from the cache")
	}
	fmt.Fprintf(w, "; imported into kiln in %s (not timed)\n", benchkit.Seconds(rep.Import))
	var names []string
	for _, c := range rep.Components {
		names = append(names, fmt.Sprintf("%s (%s, %d step(s))", c.Name, c.Phase, len(c.Steps)))
	}
	fmt.Fprintf(w, "- workload: %s; %d small files; %d GiB root volume\n", strings.Join(names, ", "), rep.Files, rep.VolumeGiB)
	fmt.Fprintf(w, "- test guests: %s, %d vCPUs, %d MiB; kiln's test boot %s (kiln serve --test-boot); floor boots %s\n", rep.Accel, rep.CPUs, rep.MemoryMB, cmp.Or(rep.TestBoot, "direct"), rep.FloorKernel)
	fmt.Fprintf(w, "- %d measured builds per tool after one unmeasured warm-up each, alternating kiln, floor\n\n", rep.Runs)

	fmt.Fprintln(w, "| tool | timed | warm-up | median | min | max | vs floor |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, t := range []toolResult{rep.Kiln, rep.Floor} {
		if len(t.Runs) == 0 {
			fmt.Fprintf(w, "| %s | %s | — | — | — | — | — |\n", t.Tool, t.Timed)
			continue
		}
		med, lo, hi := t.stats()
		vs := "1.00×"
		if t.Tool == toolKiln {
			vs = fmt.Sprintf("%.2f×", rep.ratio())
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", t.Tool, t.Timed, benchkit.Seconds(t.First), benchkit.Seconds(med), benchkit.Seconds(lo), benchkit.Seconds(hi), vs)
	}
	benchkit.WriteChecks(w, "Targets", rep.Targets)
	benchkit.WriteChecks(w, "Checks", rep.Checks)
	writeExports(w, rep.Exports, rep.VolumeGiB)
	writeBoots(w, rep.Boots)

	var builds [][]benchkit.StepTime
	for _, r := range rep.KilnRuns {
		builds = append(builds, r.Steps)
	}
	if st := benchkit.StepStatsOver(builds); len(st) > 0 {
		fmt.Fprintf(w, "\nkiln, step by step over the %d measured builds (kiln's own step records, ListWorkflowStepExecutions):\n\n", len(rep.KilnRuns))
		benchkit.WriteStepStats(w, st)
	}
	if len(rep.FloorRuns) > 0 {
		fmt.Fprintf(w, "\nThe floor, phase by phase over the %d measured builds:\n\n", len(rep.FloorRuns))
		fmt.Fprintln(w, "| phase | median | min | max |")
		fmt.Fprintln(w, "|---|---:|---:|---:|")
		for _, p := range floorPhases {
			var ds []time.Duration
			for _, r := range rep.FloorRuns {
				ds = append(ds, r.Phases[p])
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", p, benchkit.Seconds(benchkit.Median(ds)), benchkit.Seconds(slices.Min(ds)), benchkit.Seconds(slices.Max(ds)))
		}
	}
	if n := len(rep.KilnRuns); n > 0 {
		last := rep.KilnRuns[n-1]
		if len(last.LogLines) > 0 {
			fmt.Fprintf(w, "\nkiln's last build, as its executor logged the parts of its steps:\n\n```\n%s\n```\n", strings.Join(last.LogLines, "\n"))
		}
		benchkit.WriteStates(w, kilnPoll, last.States)
	}
}
