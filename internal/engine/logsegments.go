package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/blob"
)

// Build logs in a shared blob store (kiln serve --blob-store).
//
// The node running a build writes its logs to local files as always. A
// shipper copies what each file gained to the store as numbered segment
// objects, logs/<account>/<name>/<version>/<build>/<file>/<00000000>, at
// least once a second while output flows (sooner once 64 KiB are
// waiting): S3 objects cannot be appended to, so a growing log is a
// series of immutable pieces. `kiln logs` on any node reads the segments
// in order, and a follower on another node sees a line within about a
// second of its writing. The last segments are shipped before the build's
// status is recorded, so a follower that sees the build end has seen all
// of its output.

const (
	segmentTick  = 250 * time.Millisecond
	segmentEvery = time.Second
	segmentBatch = 64 << 10
	// segmentMax bounds one segment, and so what a reader holds in memory.
	segmentMax = 1 << 20
)

// segmentPrefix is where the segments of the log at rel (a StepExecution's
// Log, relative to the log directory) live.
func segmentPrefix(rel string) string {
	return "logs/" + path.Clean(filepath.ToSlash(rel)) + "/"
}

func segmentKey(rel string, seq int) string {
	return fmt.Sprintf("%s%08d", segmentPrefix(rel), seq)
}

// shippedFile is how far one local log file has been shipped.
type shippedFile struct {
	seq    int   // next segment number
	offset int64 // bytes of the file shipped
	last   time.Time
}

// shipSegments ships the log files of dir (relative name rel below the
// log directory) until the returned function is called; that function
// ships what is left and returns when it is stored.
func (e *Engine) shipSegments(dir, rel string) (stop func()) {
	if e.Blobs == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	files := map[string]*shippedFile{}
	go func() {
		defer close(done)
		t := time.NewTicker(segmentTick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.shipDir(ctx, dir, rel, files, false)
			}
		}
	}()
	return func() {
		cancel()
		<-done
		fctx, fcancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer fcancel()
		e.shipDir(fctx, dir, rel, files, true)
	}
}

// shipDir ships every file of dir that has output due (all of it when
// final).
func (e *Engine) shipDir(ctx context.Context, dir, rel string, files map[string]*shippedFile, final bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, ent := range ents {
		if !ent.Type().IsRegular() || !strings.HasSuffix(ent.Name(), ".log") {
			continue
		}
		name := ent.Name()
		sf := files[name]
		if sf == nil {
			sf = &shippedFile{last: time.Now()}
			// A build resumed (after a wait, or by another node after a
			// crash) continues the series it began.
			e.Blobs.List(ctx, segmentPrefix(path.Join(rel, name)), func(i blob.Info) error {
				sf.seq++
				sf.offset += i.Size
				return nil
			})
			files[name] = sf
		}
		if err := e.shipFile(ctx, filepath.Join(dir, name), path.Join(rel, name), sf, final); err != nil && ctx.Err() == nil {
			e.Log.Warn("shipping a log segment", "log", path.Join(rel, name), "err", err)
		}
	}
}

func (e *Engine) shipFile(ctx context.Context, file, rel string, sf *shippedFile, final bool) error {
	fi, err := os.Stat(file)
	if err != nil {
		return nil
	}
	if fi.Size() < sf.offset {
		// The file started over (a step run again, or a build resumed on
		// another node): its new content follows what was shipped.
		sf.offset = 0
	}
	pending := fi.Size() - sf.offset
	if pending == 0 || (!final && pending < segmentBatch && time.Since(sf.last) < segmentEvery) {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	for pending > 0 {
		n := min(pending, segmentMax)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, sf.offset); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if _, err := e.Blobs.Put(ctx, segmentKey(rel, sf.seq), bytes.NewReader(buf)); err != nil {
			return err
		}
		sf.seq++
		sf.offset += n
		pending -= n
	}
	sf.last = time.Now()
	return nil
}

// segmentCursor is how far a reader has read one log's segments.
type segmentCursor struct {
	next int // the next segment number to read
}

// copySegments writes the segments of log rel that cur has not read yet.
// It returns os.ErrNotExist (wrapped) when there are none at all, like a
// local log that does not exist yet.
func (e *Engine) copySegments(ctx context.Context, w io.Writer, rel string, cur *segmentCursor) (int64, error) {
	var keys []string
	prefix := segmentPrefix(rel)
	err := e.Blobs.List(ctx, prefix, func(i blob.Info) error {
		seq, err := strconv.Atoi(strings.TrimPrefix(i.Key, prefix))
		if err == nil && seq >= cur.next {
			keys = append(keys, i.Key)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(keys) == 0 && cur.next == 0 {
		return 0, os.ErrNotExist
	}
	var total int64
	for _, k := range keys {
		seq, _ := strconv.Atoi(strings.TrimPrefix(k, prefix))
		if seq != cur.next {
			break // a gap: the segment is being stored; read it next time
		}
		b, err := blob.ReadAll(ctx, e.Blobs, k, segmentMax)
		if err != nil {
			return total, err
		}
		n, err := w.Write(b)
		total += int64(n)
		if err != nil {
			return total, err
		}
		cur.next++
	}
	return total, nil
}

// StoreLogFile stores a finished log file (rel below the log directory)
// in blobs as segments, for `kiln migrate`; a log that has segments
// already is left as it is, so migrating twice copies nothing twice.
func StoreLogFile(ctx context.Context, blobs blob.Store, file, rel string) error {
	rel = filepath.ToSlash(rel)
	found := false
	err := blobs.List(ctx, segmentPrefix(rel), func(blob.Info) error { found = true; return errStopList })
	if err != nil && err != errStopList {
		return err
	}
	if found {
		return nil
	}
	e := &Engine{Blobs: blobs}
	return e.shipFile(ctx, file, rel, &shippedFile{}, true)
}

var errStopList = errors.New("stop")
