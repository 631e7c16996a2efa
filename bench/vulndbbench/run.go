package main

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
	"github.com/kiln-build/kiln/internal/inventory"
	"github.com/kiln-build/kiln/internal/store/sqlite"
	"github.com/kiln-build/kiln/internal/vulndb"
)

// run is the whole benchmark: read the host, write the archive, start
// kiln, import, re-import, read the status, stop kiln, then read and
// match the host's packages against kiln's database in this process, as
// the scan step does.
func run(ctx context.Context, o options) error {
	res := results{Date: time.Now().UTC(), CPU: benchkit.CPUModel(), CPUs: runtime.NumCPU(), LoadBefore: benchkit.LoadAverage(), Records: o.records}
	progress := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "vulndbbench: "+format+"\n", args...) }

	root := os.DirFS("/")
	osr, err := inventory.ReadOS(root)
	if err != nil {
		return err
	}
	res.Ecosystem = vulndb.EcosystemFor(osr)
	if res.Ecosystem == "" {
		return fmt.Errorf("this host (%s %s) has no OSV ecosystem kiln matches; run on Debian, Ubuntu, Alpine, Rocky Linux or AlmaLinux", osr.ID, osr.VersionID)
	}
	hostPkgs, err := inventory.Packages(root)
	if err != nil {
		return err
	}
	res.HostPackages = len(hostPkgs)
	sources := hostSources(hostPkgs)
	res.HostSources = len(sources)
	if len(sources) == 0 {
		return fmt.Errorf("this host has no installed packages to match")
	}

	work, err := os.MkdirTemp(o.tmpDir, "kiln-vulndbbench-")
	if err != nil {
		return err
	}
	if o.keep {
		progress("keeping %s", work)
	} else {
		defer os.RemoveAll(work)
	}

	archive := filepath.Join(work, "all.zip")
	progress("writing %d records to %s", o.records, archive)
	start := time.Now()
	gen, err := writeArchive(archive, o, res.Ecosystem, sources)
	if err != nil {
		return err
	}
	res.GenerateSec = time.Since(start).Seconds()
	res.RecordsMiB = float64(gen.uncompressed) / (1 << 20)
	if fi, err := os.Stat(archive); err == nil {
		res.ArchiveMiB = float64(fi.Size()) / (1 << 20)
	}

	dataDir := filepath.Join(work, "data")
	srv, err := benchkit.StartKiln(ctx, o.kiln, dataDir, filepath.Join(work, "kiln.log"))
	if err != nil {
		return err
	}
	defer srv.Kill()
	if res.RSSIdleMiB, err = statusMiB(srv.PID(), "VmRSS"); err != nil {
		return err
	}
	progress("importing through kiln vulndb import")
	cpuBefore, err := processCPU(srv.PID())
	if err != nil {
		return err
	}
	out, dur, err := cli(ctx, o.kiln, srv.URL(), "vulndb", "import", archive)
	if err != nil {
		return fmt.Errorf("import: %w\n%s", err, srv.LogTail())
	}
	res.ImportSec = dur.Seconds()
	cpuAfter, err := processCPU(srv.PID())
	if err != nil {
		return err
	}
	res.ImportCPUSec = (cpuAfter - cpuBefore).Seconds()
	if _, err := fmt.Sscanf(out[strings.Index(out, ": ")+2:], "%d records", &res.ImportedRecords); err != nil {
		return fmt.Errorf("import printed %q", out)
	}
	if res.PeakRSSMiB, err = statusMiB(srv.PID(), "VmHWM"); err != nil {
		return err
	}
	progress("importing again (every record unchanged)")
	if _, dur, err = cli(ctx, o.kiln, srv.URL(), "vulndb", "import", archive); err != nil {
		return fmt.Errorf("second import: %w", err)
	}
	res.ReimportSec = dur.Seconds()
	if _, dur, err = cli(ctx, o.kiln, srv.URL(), "vulndb", "status"); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	res.StatusSec = dur.Seconds()
	if err := srv.Stop(30 * time.Second); err != nil {
		return err
	}
	res.DatabaseMiB = filesMiB(filepath.Join(dataDir, "kiln.db"), filepath.Join(dataDir, "kiln.db-wal"))

	progress("reading and matching this host's packages, %d runs", o.runs)
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "kiln.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	db, err := vulndb.Open(st)
	if err != nil {
		return err
	}
	var reads, matches []time.Duration
	for range o.runs {
		start := time.Now()
		pkgs, err := inventory.Packages(root)
		if err != nil {
			return err
		}
		reads = append(reads, time.Since(start))
		start = time.Now()
		findings, err := db.Match(ctx, vulndb.PackagesFor(res.Ecosystem, pkgs))
		if err != nil {
			return err
		}
		matches = append(matches, time.Since(start))
		res.Findings = len(findings)
		// The host's packages may change while the benchmark runs (an
		// apt-get elsewhere): the expectation follows what was matched.
		res.ExpectedFindings = 0
		for _, s := range hostSources(pkgs) {
			res.ExpectedFindings += gen.affected[s.name] * s.binaries
		}
	}
	res.ReadPackagesMillis = median(reads).Seconds() * 1000
	res.MatchMillis = median(matches).Seconds() * 1000
	res.LoadAfter = benchkit.LoadAverage()

	report(os.Stdout, o, res)
	if o.jsonPath != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if res.Findings != res.ExpectedFindings || res.ImportedRecords != o.records {
		return fmt.Errorf("check failed: %d findings (want %d), %d records imported (want %d)", res.Findings, res.ExpectedFindings, res.ImportedRecords, o.records)
	}
	return nil
}

