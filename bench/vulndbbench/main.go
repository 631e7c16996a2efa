// Command vulndbbench measures kiln's offline vulnerability database: the
// time and peak memory (RSS) of the kiln server importing an OSV archive
// of -records synthetic records through `kiln vulndb import`, and the
// time to match this host's installed packages against them, beside the
// time to read those packages from the dpkg database — the two halves of
// a scan.
//
// The records are written like OSV's Debian all.zip: one ID.json per
// record, for the host's release ("Debian:12" on bookworm) and one other.
// One in -host-share names a source package installed on this host, half
// of those fixed above the installed version (a finding) and half below
// (none); the rest name synthetic packages, so that the index holds what
// a real archive holds: many packages, most not installed.
//
//	go run ./bench/vulndbbench -kiln /path/to/kiln [-records 100000] [-runs 7] [-json out.json]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

type options struct {
	kiln      string
	records   int
	hostShare int
	runs      int
	seed      int64
	jsonPath  string
	tmpDir    string
	keep      bool
}

func main() {
	var o options
	flag.StringVar(&o.kiln, "kiln", "", "path to the kiln binary to measure (required)")
	flag.IntVar(&o.records, "records", 100000, "synthetic OSV records in the archive")
	flag.IntVar(&o.hostShare, "host-share", 20, "one record in this many names a package installed on this host")
	flag.IntVar(&o.runs, "runs", 7, "runs of the read and match measurements (the median is reported)")
	flag.Int64Var(&o.seed, "seed", 1, "random seed for the records")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.tmpDir, "tmpdir", "", "parent of the archive and kiln's data directory (default: the system temp dir)")
	flag.BoolVar(&o.keep, "keep", false, "keep the archive, kiln's data directory and log")
	flag.Parse()
	switch {
	case o.kiln == "":
		fmt.Fprintln(os.Stderr, "vulndbbench: -kiln PATH is required")
		os.Exit(2)
	case o.records < 1 || o.hostShare < 1 || o.runs < 1:
		fmt.Fprintln(os.Stderr, "vulndbbench: -records, -host-share and -runs must be positive")
		os.Exit(2)
	}
	benchkit.Run("vulndbbench", func(ctx context.Context) error { return run(ctx, o) })
}

// results is everything the report shows.
type results struct {
	Date        time.Time `json:"date"`
	CPU         string    `json:"cpu"`
	CPUs        int       `json:"cpus"`
	LoadBefore  float64   `json:"loadBefore"`
	LoadAfter   float64   `json:"loadAfter"`
	Records     int       `json:"records"`
	Ecosystem   string    `json:"ecosystem"`
	ArchiveMiB  float64   `json:"archiveMiB"`
	RecordsMiB  float64   `json:"recordsMiB"` // uncompressed
	GenerateSec float64   `json:"generateSec"`

	RSSIdleMiB         float64 `json:"rssIdleMiB"`   // kiln before the import
	PeakRSSMiB         float64 `json:"peakRssMiB"`   // kiln's VmHWM after the import
	ImportSec          float64 `json:"importSec"`    // kiln vulndb import, wall
	ImportCPUSec       float64 `json:"importCpuSec"` // kiln's user+system CPU time during it
	ReimportSec        float64 `json:"reimportSec"`  // the same archive again: every record kept
	StatusSec          float64 `json:"statusSec"`    // kiln vulndb status, wall
	DatabaseMiB        float64 `json:"databaseMiB"`  // kiln.db and its WAL after the import
	ImportedRecords    int     `json:"importedRecords"`
	HostPackages       int     `json:"hostPackages"`
	HostSources        int     `json:"hostSources"`
	ReadPackagesMillis float64 `json:"readPackagesMillis"` // median
	MatchMillis        float64 `json:"matchMillis"`        // median
	Findings           int     `json:"findings"`
	ExpectedFindings   int     `json:"expectedFindings"`
}
