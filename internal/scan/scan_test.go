package scan

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/inventory"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
	"github.com/kiln-build/kiln/internal/vulndb"
)

func finding(id, severity string, pkgs ...string) awsapi.ImageScanFinding {
	f := awsapi.ImageScanFinding{Severity: severity, PackageVulnerabilityDetails: &awsapi.PackageVulnerabilityDetails{VulnerabilityId: id}}
	for _, p := range pkgs {
		name, version, _ := strings.Cut(p, " ")
		f.PackageVulnerabilityDetails.VulnerablePackages = append(f.PackageVulnerabilityDetails.VulnerablePackages,
			awsapi.VulnerablePackage{Name: name, Version: version, FixedInVersion: "NotAvailable"})
	}
	return f
}

func TestParseGate(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"CRITICAL", SeverityCritical, false},
		{"high", SeverityHigh, false},
		{" Medium ", SeverityMedium, false},
		{"LOW", SeverityLow, false},
		{"INFORMATIONAL", "", true}, // every image has some: not a gate
		{"UNTRIAGED", "", true},
		{"", "", true},
		{"CRIT", "", true},
	} {
		got, err := ParseGate(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseGate(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !strings.Contains(err.Error(), GateTag) {
			t.Errorf("ParseGate(%q): the error %q does not name the tag", tc.in, err)
		}
	}
}

func FuzzParseGate(f *testing.F) {
	for _, s := range []string{"CRITICAL", "high", "", " low\t", "MEDIUM\x00", "ĦIGH"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseGate(s)
		if err != nil {
			if got != "" {
				t.Fatalf("ParseGate(%q) returned %q with an error", s, got)
			}
			return
		}
		if !slices.Contains(GateSeverities, got) {
			t.Fatalf("ParseGate(%q) = %q, not a gate severity", s, got)
		}
		if again, err := ParseGate(got); err != nil || again != got {
			t.Fatalf("ParseGate(%q) is not stable: %q, %v", got, again, err)
		}
	})
}

func TestGateFor(t *testing.T) {
	for _, tc := range []struct {
		name            string
		image, pipeline map[string]string
		want            string
		err             bool
	}{
		{"none", nil, map[string]string{"team": "a"}, "", false},
		{"image only", map[string]string{GateTag: "HIGH"}, nil, SeverityHigh, false},
		{"pipeline only", nil, map[string]string{GateTag: "critical"}, SeverityCritical, false},
		{"the stricter wins", map[string]string{GateTag: "CRITICAL"}, map[string]string{GateTag: "MEDIUM"}, SeverityMedium, false},
		{"the stricter wins either way", map[string]string{GateTag: "LOW"}, map[string]string{GateTag: "HIGH"}, SeverityLow, false},
		{"unreadable fails closed", map[string]string{GateTag: "SEVERE"}, nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := GateFor(tc.image, tc.pipeline)
			if (err != nil) != tc.err || g.Threshold != tc.want {
				t.Fatalf("GateFor = %+v, %v; want %q, error %v", g, err, tc.want, tc.err)
			}
		})
	}
}

func TestBreaches(t *testing.T) {
	findings := []awsapi.ImageScanFinding{
		finding("CVE-1", SeverityLow, "a 1"),
		finding("CVE-2", SeverityCritical, "libssl3 3.0.1", "openssl 3.0.1"),
		finding("CVE-3", SeverityHigh, "b 2"),
		finding("CVE-4", SeverityUntriaged, "c 3"),
	}
	for _, tc := range []struct {
		threshold string
		want      []string
	}{
		{"", nil},
		{SeverityCritical, []string{"CVE-2"}},
		{SeverityHigh, []string{"CVE-2", "CVE-3"}},
		{SeverityLow, []string{"CVE-2", "CVE-3", "CVE-1"}},
	} {
		hit, reason := Gate{Threshold: tc.threshold, From: "the image's tag"}.Breaches(findings)
		var ids []string
		for _, f := range hit {
			ids = append(ids, vulnerabilityID(f))
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("threshold %q: breaches %v, want %v", tc.threshold, ids, tc.want)
		}
		if (reason == "") != (len(tc.want) == 0) {
			t.Errorf("threshold %q: reason %q", tc.threshold, reason)
		}
		for _, id := range tc.want {
			if !strings.Contains(reason, id) {
				t.Errorf("threshold %q: the reason %q does not name %s", tc.threshold, reason, id)
			}
		}
	}
	_, reason := Gate{Threshold: SeverityCritical, From: "x"}.Breaches(findings)
	if !strings.Contains(reason, "libssl3 3.0.1") || !strings.Contains(reason, "openssl 3.0.1") {
		t.Errorf("the reason %q does not name the packages", reason)
	}
}

