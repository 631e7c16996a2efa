package vulndb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/kiln-build/kiln/internal/store"
)

// importBatch is how many records one store transaction writes: large
// enough that an archive of 100k records costs fifty commits (fsyncs),
// small enough that the builds' own writes, queued behind a batch, wait
// tens of milliseconds.
const importBatch = 2000

// Import reads OSV records from r, named name: one JSON record or a zip
// archive of them (OSV's per-ecosystem all.zip), told apart by name's
// extension (.json, .zip) or else by their first bytes. Each record whose
// id is new, or whose "modified" is newer than the stored record's, is
// stored; older or equal ones change nothing.
//
// Import streams: a zip given as anything but a file is spooled to a
// temporary file (a zip's directory is at its end), its directory is
// walked one entry at a time (walkZip), and records are read, checked and
// written a batch at a time, so memory does not grow with the archive. Every record is checked in a first pass before any is written,
// so bad input — an *InputError naming the file, entry and member —
// changes nothing.
func (db *DB) Import(ctx context.Context, r io.Reader, name string) (ImportStats, error) {
	br := bufio.NewReader(r)
	isZip := strings.EqualFold(path.Ext(name), ".zip")
	if !isZip && !strings.EqualFold(path.Ext(name), ".json") {
		head, _ := br.Peek(4)
		isZip = bytes.Equal(head, []byte("PK\x03\x04"))
	}
	if !isZip {
		return db.importJSON(ctx, br, name)
	}
	ra, size, cleanup, err := db.randomAccess(r, br)
	if err != nil {
		return ImportStats{}, err
	}
	defer cleanup()
	return db.importZip(ctx, ra, size, name)
}

// importJSON stores one record.
func (db *DB) importJSON(ctx context.Context, r io.Reader, name string) (ImportStats, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxRecordSize+1))
	if err != nil {
		return ImportStats{}, fmt.Errorf("vulndb: read %s: %w", name, err)
	}
	rec, err := parseRecord(data)
	if err != nil {
		return ImportStats{}, inputError(name, err)
	}
	var st ImportStats
	err = db.put(ctx, &st, []store.Advisory{advisory(rec, data)})
	return st, err
}

// randomAccess returns r as an io.ReaderAt: r itself when it is a regular
// file, else a temporary copy of everything br (which wraps r) yields.
func (db *DB) randomAccess(r io.Reader, br *bufio.Reader) (io.ReaderAt, int64, func(), error) {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if off, err := f.Seek(0, io.SeekCurrent); err == nil && off == 0 {
				return f, fi.Size(), func() {}, nil
			}
		}
	}
	tmp, err := os.CreateTemp(db.TempDir, "kiln-vulndb-*.zip")
	if err != nil {
		return nil, 0, nil, fmt.Errorf("vulndb: spool archive: %w", err)
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	n, err := io.Copy(tmp, br)
	if err != nil {
		cleanup()
		return nil, 0, nil, fmt.Errorf("vulndb: spool archive: %w", err)
	}
	return tmp, n, cleanup, nil
}

