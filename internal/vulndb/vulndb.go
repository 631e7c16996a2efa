// Package vulndb is kiln's offline vulnerability database: OSV records
// (https://ossf.github.io/osv-schema/) imported from JSON files or the
// per-ecosystem zip archives OSV publishes, kept in kiln's store, and
// matched against the packages of an image.
//
// Nothing here reaches the network: an air-gapped site copies the archives
// in and imports them (kiln vulndb import). Records are replaced by ID
// when the imported one has a newer "modified" time, so importing the same
// archive again, or an older one, changes nothing.
package vulndb

import (
	"errors"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// Package is one installed package to match, in an OSV ecosystem.
type Package struct {
	Name    string
	Version string
	// SourceName and SourceVersion are the source package the binary
	// package was built from (dpkg's Source field, rpm's SOURCERPM, apk's
	// origin); empty when unknown, and then Name and Version stand for
	// them. An empty SourceVersion with a SourceName means Version. Debian's and
	// Ubuntu's records name source packages, so these are what match
	// there.
	SourceName    string
	SourceVersion string
	// Ecosystem is OSV's ecosystem with the release, e.g. "Debian:12",
	// "Ubuntu:24.04", "Alpine:v3.20", "Rocky Linux:9", "AlmaLinux:9"
	// (see EcosystemFor).
	Ecosystem string
}

// Severity levels of a Finding, Inspector's names.
const (
	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
	SeverityUntriaged     = "UNTRIAGED"
)

// Finding is one vulnerability record that affects one package.
type Finding struct {
	VulnerabilityID string   // the OSV id, e.g. "DEBIAN-CVE-2024-1234" or "CVE-2024-1234"
	Aliases         []string // other ids of the same vulnerability (CVE ids)
	Summary         string
	Details         string
	// Severity is one of the Severity constants: from the CVSS v3 base
	// score of the record's severity[] vector when it has one, else from
	// a severity word of the affected entry's ecosystem_specific or the
	// record's database_specific, else UNTRIAGED.
	Severity string
	// CVSSScore and CVSSVector are the CVSS v3 base score and vector
	// (0 and "" when the record has none); CVSSVersion is "3.0" or "3.1".
	CVSSScore   float64
	CVSSVector  string
	CVSSVersion string
	Package     Package // the matched package as given to Match
	// FixedIn is the version that fixes it in this ecosystem ("" when no
	// fix is known).
	FixedIn    string
	References []string // URLs
	Published  time.Time
	Modified   time.Time
}

// ImportStats counts what one Import did.
type ImportStats struct {
	Records  int `json:"records"`  // OSV records read
	Added    int `json:"added"`    // new IDs
	Replaced int `json:"replaced"` // IDs whose stored record was older
	Kept     int `json:"kept"`     // records no newer than the stored one: nothing changed
	Skipped  int `json:"skipped"`  // zip entries that are not .json files
}

// EcosystemStatus is one line of Status.
type EcosystemStatus struct {
	Ecosystem      string    `json:"ecosystem"`
	Records        int       `json:"records"`
	NewestModified time.Time `json:"newestModified"`
}

// ErrUnsupported is returned by Open for a store backend that has no
// vulnerability database (does not implement store.Advisories).
var ErrUnsupported = errors.New("vulndb: this store backend has no vulnerability database")

// InputError is bad input to Import: a malformed file or record. Name is
// the file (and zip entry) and Field the record member at fault, when
// known. Import changes nothing when it returns one.
type InputError struct {
	Name  string
	Field string
	Msg   string
}

func (e *InputError) Error() string {
	s := "vulndb: " + e.Name
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// DB is the vulnerability database over a store backend.
type DB struct {
	st store.Advisories
	// TempDir is where Import spools a zip archive given as a stream
	// (os.TempDir when empty).
	TempDir string
}

// Open returns the database kept in st.
func Open(st store.Store) (*DB, error) {
	a, ok := st.(store.Advisories)
	if !ok {
		return nil, ErrUnsupported
	}
	return &DB{st: a}, nil
}