func TestBreachesReasonIsBounded(t *testing.T) {
	var many []awsapi.ImageScanFinding
	for i := range 500 {
		many = append(many, finding("CVE-2024-"+strings.Repeat("9", 5)+string(rune('a'+i%26)), SeverityCritical, "libsomething-long-name 1.2.3-4+deb12u1"))
	}
	_, reason := Gate{Threshold: SeverityCritical, From: "x"}.Breaches(many)
	if len(reason) > maxReason+200 || !strings.Contains(reason, "more") {
		t.Fatalf("a reason of %d bytes: %q", len(reason), reason)
	}
}

func TestCountsAndSummary(t *testing.T) {
	fs := []awsapi.ImageScanFinding{
		finding("a", SeverityCritical), finding("b", SeverityHigh), finding("c", SeverityHigh),
		finding("d", SeverityLow), finding("e", SeverityUntriaged),
	}
	c := Counts(fs)
	if *c.All != 5 || *c.Critical != 1 || *c.High != 2 || *c.Medium != 0 {
		t.Fatalf("Counts = all %d critical %d high %d medium %d", *c.All, *c.Critical, *c.High, *c.Medium)
	}
	if got, want := Summary(fs), "5 findings (1 critical, 2 high, 1 low, 1 untriaged)"; got != want {
		t.Fatalf("Summary = %q, want %q", got, want)
	}
	if got := Summary(nil); got != "no findings" {
		t.Fatalf("Summary(nil) = %q", got)
	}
}

func TestSeverityFromCVSS(t *testing.T) {
	for _, tc := range []struct {
		score float64
		want  string
	}{{9.8, SeverityCritical}, {9.0, SeverityCritical}, {8.9, SeverityHigh}, {7.0, SeverityHigh}, {6.9, SeverityMedium}, {4.0, SeverityMedium}, {3.9, SeverityLow}, {0.1, SeverityLow}, {0, SeverityInformational}} {
		if got := SeverityFromCVSS(tc.score); got != tc.want {
			t.Errorf("SeverityFromCVSS(%v) = %s, want %s", tc.score, got, tc.want)
		}
	}
}