// source is an installed source package with its binaries.
type source struct {
	name, version string
	binaries      int
}

// hostSources groups the host's packages by source package.
func hostSources(pkgs []inventory.Package) []source {
	by := map[string]*source{}
	for _, p := range pkgs {
		name, version := p.SourceName, p.SourceVersion
		if name == "" {
			name, version = p.Name, p.Version
		}
		s, ok := by[name]
		if !ok {
			s = &source{name: name, version: version}
			by[name] = s
		}
		s.binaries++
	}
	var out []source
	for _, s := range by {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b source) int { return strings.Compare(a.name, b.name) })
	return out
}

type generated struct {
	uncompressed int64
	// affected counts, per installed source package, the records of the
	// host's ecosystem fixed above its version: each is a finding for
	// every binary package built from it.
	affected map[string]int
}

// cvssVectors are attached to one record in three.
var cvssVectors = []string{
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
	"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
	"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
	"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
}

// writeArchive writes the synthetic records; a record on an installed
// source in the host's ecosystem fixed above its version is a finding
// for each of the source's binaries.
func writeArchive(path string, o options, eco string, sources []source) (generated, error) {
	g := generated{affected: map[string]int{}}
	f, err := os.Create(path)
	if err != nil {
		return g, err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	zw := zip.NewWriter(bw)
	r := rand.New(rand.NewPCG(uint64(o.seed), 7))
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	details := strings.Repeat("A flaw was found in the parsing of crafted input that may lead to a denial of service or worse. ", 3)
	for i := range o.records {
		id := fmt.Sprintf("BENCH-CVE-%d-%06d", 2000+i%25, i)
		recEco := eco
		if r.IntN(10) == 0 {
			recEco = "Other:1"
		}
		pkg, introduced, fixed := fmt.Sprintf("synthetic-%05d", r.IntN(20000)), "0", fmt.Sprintf("1.%d-1", r.IntN(100))
		if i%o.hostShare == 0 {
			s := sources[r.IntN(len(sources))]
			pkg = s.name
			// Versions above what is installed, in every scheme kiln
			// orders: fixed there (a finding), or introduced there (none).
			fixed = s.version + "+bench1"
			if r.IntN(2) == 0 {
				if recEco == eco {
					g.affected[s.name]++
				}
			} else {
				introduced, fixed = s.version+"+bench1", s.version+"+bench2"
			}
		}
		severity := ""
		if i%3 == 0 {
			severity = fmt.Sprintf(`"severity":[{"type":"CVSS_V3","score":%q}],`, cvssVectors[r.IntN(len(cvssVectors))])
		}
		rec := fmt.Sprintf(`{"schema_version":"1.6.0","id":%q,"modified":%q,"published":%q,"aliases":[%q],`+
			`"summary":"synthetic vulnerability %d","details":%q,%s`+
			`"affected":[{"package":{"ecosystem":%q,"name":%q},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":%q},{"fixed":%q}]}]}],`+
			`"references":[{"type":"ADVISORY","url":"https://example.invalid/%s"}]}`,
			id, base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), base.Format(time.RFC3339), strings.TrimPrefix(id, "BENCH-"),
			i, details, severity, recEco, pkg, introduced, fixed, id)
		w, err := zw.Create(id + ".json")
		if err != nil {
			return g, err
		}
		n, err := io.WriteString(w, rec)
		if err != nil {
			return g, err
		}
		g.uncompressed += int64(n)
	}
	if err := zw.Close(); err != nil {
		return g, err
	}
	if err := bw.Flush(); err != nil {
		return g, err
	}
	return g, f.Close()
}

// cli runs a kiln client command against url and returns its output and
// wall time.
func cli(ctx context.Context, kiln, url string, args ...string) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, kiln, append(args, "--endpoint", url)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_REGION="+benchkit.Region)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return string(out), d, fmt.Errorf("kiln %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), d, nil
}

// statusMiB reads a "Vm...: N kB" line of /proc/PID/status in MiB.
func statusMiB(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	kib, err := parseStatusKiB(string(b), field)
	return float64(kib) / 1024, err
}

func filesMiB(paths ...string) float64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return float64(n) / (1 << 20)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// processCPU is the CPU time (user and system) a process has used.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}
