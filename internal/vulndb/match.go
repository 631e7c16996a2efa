package vulndb

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/pkgversion"
	"github.com/kiln-build/kiln/internal/store"
)

// Match returns the findings for pkgs: for each package, every record of
// its ecosystem that names it with a range or versions list containing its
// version. Where the ecosystem's records name source packages (Debian,
// Ubuntu, Alpine, Rocky Linux, ...) a binary package is looked up by its
// source name and compared by its source version, so libssl3 and openssl
// built from openssl 3.0.15-1~deb12u1 both match a record for "openssl";
// elsewhere both names are looked up. Packages of ecosystems whose version
// order kiln does not know, or with no ecosystem, match nothing. Withdrawn
// records match nothing.
//
// Findings come ordered by package name and version, then vulnerability
// id, one per (record, package).
func (db *DB) Match(ctx context.Context, pkgs []Package) ([]Finding, error) {
	byEco := map[string][]int{}
	for i, p := range pkgs {
		if p.Ecosystem != "" {
			byEco[p.Ecosystem] = append(byEco[p.Ecosystem], i)
		}
	}
	var findings []Finding
	for _, eco := range slices.Sorted(mapsKeys(byEco)) {
		kind, ok := versionKind(eco)
		if !ok {
			continue
		}
		// lookups maps a name records may use to the packages it stands
		// for, with the version to compare for each.
		lookups := map[string][]candidate{}
		for _, i := range byEco[eco] {
			p := pkgs[i]
			src, srcVersion := p.SourceName, p.SourceVersion
			if src == "" {
				src = p.Name
			}
			if srcVersion == "" {
				srcVersion = p.Version
			}
			lookups[src] = append(lookups[src], candidate{i, srcVersion})
			if !sourceNamed(eco) && src != p.Name {
				lookups[p.Name] = append(lookups[p.Name], candidate{i, p.Version})
			}
		}
		names := slices.Sorted(mapsKeys(lookups))
		seen := map[findingKey]bool{}
		parsed := map[string]*osvRecord{} // by id: one record may name several packages
		err := db.st.AdvisoriesFor(ctx, eco, names, func(name string, a store.Advisory) error {
			rec, ok := parsed[a.ID]
			if !ok {
				rec = new(osvRecord)
				if err := json.Unmarshal(a.Doc, rec); err != nil {
					return fmt.Errorf("vulndb: stored record %s: %w", a.ID, err)
				}
				parsed[a.ID] = rec
			}
			if rec.Withdrawn != "" {
				return nil
			}
			for _, c := range lookups[name] {
				key := findingKey{a.ID, c.pkg}
				if seen[key] {
					continue
				}
				entry, fixedIn, hit := affectedBy(rec, eco, name, c.version, kind)
				if !hit {
					continue
				}
				seen[key] = true
				findings = append(findings, newFinding(rec, entry, pkgs[c.pkg], fixedIn))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(findings, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Package.Name, b.Package.Name),
			cmp.Compare(a.Package.Version, b.Package.Version),
			cmp.Compare(a.Package.Ecosystem, b.Package.Ecosystem),
			cmp.Compare(a.VulnerabilityID, b.VulnerabilityID),
		)
	})
	return findings, nil
}

type candidate struct {
	pkg     int    // index into Match's pkgs
	version string // the version to compare: the source's when looked up by source name
}

type findingKey struct {
	id  string
	pkg int
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// affectedBy reports whether version of package name in eco is affected by
// rec, following the OSV schema's evaluation: a version is affected when
// an affected entry for the package lists it in versions, or one of its
// ECOSYSTEM ranges contains it. It returns the entry that matched and the
// version that fixes it there ("" when none is known).
func affectedBy(rec *osvRecord, eco, name, version string, kind pkgversion.Kind) (*osvAffected, string, bool) {
	for i := range rec.Affected {
		a := &rec.Affected[i]
		if a.Package.Ecosystem != eco || a.Package.Name != name {
			continue
		}
		fixedIn, inRange := inRanges(a.Ranges, version, kind)
		if inRange {
			return a, fixedIn, true
		}
		for _, v := range a.Versions {
			if v == version || pkgversion.Compare(kind, v, version) == 0 {
				return a, firstFixAbove(a.Ranges, version, kind), true
			}
		}
	}
	return nil, "", false
}

// inRanges evaluates the ECOSYSTEM (and SEMVER, ordered by the same
// scheme, which distributions do not use) ranges: the events of a range,
// sorted by version with introduced "0" first, toggle the version in and
// out; limit events bound the range from above. GIT ranges name commits
// and cannot be evaluated against an installed package.
func inRanges(ranges []osvRange, v string, kind pkgversion.Kind) (fixedIn string, affected bool) {
	for _, r := range ranges {
		if r.Type != "ECOSYSTEM" && r.Type != "SEMVER" {
			continue
		}
		if !beforeLimits(r, v, kind) {
			continue
		}
		events := sortedEvents(r.Events, kind)
		in := false
		for _, e := range events {
			switch {
			case e.Introduced != nil:
				if *e.Introduced == "0" || pkgversion.Compare(kind, v, *e.Introduced) >= 0 {
					in = true
				}
			case e.Fixed != nil:
				if pkgversion.Compare(kind, v, *e.Fixed) >= 0 {
					in = false
				}
			case e.LastAffected != nil:
				if pkgversion.Compare(kind, v, *e.LastAffected) > 0 {
					in = false
				}
			}
		}
		if in {
			return fixAbove(events, v, kind), true
		}
	}
	return "", false
}

func beforeLimits(r osvRange, v string, kind pkgversion.Kind) bool {
	limited := false
	for _, e := range r.Events {
		if e.Limit == nil {
			continue
		}
		limited = true
		if *e.Limit == "*" || pkgversion.Compare(kind, v, *e.Limit) < 0 {
			return true
		}
	}
	return !limited
}

// sortedEvents orders a range's events by version, introduced "0" first;
// at equal versions the record's order is kept.
func sortedEvents(events []osvEvent, kind pkgversion.Kind) []osvEvent {
	out := slices.Clone(events)
	slices.SortStableFunc(out, func(a, b osvEvent) int {
		va, za := eventVersion(a)
		vb, zb := eventVersion(b)
		switch {
		case za && zb:
			return 0
		case za:
			return -1
		case zb:
			return 1
		}
		return pkgversion.Compare(kind, va, vb)
	})
	return out
}

// eventVersion is the version an event names; zero is true for
// introduced "0", which sorts before every version.
func eventVersion(e osvEvent) (v string, zero bool) {
	switch {
	case e.Introduced != nil:
		return *e.Introduced, *e.Introduced == "0"
	case e.Fixed != nil:
		return *e.Fixed, false
	case e.LastAffected != nil:
		return *e.LastAffected, false
	case e.Limit != nil:
		return *e.Limit, false
	}
	return "", false
}

// fixAbove is the first fixed version above v in sorted events: the fix
// of the interval v is in.
func fixAbove(events []osvEvent, v string, kind pkgversion.Kind) string {
	for _, e := range events {
		if e.Fixed != nil && pkgversion.Compare(kind, v, *e.Fixed) < 0 {
			return *e.Fixed
		}
	}
	return ""
}

func firstFixAbove(ranges []osvRange, v string, kind pkgversion.Kind) string {
	for _, r := range ranges {
		if r.Type != "ECOSYSTEM" && r.Type != "SEMVER" {
			continue
		}
		if f := fixAbove(sortedEvents(r.Events, kind), v, kind); f != "" {
			return f
		}
	}
	return ""
}

// newFinding describes one record's hit on one package.
func newFinding(rec *osvRecord, entry *osvAffected, p Package, fixedIn string) Finding {
	f := Finding{
		VulnerabilityID: rec.ID,
		Aliases:         rec.Aliases,
		Summary:         rec.Summary,
		Details:         rec.Details,
		Package:         p,
		FixedIn:         fixedIn,
	}
	f.Published, _ = parseOSVTime(rec.Published)
	f.Modified, _ = parseOSVTime(rec.Modified)
	for _, r := range rec.References {
		if r.URL != "" {
			f.References = append(f.References, r.URL)
		}
	}
	f.Severity, f.CVSSScore, f.CVSSVector, f.CVSSVersion = severityOf(rec, entry)
	return f
}

// severityOf derives a finding's severity: the CVSS v3 base score of the
// package's own severity[] (which the schema says replaces the record's),
// else the record's; failing that a vendor rating — severity[] of type
// "Ubuntu", then a "severity" or "urgency" word in the entry's
// ecosystem_specific or database_specific or the record's
// database_specific; else UNTRIAGED.
func severityOf(rec *osvRecord, entry *osvAffected) (severity string, score float64, vector, version string) {
	sevs := rec.Severity
	if entry != nil && len(entry.Severity) > 0 {
		sevs = entry.Severity
	}
	for _, s := range sevs {
		if s.Type != "CVSS_V3" {
			continue
		}
		if v, err := parseCVSS3(s.Score); err == nil {
			score = v.baseScore()
			return severityForScore(score), score, s.Score, v.version
		}
	}
	for _, s := range sevs {
		if s.Type == "Ubuntu" {
			if w := severityWord(s.Score); w != "" {
				return w, 0, "", ""
			}
		}
	}
	var sources []json.RawMessage
	if entry != nil {
		sources = append(sources, entry.EcosystemSpecific, entry.DatabaseSpecific)
	}
	sources = append(sources, rec.DatabaseSpecific)
	for _, raw := range sources {
		var m struct {
			Severity any `json:"severity"`
			Urgency  any `json:"urgency"`
		}
		if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
			continue
		}
		for _, v := range []any{m.Severity, m.Urgency} {
			if s, ok := v.(string); ok {
				if w := severityWord(s); w != "" {
					return w, 0, "", ""
				}
			}
		}
	}
	return SeverityUntriaged, 0, "", ""
}

// severityWord maps the vendors' rating words to Inspector's levels:
// GitHub's MODERATE, Red Hat's Important, Debian's urgencies
// ("unimportant", "low**") and Ubuntu's priorities ("negligible"). Words
// that mean "not rated yet" give "".
func severityWord(s string) string {
	w := strings.ToLower(strings.TrimSpace(s))
	w = strings.TrimRight(w, "*")
	switch w {
	case "critical":
		return SeverityCritical
	case "high", "important":
		return SeverityHigh
	case "medium", "moderate":
		return SeverityMedium
	case "low":
		return SeverityLow
	case "negligible", "unimportant", "none", "informational":
		return SeverityInformational
	}
	return ""
}
