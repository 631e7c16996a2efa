package inventory

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// rpmDBDirs are the directories rpm keeps its database in: the historical
// /var/lib/rpm, and /usr/lib/sysimage/rpm where Fedora ≥ 36 and SUSE moved
// it (usually with /var/lib/rpm a link to it; links are resolved and each
// database is read once).
var rpmDBDirs = []string{"var/lib/rpm", "usr/lib/sysimage/rpm"}

// rpmBackends are the database formats rpm has used, most recent first.
// A directory holds one live database; when several files are present (an
// old Packages left behind after rpm --rebuilddb converted it, say) the
// newest format is the live one. Each reader gets the resolved,
// link-free path of its file inside root.
var rpmBackends = []struct {
	file string
	read func(root fs.FS, name string) ([][]byte, error)
}{
	{"rpmdb.sqlite", readRPMSQLite}, // rpm ≥ 4.16: Fedora ≥ 33, RHEL 9, Amazon Linux 2023
	{"Packages.db", readRPMNDB},     // SUSE since 2020
	{"Packages", readRPMBerkeleyDB}, // RHEL ≤ 8, CentOS, Amazon Linux 2
}

// readRPM returns the packages of every rpm database under root.
func readRPM(root fs.FS) ([]Package, error) {
	var pkgs []Package
	var errs []error
	seen := make(map[string]bool) // resolved paths already read
	for _, dir := range rpmDBDirs {
		for _, backend := range rpmBackends {
			name := dir + "/" + backend.file
			resolved, err := resolve(root, name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("inventory: open /%s: %w", name, err))
				break
			}
			if seen[resolved] {
				break
			}
			seen[resolved] = true
			blobs, err := backend.read(root, resolved)
			if err != nil {
				errs = append(errs, fmt.Errorf("inventory: read /%s: %w", name, err))
				break
			}
			found, err := rpmPackagesFromBlobs(blobs)
			pkgs = append(pkgs, found...)
			if err != nil {
				errs = append(errs, fmt.Errorf("inventory: read /%s: %w", name, err))
			}
			break
		}
	}
	return pkgs, errors.Join(errs...)
}

// readRPMSQLite returns the header blobs of an rpmdb.sqlite, in package
// instance order. The file belongs to the image, and SQLite may write
// beside a database it opens (journals, -shm files), so it is copied to a
// private temporary directory first, together with its write-ahead log if
// a non-empty one was left behind. Without a log the copy is opened
// read-only and immutable (no locking, no journal); with one it must be
// opened writable so SQLite can apply the log, but is only ever queried.
func readRPMSQLite(root fs.FS, name string) ([][]byte, error) {
	dir, err := os.MkdirTemp("", "kiln-rpmdb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "rpmdb.sqlite")
	if err := copyFromFS(dbPath, root, name); err != nil {
		return nil, err
	}
	hasWAL := false
	if wal, err := resolve(root, name+"-wal"); err == nil {
		if info, err := fs.Stat(root, wal); err == nil && info.Mode().IsRegular() && info.Size() > 0 {
			if err := copyFromFS(dbPath+"-wal", root, wal); err != nil {
				return nil, err
			}
			hasWAL = true
		}
	}
	return querySQLiteBlobs(dbPath, hasWAL)
}

// querySQLiteBlobs reads every blob of the Packages table (rpm's schema:
// "Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)").
func querySQLiteBlobs(dbPath string, hasWAL bool) ([][]byte, error) {
	u := url.URL{Scheme: "file", Path: dbPath}
	q := url.Values{}
	if hasWAL {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("mode", "ro")
		q.Set("immutable", "1")
	}
	u.RawQuery = q.Encode()
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, "SELECT blob FROM Packages ORDER BY hnum")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var blobs [][]byte
	for rows.Next() {
		var blob []byte
		if err := rows.Scan(&blob); err != nil {
			return nil, err
		}
		blobs = append(blobs, blob)
	}
	return blobs, rows.Err()
}

// copyFromFS copies the file name of fsys (a resolved path) to a new file
// at dst on the host.
func copyFromFS(dst string, fsys fs.FS, name string) error {
	src, err := fsys.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// openReaderAt opens the file name of fsys (a resolved path) for random
// access: the file itself when it supports ReadAt (os.File does), else its
// contents read into memory. The caller must call close.
func openReaderAt(fsys fs.FS, name string) (r io.ReaderAt, size int64, close func() error, err error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, 0, nil, fmt.Errorf("not a regular file")
	}
	if ra, ok := f.(io.ReaderAt); ok {
		return ra, info.Size(), f.Close, nil
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, nil, err
	}
	return bytes.NewReader(data), int64(len(data)), func() error { return nil }, nil
}