// importZip checks every .json entry, then stores them in batches; other
// entries (directories, a README) are counted as skipped. The archive is
// walked with walkZip, one directory entry at a time.
func (db *DB) importZip(ctx context.Context, ra io.ReaderAt, size int64, name string) (ImportStats, error) {
	var st ImportStats
	entries := &zipEntryReader{r: &windowReader{r: ra}, size: size} // read in file order
	skipped := 0
	each := func(ctx context.Context, fn func(rec parsedRecord, data []byte) error) error {
		skipped = 0
		err := walkZip(ra, size, func(e zipEntry) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if e.isDir() || !strings.EqualFold(path.Ext(e.name), ".json") {
				skipped++
				return nil
			}
			entry := name + ": " + e.name
			b, err := entries.read(e, maxRecordSize)
			if err != nil {
				return &InputError{Name: entry, Msg: err.Error()}
			}
			rec, err := parseRecord(b)
			if err != nil {
				return inputError(entry, err)
			}
			return fn(rec, b)
		})
		if errors.Is(err, errZip) {
			return &InputError{Name: name, Msg: err.Error()}
		}
		return err
	}
	// First pass: every record is checked, nothing is written.
	if err := each(ctx, func(parsedRecord, []byte) error { return nil }); err != nil {
		return ImportStats{}, err
	}
	st.Skipped = skipped
	// Second pass: parse and write, the next batch being read while the
	// store commits the last. A failed write stops the reading; batches
	// committed before it stay (they are valid records, and importing
	// again is idempotent).
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []store.Advisory, 1)
	done := make(chan error, 1)
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				if err = db.put(ctx, &st, b); err != nil {
					cancel()
				}
			}
		}
		done <- err
	}()
	batch := make([]store.Advisory, 0, importBatch)
	readErr := each(wctx, func(rec parsedRecord, data []byte) error {
		batch = append(batch, advisory(rec, data))
		if len(batch) == importBatch {
			batches <- batch
			batch = make([]store.Advisory, 0, importBatch)
		}
		return nil
	})
	if readErr == nil && len(batch) > 0 {
		batches <- batch
	}
	close(batches)
	if err := <-done; err != nil {
		return st, err
	}
	return st, readErr
}

// put writes one batch and counts what happened to each record.
func (db *DB) put(ctx context.Context, st *ImportStats, batch []store.Advisory) error {
	outcomes, err := db.st.PutAdvisories(ctx, batch)
	if err != nil {
		return fmt.Errorf("vulndb: store records: %w", err)
	}
	for _, o := range outcomes {
		st.Records++
		switch o {
		case store.Added:
			st.Added++
		case store.Replaced:
			st.Replaced++
		default:
			st.Kept++
		}
	}
	return nil
}

// advisory is a checked record as the store keeps it: compacted, with its
// index rows.
func advisory(p parsedRecord, data []byte) store.Advisory {
	var buf bytes.Buffer
	doc := data
	if json.Compact(&buf, data) == nil {
		doc = buf.Bytes()
	}
	a := store.Advisory{ID: p.rec.ID, Modified: p.modified, Doc: doc}
	for _, k := range p.affects() {
		a.Affects = append(a.Affects, store.Affected{Ecosystem: k.ecosystem, Package: k.name})
	}
	return a
}

func inputError(name string, err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return &InputError{Name: name, Field: fe.field, Msg: fe.msg}
	}
	return &InputError{Name: name, Msg: err.Error()}
}

// Status returns each ecosystem's record count and newest modified time,
// in ecosystem order.
func (db *DB) Status(ctx context.Context) ([]EcosystemStatus, error) {
	counts, err := db.st.AdvisoryCounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("vulndb: status: %w", err)
	}
	out := make([]EcosystemStatus, 0, len(counts))
	for _, c := range counts {
		out = append(out, EcosystemStatus{Ecosystem: c.Ecosystem, Records: c.Records, NewestModified: c.NewestModified})
	}
	return out, nil
}

// windowSize is how much of an archive windowReader reads at once.
const windowSize = 1 << 20

// windowReader serves ReadAt from a window of the underlying file, read
// windowSize bytes at a time. Each zip entry is read with two small
// ReadAt calls (its local header, then its data), in file order when
// walking the directory; unbuffered that is hundreds of thousands of
// system calls for an ecosystem archive.
type windowReader struct {
	r   io.ReaderAt
	buf []byte
	off int64 // file offset of buf[0]
}

func (w *windowReader) ReadAt(p []byte, off int64) (int, error) {
	if len(p) > windowSize/2 {
		return w.r.ReadAt(p, off) // large reads gain nothing from the window
	}
	if off < w.off || off+int64(len(p)) > w.off+int64(len(w.buf)) {
		if w.buf == nil {
			w.buf = make([]byte, windowSize)
		}
		w.buf = w.buf[:cap(w.buf)]
		n, err := w.r.ReadAt(w.buf, off)
		if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
			w.buf = w.buf[:0]
			return 0, err
		}
		w.buf, w.off = w.buf[:n], off
	}
	n := copy(p, w.buf[off-w.off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
