package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// followPoll is how often a following log reader looks for new output.
const followPoll = 200 * time.Millisecond

// WriteLogs writes the logs of an image build to w: every step of every
// workflow execution in the order they ran, each under a header line. With
// follow it keeps writing as the build goes on, until the image reaches a
// terminal state (or ctx ends). canSee decides whether the caller may read
// the image's logs (ownership and sharing are the service's rules).
func (e *Engine) WriteLogs(ctx context.Context, w io.Writer, image string, follow bool, canSee func(store.Resource) bool) error {
	e.init()
	offsets := map[string]int64{}          // step execution id → bytes written
	cursors := map[string]*segmentCursor{} // the same, from a shared blob store
	headed := map[string]bool{}
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	for {
		var (
			status string
			steps  []StepExecution
		)
		err := e.Store.View(ctx, func(tx store.Tx) error {
			r, err := tx.Get(ctx, image)
			if errors.Is(err, store.ErrNotFound) || (err == nil && !canSee(r)) {
				return awsapi.Errorf(awsapi.ErrCodeResourceNotFoundException, "The resource Image '%s' does not exist.", image)
			} else if err != nil {
				return err
			}
			img, err := decode[awsapi.Image](r)
			if err != nil {
				return err
			}
			if img.State != nil {
				status = img.State.Status
			}
			execs, err := WorkflowExecutions(ctx, tx, e.Region, image)
			if err != nil {
				return err
			}
			for _, x := range execs {
				s, err := StepExecutions(ctx, tx, e.Region, x.WorkflowExecutionId)
				if err != nil {
					return err
				}
				steps = append(steps, s...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(steps) == 0 {
			// Imports run no workflows: their one log is the build log.
			steps = []StepExecution{{Log: filepath.Join(imageDir(image), "build.log")}}
			steps[0].StepExecutionId, steps[0].Name, steps[0].Action = "build", "build", "kiln"
		}
		for _, s := range steps {
			path := LogPath(e.logDir(), s)
			if path == "" {
				continue
			}
			if !headed[s.StepExecutionId] {
				fmt.Fprintf(w, "==> %s (%s) %s <==\n", s.Name, s.Action, s.StepExecutionId)
				headed[s.StepExecutionId] = true
			}
			var err error
			if e.Blobs != nil {
				cur := cursors[s.StepExecutionId]
				if cur == nil {
					cur = &segmentCursor{}
					cursors[s.StepExecutionId] = cur
				}
				_, err = e.copySegments(ctx, w, s.Log, cur)
			} else {
				var n int64
				n, err = copyFrom(w, path, offsets[s.StepExecutionId])
				offsets[s.StepExecutionId] += n
			}
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		flush()
		if !follow || isTerminal(status) {
			if follow {
				fmt.Fprintf(w, "==> image %s is %s <==\n", image, status)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
	}
}

// copyFrom copies the file at path from offset on.
func copyFrom(w io.Writer, path string, offset int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, err
	}
	return io.Copy(w, f)
}

// WorkDir is where the build of image keeps its working files (and, when
// kept after a failure, the instance `kiln shell` opens), given kiln's
// data directory.
func WorkDir(dataDir, image string) string {
	return filepath.Join(dataDir, "builds", imageDir(image))
}

// trashSuffix marks a build directory being deleted in the background.
const trashSuffix = ".trash"

// RemoveInBackground moves dir aside (a rename, instant) and deletes it
// in a goroutine.
func RemoveInBackground(dir string) error {
	trash := fmt.Sprintf("%s%s-%d", dir, trashSuffix, time.Now().UnixNano())
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return os.RemoveAll(dir)
	}
	go os.RemoveAll(trash)
	return nil
}

// SweepTrash deletes build directories a crash left half-deleted.
func SweepTrash(dataDir string) {
	filepath.WalkDir(filepath.Join(dataDir, "builds"), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.Contains(filepath.Base(p), trashSuffix+"-") {
			os.RemoveAll(p)
			return filepath.SkipDir
		}
		return nil
	})
}
