package vulndb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// maxRecordSize bounds one OSV record (a .json file or zip entry). Real
// records are a few kilobytes; the largest (kernel records listing
// thousands of versions) stay well under a megabyte.
const maxRecordSize = 16 << 20

// maxIDLength bounds a record's id; OSV ids are short ("DEBIAN-CVE-2024-12345").
const maxIDLength = 255

// osvRecord is the part of an OSV record (schema 1.x) kiln reads.
// Members kiln does not use are kept only in the stored document.
type osvRecord struct {
	ID               string          `json:"id"`
	Modified         string          `json:"modified"`
	Published        string          `json:"published"`
	Withdrawn        string          `json:"withdrawn"`
	Aliases          []string        `json:"aliases"`
	Summary          string          `json:"summary"`
	Details          string          `json:"details"`
	Severity         []osvSeverity   `json:"severity"`
	Affected         []osvAffected   `json:"affected"`
	References       []osvReference  `json:"references"`
	DatabaseSpecific json.RawMessage `json:"database_specific"`
}

type osvSeverity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

type osvPackage struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
}

type osvAffected struct {
	Package           osvPackage      `json:"package"`
	Severity          []osvSeverity   `json:"severity"`
	Ranges            []osvRange      `json:"ranges"`
	Versions          []string        `json:"versions"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific"`
	DatabaseSpecific  json.RawMessage `json:"database_specific"`
}

type osvRange struct {
	Type   string     `json:"type"`
	Events []osvEvent `json:"events"`
}

// osvEvent holds exactly one of its members in a valid record.
type osvEvent struct {
	Introduced   *string `json:"introduced"`
	Fixed        *string `json:"fixed"`
	LastAffected *string `json:"last_affected"`
	Limit        *string `json:"limit"`
}

type osvReference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// parsedRecord is a checked record with what the store indexes.
type parsedRecord struct {
	rec      osvRecord
	modified time.Time
}

// parseRecord decodes and checks one OSV record. The error, a
// *fieldError, names the member at fault.
func parseRecord(data []byte) (parsedRecord, error) {
	var p parsedRecord
	if len(data) > maxRecordSize {
		return p, &fieldError{msg: fmt.Sprintf("record is larger than %d bytes", maxRecordSize)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p.rec); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return p, &fieldError{field: te.Field, msg: fmt.Sprintf("must be a JSON %s, not %s", jsonKind(te.Type.Kind().String()), te.Value)}
		}
		return p, &fieldError{msg: "not a JSON object: " + err.Error()}
	}
	if _, err := dec.Token(); err == nil {
		return p, &fieldError{msg: "more than one JSON value"}
	}
	r := &p.rec
	switch {
	case r.ID == "":
		return p, &fieldError{field: "id", msg: "is required"}
	case len(r.ID) > maxIDLength:
		return p, &fieldError{field: "id", msg: fmt.Sprintf("is longer than %d characters", maxIDLength)}
	case strings.IndexFunc(r.ID, func(c rune) bool { return unicode.IsSpace(c) || unicode.IsControl(c) }) >= 0:
		return p, &fieldError{field: "id", msg: "must not contain spaces or control characters"}
	case r.Modified == "":
		return p, &fieldError{field: "modified", msg: "is required"}
	}
	var err error
	if p.modified, err = parseOSVTime(r.Modified); err != nil {
		return p, &fieldError{field: "modified", msg: err.Error()}
	}
	for _, f := range []struct{ name, value string }{{"published", r.Published}, {"withdrawn", r.Withdrawn}} {
		if f.value == "" {
			continue
		}
		if _, err := parseOSVTime(f.value); err != nil {
			return p, &fieldError{field: f.name, msg: err.Error()}
		}
	}
	for i, a := range r.Affected {
		// An entry without a package (a GIT-only range) is legal and
		// simply matches no installed package; one with a package must
		// name both parts.
		if (a.Package.Ecosystem == "") != (a.Package.Name == "") {
			return p, &fieldError{field: fmt.Sprintf("affected[%d].package", i), msg: "needs both ecosystem and name"}
		}
		for j, rg := range a.Ranges {
			for k, e := range rg.Events {
				n := 0
				for _, v := range []*string{e.Introduced, e.Fixed, e.LastAffected, e.Limit} {
					if v != nil {
						n++
					}
				}
				if n != 1 {
					return p, &fieldError{field: fmt.Sprintf("affected[%d].ranges[%d].events[%d]", i, j, k), msg: "must hold exactly one of introduced, fixed, last_affected and limit"}
				}
			}
		}
	}
	return p, nil
}

// parseOSVTime reads an RFC 3339 time, as OSV's "modified" is.
func parseOSVTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "slice":
		return "array"
	case "struct", "map":
		return "object"
	case "ptr":
		return "string"
	}
	return goKind
}

// fieldError is a record's fault, with the member that has it.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + " " + e.msg
}

// affects returns the distinct (ecosystem, package) pairs of a record, the
// index rows the store keeps for it.
func (p parsedRecord) affects() []affectedKey {
	var out []affectedKey
	seen := map[affectedKey]bool{}
	for _, a := range p.rec.Affected {
		k := affectedKey{a.Package.Ecosystem, a.Package.Name}
		if k.ecosystem == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, k)
	}
	return out
}

type affectedKey struct{ ecosystem, name string }
