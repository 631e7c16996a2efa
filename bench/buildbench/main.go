// Command buildbench measures one container image build three ways, side
// by side in the same run on the same machine:
//
//   - kiln: a container recipe built through the Image Builder API
//     (CreateImage until GetImage says AVAILABLE, image tests off),
//     pushed by kiln into its own registry;
//   - buildah: the equivalent Dockerfile through `buildah bud --isolation
//     chroot`, then `buildah push` into the same registry;
//   - the floor: the same shell commands in a plain chroot over an overlay
//     of the unpacked base, then the upper directory tarred and gzipped
//     into /dev/null — the physical minimum work.
//
// The base image is made locally from Debian's busybox-static and pushed
// into kiln's registry with skopeo; nothing is downloaded.
//
//	go run ./bench/buildbench -kiln /tmp/kiln [-runs 5] [-files 2000] [-big-mib 20] [-json out.json]
//
// It needs root: kiln's sandbox, buildah's chroot isolation and the
// floor's mounts all do.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

type options struct {
	kiln          string
	buildah       string
	runs          int
	files         int
	bigMiB        int
	storageDriver string
	tools         []string
	tmpDir        string
	jsonPath      string
	keep          bool
	layering      bool
}

func main() {
	var (
		o     options
		tools string
	)
	flag.StringVar(&o.kiln, "kiln", "", "path to the kiln binary to benchmark, built with CGO_ENABLED=0 (required)")
	flag.StringVar(&o.buildah, "buildah", "buildah", "the buildah to compare with")
	flag.IntVar(&o.runs, "runs", 5, "measured builds per tool, after one unmeasured first build")
	flag.IntVar(&o.files, "files", 2000, "small files the workload creates")
	flag.IntVar(&o.bigMiB, "big-mib", 20, "size of the workload's random file in MiB")
	flag.StringVar(&o.storageDriver, "storage-driver", "overlay", "buildah's storage driver (overlay or vfs)")
	flag.StringVar(&tools, "tools", "kiln,buildah,floor,kiln-arm64", "which tools to run, comma-separated (kiln-arm64: kiln's build of the workload for linux/arm64, under qemu-user)")
	flag.StringVar(&o.tmpDir, "tmpdir", "", "parent of the run's working directory (default: the system temp dir); every tool's files go there")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the working directory (logs, kiln's data) after the run")
	flag.BoolVar(&o.layering, "layering", true, "also run the layering workloads: multi-stage against buildah bud, and a rebuild with one changed instruction")
	flag.Parse()

	var err error
	if o.tools, err = parseTools(tools); err != nil {
		fmt.Fprintln(os.Stderr, "buildbench: -tools:", err)
		os.Exit(2)
	}
	if o.kiln == "" {
		fmt.Fprintln(os.Stderr, "buildbench: -kiln PATH is required (its registry holds every image)")
		os.Exit(2)
	}
	if o.runs < 1 || o.files < 1 || o.bigMiB < 1 {
		fmt.Fprintln(os.Stderr, "buildbench: -runs, -files and -big-mib must be at least 1")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "buildbench: needs root (kiln's sandbox, buildah's chroot isolation and the floor's mounts)")
		os.Exit(2)
	}
	benchkit.Run("buildbench", func(ctx context.Context) error { return run(ctx, o, os.Stdout, os.Stderr) })
}

