package scan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/inventory"
	"github.com/kiln-build/kiln/internal/vulndb"
)

// Database is what a scan asks of the vulnerability database
// (*vulndb.DB implements it).
type Database interface {
	Status(ctx context.Context) ([]vulndb.EcosystemStatus, error)
	Match(ctx context.Context, pkgs []vulndb.Package) ([]vulndb.Finding, error)
}

// Result is what one scan of an image's inventory found.
type Result struct {
	// Ecosystem is the OSV ecosystem the packages were matched in
	// ("Debian:12"); "" when the distribution has none.
	Ecosystem string
	// Records is how many records the database holds for it.
	Records int
	// Packages is how many packages were matched.
	Packages int
	// Findings are the image's findings, most severe first.
	Findings []awsapi.ImageScanFinding
	// NotChecked, when set, says why the packages could not be checked:
	// an unknown distribution, or a database with no records for it. A
	// scan that checked nothing must not be reported as "no findings".
	NotChecked string
}

// ErrNoDatabase says kiln has no vulnerability database (a store backend
// without one): a scan then checks nothing and says so.
var ErrNoDatabase = errors.New("kiln has no vulnerability database on this store backend")

// Scan matches an image's packages against db. now stamps the findings'
// firstObservedAt and updatedAt.
func Scan(ctx context.Context, db Database, osr inventory.OS, pkgs []inventory.Package, now time.Time) (Result, error) {
	res := Result{Ecosystem: vulndb.EcosystemFor(osr), Packages: len(pkgs)}
	if db == nil {
		res.NotChecked = fmt.Sprintf("%s: the image's %d packages were not checked.", upperFirst(ErrNoDatabase.Error()), len(pkgs))
		return res, nil
	}
	name := osr.PrettyName
	if name == "" {
		name = "this image's distribution"
	}
	if res.Ecosystem == "" {
		res.NotChecked = fmt.Sprintf("kiln's vulnerability database has no ecosystem for %s (os-release ID %q, VERSION_ID %q): its %d packages were not checked.", name, osr.ID, osr.VersionID, len(pkgs))
		return res, nil
	}
	status, err := db.Status(ctx)
	if err != nil {
		return res, fmt.Errorf("reading the vulnerability database: %w", err)
	}
	for _, st := range status {
		if st.Ecosystem == res.Ecosystem {
			res.Records = st.Records
		}
	}
	if res.Records == 0 {
		held := "it is empty"
		if len(status) > 0 {
			var names []string
			for _, st := range status {
				names = append(names, st.Ecosystem)
			}
			held = "it holds " + strings.Join(names, ", ")
		}
		res.NotChecked = fmt.Sprintf("kiln's vulnerability database has no records for %s (%s): the image's %d packages were not checked. Import OSV records with `kiln vulndb import`.", res.Ecosystem, held, len(pkgs))
		return res, nil
	}
	matched, err := db.Match(ctx, vulndb.PackagesFor(res.Ecosystem, pkgs))
	if err != nil {
		return res, fmt.Errorf("matching packages: %w", err)
	}
	res.Findings = Findings(matched, pkgs, now)
	return res, nil
}

// Findings turns the database's matches into the API's findings: one per
// vulnerability, listing every installed package it affects (Inspector
// reports a vulnerability of a source package once, with its binary
// packages).
func Findings(matched []vulndb.Finding, pkgs []inventory.Package, now time.Time) []awsapi.ImageScanFinding {
	arch := map[string]inventory.Package{}
	for _, p := range pkgs {
		arch[p.Name+"\x00"+p.Version] = p
	}
	byID := map[string]*awsapi.ImageScanFinding{}
	var order []string
	ts := awsapi.Timestamp{Time: now}
	for _, m := range matched {
		f := byID[m.VulnerabilityID]
		if f == nil {
			f = newFinding(m, &ts)
			byID[m.VulnerabilityID] = f
			order = append(order, m.VulnerabilityID)
		}
		inv := arch[m.Package.Name+"\x00"+m.Package.Version]
		vp := awsapi.VulnerablePackage{
			Name: m.Package.Name, Version: m.Package.Version, Arch: inv.Arch,
			PackageManager: packageManager(inv.Source), FixedInVersion: "NotAvailable",
		}
		if m.FixedIn != "" {
			vp.FixedInVersion = m.FixedIn
			vp.Remediation = fmt.Sprintf("Upgrade %s to %s or later.", packageToUpgrade(m.Package), m.FixedIn)
		} else {
			vp.Remediation = "None available."
		}
		details := f.PackageVulnerabilityDetails
		if !slices.ContainsFunc(details.VulnerablePackages, func(p awsapi.VulnerablePackage) bool {
			return p.Name == vp.Name && p.Version == vp.Version
		}) {
			details.VulnerablePackages = append(details.VulnerablePackages, vp)
		}
	}
	out := make([]awsapi.ImageScanFinding, 0, len(order))
	for _, id := range order {
		f := byID[id]
		pkgs := f.PackageVulnerabilityDetails.VulnerablePackages
		sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
		f.FixAvailable = fixAvailable(pkgs)
		f.Remediation = remediation(pkgs)
		out = append(out, *f)
	}
	SortFindings(out)
	return out
}

