package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// OS identifies the distribution of a root file system, as its os-release
// file describes it (see os-release(5)).
type OS struct {
	ID         string // "amzn", "debian", "ubuntu", "rhel", "alpine", …
	VersionID  string // "2023", "12", "22.04", "3.19.1"; empty on rolling releases
	Name       string // "Amazon Linux", "Debian GNU/Linux"
	PrettyName string // "Amazon Linux 2023.6.20241010", "Debian GNU/Linux 12 (bookworm)"
	IDLike     string // space-separated list, e.g. "centos rhel fedora"
}

// osReleasePaths are where os-release(5) says to look, in order: the
// /etc file wins, and /usr/lib/os-release is the vendor's fallback.
var osReleasePaths = []string{"etc/os-release", "usr/lib/os-release"}

// ReadOS reads the os-release file of the root file system fsys, looking in
// /etc/os-release and then /usr/lib/os-release. Symbolic links (on most
// distributions /etc/os-release is one) are followed inside the root only.
// If neither file exists the error satisfies errors.Is(err, fs.ErrNotExist);
// scratch and distroless-static images have none.
func ReadOS(root fs.FS) (OS, error) {
	for _, p := range osReleasePaths {
		data, err := readFile(root, p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return OS{}, fmt.Errorf("inventory: read /%s: %w", p, err)
		}
		vars := parseOSRelease(string(data))
		return OS{
			ID:         vars["ID"],
			VersionID:  vars["VERSION_ID"],
			Name:       vars["NAME"],
			PrettyName: vars["PRETTY_NAME"],
			IDLike:     vars["ID_LIKE"],
		}, nil
	}
	return OS{}, fmt.Errorf("inventory: no /etc/os-release or /usr/lib/os-release: %w", fs.ErrNotExist)
}

// parseOSRelease parses the shell-compatible assignments of an os-release
// file. Values may be bare, double-quoted (where \", \\, \$ and \` are
// escapes) or single-quoted; comments, blank lines and lines that are not
// assignments are skipped, as os-release(5) tells readers to do.
func parseOSRelease(text string) map[string]string {
	vars := make(map[string]string)
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			continue
		}
		vars[key] = unquoteShell(value)
	}
	return vars
}

// unquoteShell undoes the quoting os-release(5) allows on a value.
func unquoteShell(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
				i++
			}
			b.WriteByte(v[i])
		}
		return b.String()
	}
	return v
}

// distroNames maps an os-release ID to the distribution name Image Builder
// puts in front of the version in osVersion and supportedOsVersions
// ("Amazon Linux 2023", "Red Hat Enterprise Linux 9", "SLES 15",
// "Ubuntu 22" are the spellings of AWS's own images and the CDK's
// OSVersion constants). IDs not listed fall back to the NAME field.
var distroNames = map[string]string{
	"amzn":          "Amazon Linux",
	"rhel":          "Red Hat Enterprise Linux",
	"centos":        "CentOS",
	"ubuntu":        "Ubuntu",
	"debian":        "Debian",
	"sles":          "SLES",
	"sles_sap":      "SLES",
	"fedora":        "Fedora",
	"rocky":         "Rocky Linux",
	"almalinux":     "AlmaLinux",
	"ol":            "Oracle Linux",
	"opensuse-leap": "openSUSE Leap",
	"alpine":        "Alpine Linux",
}

// ImageBuilderVersion returns the string Image Builder shows as an image's
// osVersion, which recipes' supportedOsVersions are matched against by
// prefix: the distribution's name followed by its major version.
//
// The mapping, decided here because AWS does not publish one:
//   - the name comes from distroNames by ID ("amzn" → "Amazon Linux",
//     "debian" → "Debian", "sles" → "SLES", …), else from NAME, else "Linux";
//   - the version is the part of VERSION_ID before the first dot, so
//     Ubuntu "22.04" → "Ubuntu 22", RHEL "9.4" → "Red Hat Enterprise Linux 9",
//     Amazon Linux "2023" → "Amazon Linux 2023", "2" → "Amazon Linux 2";
//   - Alpine keeps major.minor ("Alpine Linux 3.19"), because its major
//     version has been 3 for a decade and says nothing;
//   - a CentOS whose NAME says Stream is "CentOS Stream 9";
//   - without a VERSION_ID (Debian sid, Arch) only the name is returned.
//
// The zero OS (no os-release found) yields "", which callers should leave
// out of the image rather than guess.
func (o OS) ImageBuilderVersion() string {
	if o == (OS{}) {
		return ""
	}
	name := distroNames[o.ID]
	switch {
	case o.ID == "centos" && strings.Contains(o.Name, "Stream"):
		name = "CentOS Stream"
	case name == "":
		name = strings.TrimSpace(o.Name)
	}
	if name == "" {
		name = "Linux"
	}
	version := o.VersionID
	parts := strings.SplitN(version, ".", 3)
	if o.ID == "alpine" && len(parts) >= 2 {
		version = parts[0] + "." + parts[1]
	} else {
		version = parts[0]
	}
	if version == "" {
		return name
	}
	return name + " " + version
}
