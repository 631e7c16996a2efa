package store

import (
	"context"
	"time"
)

// Advisory is one vulnerability record of the offline vulnerability
// database (an OSV record), as internal/vulndb stores it.
//
// The database has a storage of its own, Advisories, rather than being
// Resources of some kind: a record is not owned by an account, has no
// ARN, tags or policy, and is found by (ecosystem, package) — the pairs
// of its affected[] entries, one record naming many — which no Resource
// column can index. An ecosystem archive holds hundreds of thousands of
// records, so the lookup a scan does for each package of an image must be
// an index probe, not a walk over a kind.
type Advisory struct {
	ID       string
	Modified time.Time
	// Doc is the record as imported (OSV JSON), opaque to the store.
	Doc []byte
	// Affects are the (ecosystem, package) pairs the record's affected[]
	// entries name; each is an index row.
	Affects []Affected
}

// Affected is one (ecosystem, package) pair an Advisory names, e.g.
// ("Debian:12", "openssl").
type Affected struct {
	Ecosystem string
	Package   string
}

// AdvisoryCount is what Advisories.Counts says about one ecosystem.
type AdvisoryCount struct {
	Ecosystem string
	Records   int
	// NewestModified is the latest Modified among its records.
	NewestModified time.Time
}

// PutOutcome says what PutAdvisories did with one record.
type PutOutcome int

const (
	// Added: no record had the ID.
	Added PutOutcome = iota
	// Replaced: the stored record with the ID was older.
	Replaced
	// Kept: the stored record was as new or newer; nothing changed.
	Kept
)

// Advisories stores the vulnerability database. A Store backend that can
// hold it implements this interface too (store/sqlite does); internal/vulndb
// asks for it with a type assertion, so a backend without it simply has no
// vulnerability database.
type Advisories interface {
	// PutAdvisories writes a batch of records in one durable transaction,
	// each replacing the stored record with its ID only when its Modified
	// is newer. It returns one outcome per record, in order.
	PutAdvisories(ctx context.Context, batch []Advisory) ([]PutOutcome, error)
	// AdvisoriesFor calls fn with every record naming package pkg (exact
	// name) in ecosystem, in ID order, each record once per call. fn must
	// not keep a.Doc past its return.
	AdvisoriesFor(ctx context.Context, ecosystem string, pkgs []string, fn func(pkg string, a Advisory) error) error
	// AdvisoryCounts returns, per ecosystem in name order, how many
	// records name it and the newest Modified among them.
	AdvisoryCounts(ctx context.Context) ([]AdvisoryCount, error)
}