func TestFindingsGroupsPackagesByVulnerability(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pkgs := []inventory.Package{
		{Name: "libssl3", Version: "3.0.11-1~deb12u2", Arch: "amd64", Source: inventory.SourceDpkg, SourceName: "openssl", SourceVersion: "3.0.11-1~deb12u2"},
		{Name: "openssl", Version: "3.0.11-1~deb12u2", Arch: "amd64", Source: inventory.SourceDpkg},
		{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Arch: "amd64", Source: inventory.SourceDpkg, SourceName: "zlib", SourceVersion: "1:1.2.13.dfsg-1"},
	}
	ssl := vulndb.Finding{VulnerabilityID: "DEBIAN-CVE-2024-0001", Aliases: []string{"CVE-2024-0001"}, Summary: "a bug",
		Severity: SeverityHigh, CVSSScore: 7.5, CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", CVSSVersion: "3.1",
		FixedIn: "3.0.13-1~deb12u1", References: []string{"https://example.invalid/1"}}
	m1, m2 := ssl, ssl
	m1.Package = vulndb.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", SourceName: "openssl", Ecosystem: "Debian:12"}
	m2.Package = vulndb.Package{Name: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12"}
	z := vulndb.Finding{VulnerabilityID: "DEBIAN-CVE-2023-9999", Severity: SeverityCritical,
		Package: vulndb.Package{Name: "zlib1g", Version: "1:1.2.13.dfsg-1", SourceName: "zlib", Ecosystem: "Debian:12"}}
	got := Findings([]vulndb.Finding{m1, m2, z}, pkgs, now)
	if len(got) != 2 {
		t.Fatalf("%d findings, want 2 (one per vulnerability): %+v", len(got), got)
	}
	if id := vulnerabilityID(got[0]); id != "DEBIAN-CVE-2023-9999" {
		t.Fatalf("first finding %s, want the critical one", id)
	}
	f := got[1]
	d := f.PackageVulnerabilityDetails
	if len(d.VulnerablePackages) != 2 || d.VulnerablePackages[0].Name != "libssl3" || d.VulnerablePackages[1].Name != "openssl" {
		t.Fatalf("packages %+v", d.VulnerablePackages)
	}
	p := d.VulnerablePackages[0]
	if p.FixedInVersion != "3.0.13-1~deb12u1" || p.Arch != "amd64" || p.PackageManager != "OS" || !strings.Contains(p.Remediation, "openssl") {
		t.Fatalf("package %+v", p)
	}
	if f.FixAvailable != "YES" || f.InspectorScore == nil || *f.InspectorScore != 7.5 || len(d.Cvss) != 1 || d.Cvss[0].ScoringVector != ssl.CVSSVector {
		t.Fatalf("finding %+v", f)
	}
	if f.Title != "DEBIAN-CVE-2024-0001 - openssl" || !slices.Equal(d.RelatedVulnerabilities, []string{"CVE-2024-0001"}) || d.SourceUrl == "" {
		t.Fatalf("finding %+v / %+v", f, d)
	}
	if f.FirstObservedAt == nil || !f.FirstObservedAt.Time.Equal(now) {
		t.Fatalf("firstObservedAt %v", f.FirstObservedAt)
	}
	if got[0].FixAvailable != "NO" || got[0].PackageVulnerabilityDetails.VulnerablePackages[0].FixedInVersion != "NotAvailable" {
		t.Fatalf("unfixed finding %+v", got[0])
	}
}

// fakeDB is a Database with canned answers; the real one is exercised
// end to end in test/scan.
type fakeDB struct {
	status []vulndb.EcosystemStatus
	found  []vulndb.Finding
	asked  []vulndb.Package
}

func (f *fakeDB) Status(context.Context) ([]vulndb.EcosystemStatus, error) { return f.status, nil }
func (f *fakeDB) Match(_ context.Context, pkgs []vulndb.Package) ([]vulndb.Finding, error) {
	f.asked = pkgs
	return f.found, nil
}

func TestScanSaysWhatWasNotChecked(t *testing.T) {
	debian := inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"}
	pkgs := []inventory.Package{{Name: "bash", Version: "5.2.15-2+b2", Source: inventory.SourceDpkg}}
	eco := vulndb.EcosystemFor(debian)
	if eco == "" {
		t.Skip("vulndb.EcosystemFor does not know Debian yet")
	}
	for _, tc := range []struct {
		name   string
		status []vulndb.EcosystemStatus
		os     inventory.OS
		want   string // in NotChecked; "" when the packages are checked
	}{
		{"empty database", nil, debian, "it is empty"},
		{"other ecosystems only", []vulndb.EcosystemStatus{{Ecosystem: "Alpine:v3.20", Records: 10}}, debian, "Alpine:v3.20"},
		{"unknown distribution", []vulndb.EcosystemStatus{{Ecosystem: eco, Records: 1}}, inventory.OS{ID: "plan9"}, "no ecosystem"},
		{"checked", []vulndb.EcosystemStatus{{Ecosystem: eco, Records: 3}}, debian, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := &fakeDB{status: tc.status}
			res, err := Scan(context.Background(), db, tc.os, pkgs, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if res.NotChecked != "" || len(db.asked) != 1 || db.asked[0].Ecosystem != eco {
					t.Fatalf("result %+v, asked %+v", res, db.asked)
				}
				return
			}
			if !strings.Contains(res.NotChecked, tc.want) || db.asked != nil {
				t.Fatalf("NotChecked %q (want %q), asked %+v", res.NotChecked, tc.want, db.asked)
			}
		})
	}
	if res, err := Scan(context.Background(), nil, debian, pkgs, time.Now()); err != nil || !strings.Contains(res.NotChecked, "no vulnerability database") {
		t.Fatalf("no database: %+v, %v", res, err)
	}
}

