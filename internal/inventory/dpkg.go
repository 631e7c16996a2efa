package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Where dpkg keeps its database. Distroless images have no status file and
// instead one file per package in status.d, written at image build time.
const (
	dpkgStatusPath = "var/lib/dpkg/status"
	dpkgStatusDir  = "var/lib/dpkg/status.d"
)

// readDpkg returns the installed packages recorded by dpkg under root:
// those in /var/lib/dpkg/status and in every file of
// /var/lib/dpkg/status.d (skipping the *.md5sums lists distroless puts
// beside them). Missing files are not an error.
func readDpkg(root fs.FS) ([]Package, error) {
	var pkgs []Package
	data, err := readFile(root, dpkgStatusPath)
	switch {
	case err == nil:
		pkgs = append(pkgs, parseDpkgStatus(string(data), false)...)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("inventory: read /%s: %w", dpkgStatusPath, err)
	}

	entries, dir, err := readDir(root, dpkgStatusDir)
	if errors.Is(err, fs.ErrNotExist) {
		return pkgs, nil
	}
	if err != nil {
		return pkgs, fmt.Errorf("inventory: read /%s: %w", dpkgStatusDir, err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".md5sums") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		data, err := readFile(root, dir+"/"+e.Name())
		if err != nil {
			return pkgs, fmt.Errorf("inventory: read /%s/%s: %w", dpkgStatusDir, e.Name(), err)
		}
		pkgs = append(pkgs, parseDpkgStatus(string(data), true)...)
	}
	return pkgs, nil
}

// parseDpkgStatus parses deb822 stanzas (RFC 822-style "Field: value"
// paragraphs separated by blank lines, with continuation lines starting
// with a space or tab) and returns the installed packages among them.
//
// A package counts as installed when the third word of its Status field
// ("want flag state") is "installed": "install ok installed" as well as
// "hold ok installed" (pinned, but present) and "deinstall ok installed"
// (marked for removal, files still present). "config-files",
// "half-installed" and "not-installed" packages are skipped. Stanzas from
// status.d files (statusDir) often carry no Status at all, as distroless
// writes them only for installed packages; those count as installed.
// Stanzas without a Package field are skipped.
func parseDpkgStatus(text string, statusDir bool) []Package {
	var pkgs []Package
	fields := make(map[string]string)
	flush := func() {
		if name := fields["package"]; name != "" {
			status, hasStatus := fields["status"]
			if (statusDir && !hasStatus) || dpkgInstalled(status) {
				srcName, srcVersion := dpkgSource(fields["source"], name, fields["version"])
				pkgs = append(pkgs, Package{
					Name:          name,
					Version:       fields["version"],
					Arch:          fields["architecture"],
					Source:        SourceDpkg,
					SourceName:    srcName,
					SourceVersion: srcVersion,
				})
			}
		}
		clear(fields)
	}
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue // continuation of a multi-line field we do not need, or a comment
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		// Field names are case-insensitive in deb822.
		fields[strings.ToLower(strings.TrimSpace(key))] = strings.TrimSpace(value)
	}
	flush()
	return pkgs
}

// dpkgInstalled reports whether a dpkg Status value says the package's
// files are installed.
func dpkgInstalled(status string) bool {
	words := strings.Fields(status)
	return len(words) == 3 && words[2] == "installed"
}

// dpkgSource reads a Source field: "name" or "name (version)", the version
// given only when the source's differs from the binary's (a binNMU such
// as "1.2-3+b1" built from source "1.2-3"). Without the field the source
// package has the binary's name and version (deb-control(5)).
func dpkgSource(field, name, version string) (string, string) {
	field = strings.TrimSpace(field)
	if field == "" {
		return name, version
	}
	src, rest, ok := strings.Cut(field, " ")
	if !ok {
		return src, version
	}
	rest = strings.TrimSpace(rest)
	if v, ok := strings.CutPrefix(rest, "("); ok {
		if v, ok := strings.CutSuffix(v, ")"); ok && strings.TrimSpace(v) != "" {
			return src, strings.TrimSpace(v)
		}
	}
	return src, version
}
