package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// floorBuilder does the least any container build of the workload must
// do, with plain commands and nothing else: mount an overlay with a fresh
// upper directory over the unpacked base, run each step with `chroot ROOT
// /bin/sh -c`, unmount, and compress the upper directory as a tar — the
// new layer — into /dev/null. No registry, no image config, no
// bookkeeping: the physical minimum a tool's time is compared with.
type floorBuilder struct {
	lower      string // the unpacked base image, read-only
	dir        string // parent of each build's directories
	compressor []string
}

func newFloorBuilder(lower, dir string) (*floorBuilder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, tool := range []string{"mount", "umount", "chroot", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("the floor needs %s: %w", tool, err)
		}
	}
	return &floorBuilder{lower: lower, dir: dir, compressor: floorCompressor()}, nil
}

// floorCompressor is pigz -1 where installed (parallel, as fast as gzip
// gets), else gzip -1.
func floorCompressor() []string {
	if _, err := exec.LookPath("pigz"); err == nil {
		return []string{"pigz", "-1"}
	}
	return []string{"gzip", "-1"}
}

// layerCheck is what a build's new layer held: the proof that every tool
// did the same work.
type layerCheck struct {
	SmallFiles int   `json:"small_files"`
	BigBytes   int64 `json:"big_bytes"`
	Done       bool  `json:"done"`
	// Compressed is the layer's compressed size (0 for the floor, whose
	// layer goes to /dev/null).
	Compressed int64  `json:"compressed_bytes"`
	Digest     string `json:"digest,omitempty"`
}

// build runs build n and returns its wall time and what its upper
// directory held.
func (f *floorBuilder) build(ctx context.Context, n int, steps []step) (time.Duration, layerCheck, error) {
	root := filepath.Join(f.dir, fmt.Sprint(n))
	upper, work, merged := filepath.Join(root, "upper"), filepath.Join(root, "work"), filepath.Join(root, "merged")
	start := time.Now()
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, layerCheck{}, err
		}
	}
	elapsed, err := f.runSteps(ctx, start, upper, work, merged, steps)
	if err != nil {
		return 0, layerCheck{}, err
	}
	// Not timed: look at what the steps left, then throw it away.
	lc := upperCheck(upper)
	if err := benchkit.RemoveUnmounted(root); err != nil {
		return 0, lc, err
	}
	return elapsed, lc, nil
}

// runSteps is the timed part of a floor build. The overlay and /dev are
// unmounted whatever happens, so nothing is left mounted under the run's
// directory.
func (f *floorBuilder) runSteps(ctx context.Context, start time.Time, upper, work, merged string, steps []step) (elapsed time.Duration, err error) {
	if err := benchkit.Command(ctx, "mount", "-t", "overlay", "overlay",
		"-o", "lowerdir="+f.lower+",upperdir="+upper+",workdir="+work, merged); err != nil {
		return 0, err
	}
	mounted := []string{merged}
	defer func() {
		for i := len(mounted) - 1; i >= 0; i-- {
			if uerr := benchkit.Command(context.Background(), "umount", mounted[i]); uerr != nil && err == nil {
				err = uerr
			}
		}
	}()
	dev := filepath.Join(merged, "dev")
	if err := benchkit.Command(ctx, "mount", "--bind", "/dev", dev); err != nil {
		return 0, err
	}
	mounted = append(mounted, dev)
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, "chroot", merged, "/bin/sh", "-c", s.Command)
		cmd.Env = []string{"PATH=/bin", "HOME=/root"}
		cmd.Dir = "/"
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("floor step %s: %v\n%s", s.Name, err, out)
		}
	}
	for len(mounted) > 0 {
		last := mounted[len(mounted)-1]
		if err := benchkit.Command(ctx, "umount", last); err != nil {
			return 0, err
		}
		mounted = mounted[:len(mounted)-1]
	}
	if err := f.compress(ctx, upper); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// compress runs `tar -C upper -c . | COMPRESSOR > /dev/null`, checking
// both ends of the pipe (which sh cannot do without pipefail).
func (f *floorBuilder) compress(ctx context.Context, upper string) error {
	tarCmd := exec.CommandContext(ctx, "tar", "-C", upper, "-c", ".")
	zip := exec.CommandContext(ctx, f.compressor[0], f.compressor[1:]...)
	pipe, err := tarCmd.StdoutPipe()
	if err != nil {
		return err
	}
	zip.Stdin = pipe
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devNull.Close()
	zip.Stdout = devNull
	var tarErr, zipErr strings.Builder
	tarCmd.Stderr, zip.Stderr = &tarErr, &zipErr
	if err := tarCmd.Start(); err != nil {
		return err
	}
	if err := zip.Start(); err != nil {
		tarCmd.Process.Kill()
		tarCmd.Wait()
		return err
	}
	err1 := tarCmd.Wait()
	err2 := zip.Wait()
	if err1 != nil {
		return fmt.Errorf("tar -C %s -c .: %v: %s", upper, err1, tarErr.String())
	}
	if err2 != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(f.compressor, " "), err2, zipErr.String())
	}
	return nil
}

// upperCheck counts what the workload left in an upper directory.
func upperCheck(upper string) layerCheck {
	var lc layerCheck
	if es, err := os.ReadDir(filepath.Join(upper, "opt/bench/small")); err == nil {
		lc.SmallFiles = len(es)
	}
	if fi, err := os.Stat(filepath.Join(upper, "opt/bench/big")); err == nil {
		lc.BigBytes = fi.Size()
	}
	_, err := os.Stat(filepath.Join(upper, "opt/bench/done"))
	lc.Done = err == nil
	return lc
}