// parseTools parses "kiln,floor" into the known tool names, in the
// table's order.
func parseTools(s string) ([]string, error) {
	want := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		switch f {
		case toolKiln, toolBuildah, toolFloor, toolKilnARM64:
			want[f] = true
		default:
			return nil, fmt.Errorf("%q: want kiln, buildah, floor or kiln-arm64", f)
		}
	}
	var out []string
	for _, t := range []string{toolKiln, toolBuildah, toolFloor, toolKilnARM64} {
		if want[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// builder is one tool's way of doing build n: its wall time and what its
// new layer held.
type builder func(ctx context.Context, n int) (time.Duration, layerCheck, error)

// run is the whole benchmark. Progress goes to progress; the report to out.
func run(ctx context.Context, o options, out, progress io.Writer) (err error) {
	logf := func(format string, args ...any) { fmt.Fprintf(progress, "buildbench: "+format+"\n", args...) }
	loadBefore := benchkit.LoadAverage()
	if benchkit.Busy(loadBefore) {
		logf("warning: load average is %.2f on %d CPUs; other work will skew the results", loadBefore, runtime.NumCPU())
	}
	wd, err := benchkit.NewWorkDir(o.tmpDir, "buildbench-", o.keep, logf)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := wd.Close(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	tmp := wd.Path

	steps := workload(o.files, o.bigMiB)
	es, err := baseEntries()
	if err != nil {
		return err
	}
	layoutDir, rootfs := filepath.Join(tmp, "base-layout"), filepath.Join(tmp, "base-rootfs")
	if err := writeLayout(layoutDir, es); err != nil {
		return fmt.Errorf("making the base image: %w", err)
	}
	if err := writeRootfs(rootfs, es); err != nil {
		return fmt.Errorf("unpacking the base image for the floor: %w", err)
	}

	// kiln always runs: its registry is where every image goes.
	kiln, err := benchkit.StartKiln(ctx, o.kiln, filepath.Join(tmp, "kiln-data"), filepath.Join(tmp, "kiln.log"))
	if err != nil {
		return err
	}
	wd.OnClose(func() { kiln.Stop(15 * time.Second) })
	logf("kiln at %s, working directory %s (%s)", kiln.Addr, tmp, benchkit.FilesystemType(tmp))
	if err := skopeoCopy(ctx, tmp, layoutDir, kiln.Addr+"/base:latest"); err != nil {
		return err
	}

	rep := report{Runs: o.runs, Files: o.files, BigMiB: o.bigMiB, Steps: steps, BuildahDriver: o.storageDriver}
	builders := map[string]builder{}
	var kb *kilnBuilder
	var bb *buildahBuilder
	var setupErrs []benchkit.Check
	if slices.Contains(o.tools, toolKiln) {
		kb, err = newKilnBuilder(ctx, kiln.Addr, steps)
		if err != nil {
			logf("kiln: setting up the recipe: %v", err)
			setupErrs = append(setupErrs, benchkit.Check{Name: "kiln: setting up the recipe", Detail: oneLine(err)})
		} else {
			builders[toolKiln] = func(ctx context.Context, n int) (time.Duration, layerCheck, error) {
				d, uri, err := kb.build(ctx)
				if err != nil {
					return 0, layerCheck{}, fmt.Errorf("%w\nkiln's log ends:\n%s", err, kiln.LogTail())
				}
				lc, err := registryCheck(ctx, uri)
				return d, lc, err
			}
		}
	}
	if slices.Contains(o.tools, toolKilnARM64) {
		// Left out, saying why, where no arm64 busybox can be had.
		if ab, err := newKilnARM64Builder(ctx, tmp, kiln.Addr, steps, es); err != nil {
			logf("kiln-arm64: left out: %v", err)
			o.tools = slices.DeleteFunc(slices.Clone(o.tools), func(t string) bool { return t == toolKilnARM64 })
		} else {
			builders[toolKilnARM64] = func(ctx context.Context, n int) (time.Duration, layerCheck, error) {
				d, uri, err := ab.build(ctx)
				if err != nil {
					return 0, layerCheck{}, fmt.Errorf("%w\nkiln's log ends:\n%s", err, kiln.LogTail())
				}
				lc, err := registryCheck(ctx, uri)
				return d, lc, err
			}
		}
	}
	if slices.Contains(o.tools, toolBuildah) {
		bb, err = newBuildahBuilder(o.buildah, kiln.Addr, o.storageDriver, filepath.Join(tmp, "buildah"), steps)
		if err != nil {
			return err
		}
		wd.OnClose(func() { bb.cleanup(context.Background()) })
		builders[toolBuildah] = func(ctx context.Context, n int) (time.Duration, layerCheck, error) {
			d, ref, err := bb.build(ctx, n)
			if err != nil {
				return 0, layerCheck{}, err
			}
			lc, err := registryCheck(ctx, ref)
			return d, lc, err
		}
	}
	if slices.Contains(o.tools, toolFloor) {
		fb, err := newFloorBuilder(rootfs, filepath.Join(tmp, "floor"))
		if err != nil {
			return err
		}
		rep.Compressor = strings.Join(fb.compressor, " ")
		builders[toolFloor] = func(ctx context.Context, n int) (time.Duration, layerCheck, error) {
			return fb.build(ctx, n, steps)
		}
	}

	timed := map[string]string{
		toolKiln:    "CreateImage → AVAILABLE",
		toolBuildah: "`bud` + `push`",
		toolFloor:   "mount, chroot ×" + fmt.Sprint(len(steps)) + ", umount, tar → " + rep.Compressor,
	}
	timed[toolKilnARM64] = arm64Timed
	results := map[string]*toolResult{}
	failed := map[string]error{}
	for _, t := range o.tools {
		results[t] = &toolResult{Tool: t, Timed: timed[t]}
	}
	// Round 0 is the unmeasured first build (caches cold: kiln unpacks the
	// base, buildah pulls it). Then every round builds once with each
	// tool, so drift in the machine's load touches all three alike.
	for round := 0; round <= o.runs; round++ {
		for _, t := range o.tools {
			b := builders[t]
			if b == nil || failed[t] != nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			d, lc, err := b(ctx, round)
			if err != nil {
				failed[t] = err
				logf("%-7s build %d failed: %v", t, round, err)
				continue
			}
			r := results[t]
			if round == 0 {
				r.First = d
				logf("%-7s first build %s", t, benchkit.Seconds(d))
				continue
			}
			r.Runs = append(r.Runs, d)
			r.Layers = append(r.Layers, lc)
			logf("%-7s build %d/%d %s", t, round, o.runs, benchkit.Seconds(d))
		}
	}

	if kb != nil && failed[toolKiln] == nil && len(kb.lastARNs) > 0 {
		st, err := kb.breakdown(ctx)
		if err != nil {
			logf("kiln's step times are not available: %v", err)
		}
		rep.KilnSteps = st
		rep.KilnStates = kb.lastStates
	}

	if o.layering && kb != nil && failed[toolKiln] == nil {
		if err := runLayering(ctx, &rep, kb, bb, kiln.Addr, steps, o.runs, logf); err != nil {
			logf("layering workloads: %v", err)
			rep.Checks = append(rep.Checks, benchkit.Check{Name: "layering workloads ran", Detail: oneLine(err)})
		}
	}
	for _, t := range o.tools {
		rep.Tools = append(rep.Tools, *results[t])
	}
	rep.Checks = append(rep.Checks, setupErrs...)
	for _, t := range o.tools {
		if err := failed[t]; err != nil {
			rep.Checks = append(rep.Checks, benchkit.Check{Name: t + ": every build succeeded", Detail: oneLine(err)})
			continue
		}
		rep.Checks = append(rep.Checks, layerChecks(*results[t], o.files, o.bigMiB)...)
	}
	rep.Targets = append(rep.evaluateTargets(), rep.arm64Ratio()...)
	rep.Machine = machineInfo(o.kiln, o.buildah, tmp, loadBefore)
	rep.writeMarkdown(out)
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	for _, t := range o.tools {
		if err := failed[t]; err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
	}
	for _, c := range rep.Checks {
		if !c.OK {
			return errors.New("check failed: " + c.Name + ": " + c.Detail)
		}
	}
	return nil
}

// oneLine is an error's first line: the table's checks are one line each;
// the whole text goes to the progress output.
func oneLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