func TestRecordAndFilters(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const region = "us-east-1"
	img1 := "arn:aws:imagebuilder:us-east-1:111122223333:image/a/1.0.0/1"
	img2 := "arn:aws:imagebuilder:us-east-1:111122223333:image/a/1.0.0/2"
	other := "arn:aws:imagebuilder:us-east-1:444455556666:image/b/1.0.0/1"
	pipe := "arn:aws:imagebuilder:us-east-1:111122223333:image-pipeline/p"
	now := time.Now()
	write := func(account, image, pipeline string, fs ...awsapi.ImageScanFinding) {
		t.Helper()
		if err := st.Update(ctx, func(tx store.Tx) error {
			return Record(ctx, tx, region, account, image, pipeline, fs, now)
		}); err != nil {
			t.Fatal(err)
		}
	}
	write("111122223333", img1, pipe, finding("CVE-1", SeverityHigh, "a 1"), finding("CVE-2", SeverityLow, "b 1"))
	write("111122223333", img2, "", finding("CVE-1", SeverityHigh, "a 1"))
	write("444455556666", other, "", finding("CVE-1", SeverityHigh, "a 1"))
	// Recording again replaces: a retried scan leaves no stale rows.
	write("111122223333", img1, pipe, finding("CVE-1", SeverityCritical, "a 1"), finding("CVE-3", SeverityMedium, "c 1"))

	count := func(kind, name string) int {
		t.Helper()
		var n int
		st.View(ctx, func(tx store.Tx) error {
			rows, err := tx.List(ctx, store.Query{Kind: kind, Region: region, Owners: []string{"111122223333"}, Name: name})
			n = len(rows)
			return err
		})
		return n
	}
	for _, tc := range []struct {
		kind, name string
		want       int
	}{
		{KindFinding, "", 3},
		{KindFinding, img1, 2},
		{KindFindingByPipeline, pipe, 2},
		{KindFindingByVulnerability, "CVE-1", 2},
		{KindFindingByVulnerability, "CVE-2", 0},
		{KindFindingBySeverity, SeverityCritical, 1},
		{KindFindingBySeverity, SeverityHigh, 1},
		{KindFindingBySeverity, SeverityLow, 0},
	} {
		if got := count(tc.kind, tc.name); got != tc.want {
			t.Errorf("%s %q: %d rows, want %d", tc.kind, tc.name, got, tc.want)
		}
	}
	var fs []awsapi.ImageScanFinding
	st.View(ctx, func(tx store.Tx) (err error) { fs, err = ForImage(ctx, tx, region, img1); return })
	for _, f := range fs {
		if f.AwsAccountId != "111122223333" || f.ImageBuildVersionArn != img1 || f.ImagePipelineArn != pipe || f.Type != "PACKAGE_VULNERABILITY" {
			t.Fatalf("stored finding %+v", f)
		}
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return Delete(ctx, tx, region, img1) }); err != nil {
		t.Fatal(err)
	}
	for kind := range kindKey {
		st.View(ctx, func(tx store.Tx) error {
			rows, _ := tx.List(ctx, store.Query{Kind: kind, Region: region})
			for _, r := range rows {
				if strings.Contains(r.ARN, img1) {
					t.Errorf("%s left after Delete", r.ARN)
				}
			}
			return nil
		})
	}
}
