package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// exportFormats are kiln ami export's formats, each with the command that
// makes the same file by hand from the raw disk: the floor of its export.
var exportFormats = []struct {
	format string
	floor  []string // the command, before the input and output paths
}{
	{"raw", []string{"cp", "--sparse=always"}},
	{"qcow2", []string{"qemu-img", "convert", "-f", "raw", "-O", "qcow2"}},
	{"vmdk", []string{"qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized"}},
	{"vhdx", []string{"qemu-img", "convert", "-f", "raw", "-O", "vhdx"}},
	{"vhd", []string{"qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on"}},
}

// exportResult is one format's export of the last build's AMI.
type exportResult struct {
	Format    string          `json:"format"`
	Kiln      []time.Duration `json:"kiln_ns"`   // kiln ami export, to a file
	Floor     []time.Duration `json:"floor_ns"`  // the command by hand, from the raw disk
	Size      int64           `json:"size"`      // the exported file's length
	Allocated int64           `json:"allocated"` // its blocks on disk
}

// benchExports times kiln ami export of ami in every format, runs times
// each, against the by-hand command on the raw export (made first).
func benchExports(ctx context.Context, bin, addr, ami, dir string, runs int, logf func(string, ...any)) ([]exportResult, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	raw := filepath.Join(dir, "source.raw")
	if err := kilnExport(ctx, bin, addr, ami, "raw", raw); err != nil {
		return nil, err
	}
	var out []exportResult
	for _, f := range exportFormats {
		r := exportResult{Format: f.format}
		for i := 0; i < runs; i++ {
			kout := filepath.Join(dir, "kiln."+f.format)
			start := time.Now()
			if err := kilnExport(ctx, bin, addr, ami, f.format, kout); err != nil {
				return nil, err
			}
			r.Kiln = append(r.Kiln, time.Since(start))
			var st syscall.Stat_t
			if err := syscall.Stat(kout, &st); err == nil {
				r.Size, r.Allocated = st.Size, st.Blocks*512
			}
			os.Remove(kout)

			fout := filepath.Join(dir, "floor."+f.format)
			start = time.Now()
			cmd := exec.CommandContext(ctx, f.floor[0], append(f.floor[1:], raw, fout)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("%s: %v: %s", strings.Join(f.floor, " "), err, b)
			}
			r.Floor = append(r.Floor, time.Since(start))
			os.Remove(fout)
		}
		logf("export %-5s kiln %s, by hand %s", f.format, benchkit.Seconds(benchkit.Median(r.Kiln)), benchkit.Seconds(benchkit.Median(r.Floor)))
		out = append(out, r)
	}
	return out, nil
}

func kilnExport(ctx context.Context, bin, addr, ami, format, out string) error {
	cmd := exec.CommandContext(ctx, bin, "ami", "export", "--endpoint", "http://"+addr, ami, "--format", format, "--output", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kiln ami export --format %s: %v: %s", format, err, b)
	}
	return nil
}

// writeExports is the report's table of export times.
func writeExports(w io.Writer, rs []exportResult, volumeGiB int) {
	if len(rs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nkiln ami export of the last build's AMI (%d GiB disk), each format %d time(s), medians; "+
		"by hand is the same conversion of the raw export on this machine (raw: cp --sparse=always), without kiln's HTTP transfer:\n\n", volumeGiB, len(rs[0].Kiln))
	fmt.Fprintln(w, "| format | kiln ami export | by hand | vs floor | file size | allocated |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		k, f := benchkit.Median(r.Kiln), benchkit.Median(r.Floor)
		fmt.Fprintf(w, "| %s | %s | %s | %.2f× | %s | %s |\n", r.Format, benchkit.Seconds(k), benchkit.Seconds(f),
			float64(k)/float64(max(f, time.Millisecond)), benchkit.Thousands(r.Size), benchkit.Thousands(r.Allocated))
	}
}
