package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// parseStatusKiB returns the value of a "FIELD:   N kB" line of a
// /proc/PID/status file.
func parseStatusKiB(status, field string) (int64, error) {
	for line := range strings.SplitSeq(status, "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc status: %s line %q", field, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("/proc status: %s line %q", field, line)
		}
		return n, nil
	}
	return 0, fmt.Errorf("/proc status has no %s line", field)
}

// report writes the results as Markdown.
func report(w io.Writer, o options, r results) {
	fmt.Fprintf(w, "# kiln vulnerability database benchmark\n\n")
	fmt.Fprintf(w, "%s, %s (%d CPUs), load %.2f before and %.2f after", r.Date.Format("2006-01-02 15:04 UTC"), r.CPU, r.CPUs, r.LoadBefore, r.LoadAfter)
	if benchkit.Busy(r.LoadBefore) || benchkit.Busy(r.LoadAfter) {
		fmt.Fprintf(w, " — **the machine was busy: the numbers are skewed upwards**")
	}
	fmt.Fprintf(w, ".\n\n")
	fmt.Fprintf(w, "%d synthetic OSV records (%.1f MiB of JSON, a %.1f MiB zip like OSV's all.zip), one in %d on a source package installed on this host (%s, %d packages from %d sources), seed %d.\n\n",
		r.Records, r.RecordsMiB, r.ArchiveMiB, o.hostShare, r.Ecosystem, r.HostPackages, r.HostSources, o.seed)
	fmt.Fprintf(w, "## Import (the kiln server, through `kiln vulndb import`)\n\n")
	fmt.Fprintf(w, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(w, "| import of %d records, wall (upload, check pass, write pass) | %.1f s (%.0f records/s) |\n", r.ImportedRecords, r.ImportSec, float64(r.ImportedRecords)/r.ImportSec)
	fmt.Fprintf(w, "| kiln's CPU time (user + system) for that import, less sensitive to the load | %.1f s |\n", r.ImportCPUSec)
	fmt.Fprintf(w, "| the same archive again, every record unchanged | %.1f s |\n", r.ReimportSec)
	fmt.Fprintf(w, "| kiln's RSS before the imports | %.0f MiB |\n", r.RSSIdleMiB)
	fmt.Fprintf(w, "| kiln's peak RSS (VmHWM) after them | %.0f MiB |\n", r.PeakRSSMiB)
	fmt.Fprintf(w, "| kiln.db (and WAL) after them | %.0f MiB |\n", r.DatabaseMiB)
	fmt.Fprintf(w, "| `kiln vulndb status`, wall | %.2f s |\n\n", r.StatusSec)
	fmt.Fprintf(w, "## A scan's two halves (median of %d runs)\n\n", o.runs)
	fmt.Fprintf(w, "| step | time |\n|---|---|\n")
	fmt.Fprintf(w, "| read this host's package databases (/var/lib/dpkg/status: %d packages) | %.1f ms |\n", r.HostPackages, r.ReadPackagesMillis)
	fmt.Fprintf(w, "| match them against the %d records | %.1f ms (%d findings, %d expected) |\n", r.ImportedRecords, r.MatchMillis, r.Findings, r.ExpectedFindings)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// parseStatCPU returns utime+stime of a /proc/PID/stat line. The command
// name (field 2) is in parentheses and may hold spaces and parentheses,
// so fields are counted from the last ')'.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in /proc stat line")
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state(3) ... utime(14) stime(15), so indexes 11, 12.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat line has %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > 1<<40 {
			return 0, fmt.Errorf("/proc stat: bad CPU time %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}