// newFinding is the finding of one vulnerability, before its packages.
func newFinding(m vulndb.Finding, now *awsapi.Timestamp) *awsapi.ImageScanFinding {
	title := m.VulnerabilityID
	if pkg := packageToUpgrade(m.Package); pkg != "" {
		title += " - " + pkg
	}
	desc := m.Summary
	if desc == "" {
		desc = m.Details
	}
	if len(desc) > 1000 {
		desc = desc[:1000] + "…"
	}
	f := &awsapi.ImageScanFinding{
		Type: "PACKAGE_VULNERABILITY", Title: title, Description: desc,
		Severity: m.Severity, FirstObservedAt: now, UpdatedAt: now,
		PackageVulnerabilityDetails: &awsapi.PackageVulnerabilityDetails{
			VulnerabilityId: m.VulnerabilityID, Source: sourceOf(m.VulnerabilityID),
			RelatedVulnerabilities: m.Aliases, VendorSeverity: m.Severity,
			SourceUrl:     "https://osv.dev/vulnerability/" + m.VulnerabilityID,
			ReferenceUrls: m.References,
		},
	}
	if f.Severity == "" {
		f.Severity = SeverityUntriaged
	}
	if !m.Published.IsZero() {
		t := awsapi.Timestamp{Time: m.Published}
		f.PackageVulnerabilityDetails.VendorCreatedAt = &t
	}
	if !m.Modified.IsZero() {
		t := awsapi.Timestamp{Time: m.Modified}
		f.PackageVulnerabilityDetails.VendorUpdatedAt = &t
	}
	if m.CVSSVector != "" {
		score := m.CVSSScore
		f.InspectorScore = &score
		f.PackageVulnerabilityDetails.Cvss = []awsapi.CvssScore{{
			BaseScore: &score, ScoringVector: m.CVSSVector, Version: m.CVSSVersion, Source: "OSV",
		}}
		// kiln adjusts nothing: the score is the record's base score.
		f.InspectorScoreDetails = &awsapi.InspectorScoreDetails{AdjustedCvss: &awsapi.CvssScoreDetails{
			ScoreSource: "OSV", CvssSource: "OSV", Version: m.CVSSVersion, Score: &score, ScoringVector: m.CVSSVector,
		}}
	}
	return f
}

// packageToUpgrade is the package a record names: the source package
// where the database matched one.
func packageToUpgrade(p vulndb.Package) string {
	if p.SourceName != "" {
		return p.SourceName
	}
	return p.Name
}

// sourceOf is where a vulnerability id comes from, as Inspector's source
// member says it ("DEBIAN_CVE", "NVD", ...): the id's prefix.
func sourceOf(id string) string {
	prefix, _, ok := strings.Cut(id, "-")
	if !ok {
		return "OSV"
	}
	switch prefix {
	case "CVE":
		return "NVD"
	case "DSA", "DLA", "DEBIAN":
		return "DEBIAN_CVE"
	case "USN", "UBUNTU":
		return "UBUNTU_CVE"
	case "ALSA", "ALBA", "ALEA":
		return "ALMALINUX"
	case "RLSA":
		return "ROCKY_LINUX"
	}
	return strings.ToUpper(prefix)
}

// packageManager is the VulnerablePackage.packageManager of an inventory
// source: Inspector calls every distribution's package manager "OS".
func packageManager(source string) string {
	if source == "" {
		return ""
	}
	return "OS"
}

// fixAvailable is Inspector's YES, PARTIAL or NO.
func fixAvailable(pkgs []awsapi.VulnerablePackage) string {
	fixed := 0
	for _, p := range pkgs {
		if p.FixedInVersion != "NotAvailable" {
			fixed++
		}
	}
	switch {
	case fixed == 0:
		return "NO"
	case fixed == len(pkgs):
		return "YES"
	}
	return "PARTIAL"
}

func remediation(pkgs []awsapi.VulnerablePackage) *awsapi.Remediation {
	var texts []string
	for _, p := range pkgs {
		if p.FixedInVersion != "NotAvailable" && !slices.Contains(texts, p.Remediation) {
			texts = append(texts, p.Remediation)
		}
	}
	if len(texts) == 0 {
		return &awsapi.Remediation{Recommendation: &awsapi.RemediationRecommendation{Text: "None provided."}}
	}
	return &awsapi.Remediation{Recommendation: &awsapi.RemediationRecommendation{Text: strings.Join(texts, " ")}}
}

func upperFirst(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
