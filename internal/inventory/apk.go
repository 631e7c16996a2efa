package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// apkInstalledPath is the database of apk-tools (Alpine, Wolfi, Chainguard).
const apkInstalledPath = "lib/apk/db/installed"

// readApk returns the packages recorded in /lib/apk/db/installed; a missing
// file is not an error.
func readApk(root fs.FS) ([]Package, error) {
	data, err := readFile(root, apkInstalledPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("inventory: read /%s: %w", apkInstalledPath, err)
	}
	return parseApkInstalled(string(data)), nil
}

// parseApkInstalled parses the apk installed database: one record per
// package, separated by blank lines, each line a one-letter key, a colon
// and a value. P is the package name, V its version (already including the
// -rN release suffix), A its architecture and o its origin, the aports
// package it was built from (the source package, versioned like it); the other keys (files,
// checksums, dependencies) are not needed here. Every package in the file
// is installed. Records without P are skipped.
func parseApkInstalled(text string) []Package {
	var pkgs []Package
	var cur Package
	flush := func() {
		if cur.Name != "" {
			cur.Source = SourceApk
			if cur.SourceName != "" {
				cur.SourceVersion = cur.Version // an origin has no version of its own
			}
			pkgs = append(pkgs, cur)
		}
		cur = Package{}
	}
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		value := line[2:]
		switch line[0] {
		case 'P':
			cur.Name = value
		case 'V':
			cur.Version = value
		case 'A':
			cur.Arch = value
		case 'o':
			cur.SourceName = value
		}
	}
	flush()
	return pkgs
}
