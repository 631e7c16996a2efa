package vulndb

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/inventory"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

func openDB(t testing.TB) *DB {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	db, err := Open(st)
	if err != nil {
		t.Fatal(err)
	}
	db.TempDir = t.TempDir()
	return db
}

// record builds an OSV record for one package with one ECOSYSTEM range.
func record(id, modified, eco, pkg string, events ...map[string]string) map[string]any {
	return map[string]any{
		"schema_version": "1.6.0",
		"id":             id,
		"modified":       modified,
		"published":      "2024-01-02T03:04:05Z",
		"aliases":        []string{strings.TrimPrefix(id, "DEBIAN-")},
		"summary":        "summary of " + id,
		"details":        "details of " + id,
		"affected": []any{map[string]any{
			"package": map[string]any{"ecosystem": eco, "name": pkg},
			"ranges":  []any{map[string]any{"type": "ECOSYSTEM", "events": events}},
		}},
		"references": []any{map[string]any{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/" + id}},
	}
}

func ev(kind, version string) map[string]string { return map[string]string{kind: version} }

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// zipOf builds an archive like OSV's all.zip: one ID.json per record.
func zipOf(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(files[name])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportZipAndStatus(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	files := map[string][]byte{
		"DEBIAN-CVE-2024-0001.json": marshal(t, record("DEBIAN-CVE-2024-0001", "2024-03-01T00:00:00Z", "Debian:12", "openssl", ev("introduced", "0"), ev("fixed", "3.0.15-1~deb12u1"))),
		"DEBIAN-CVE-2024-0002.json": marshal(t, record("DEBIAN-CVE-2024-0002", "2024-05-01T10:00:00.5Z", "Debian:12", "glibc", ev("introduced", "0"))),
		"DEBIAN-CVE-2024-0003.json": marshal(t, record("DEBIAN-CVE-2024-0003", "2024-04-01T00:00:00Z", "Debian:11", "openssl", ev("introduced", "0"), ev("fixed", "1.1.1w-0+deb11u2"))),
		"README.txt":                []byte("not a record"),
	}
	// Given as a stream (not a file), the archive is spooled.
	st, err := db.Import(ctx, bytes.NewReader(zipOf(t, files)), "all.zip")
	if err != nil {
		t.Fatal(err)
	}
	if want := (ImportStats{Records: 3, Added: 3, Skipped: 1}); st != want {
		t.Errorf("Import = %+v, want %+v", st, want)
	}
	if left, _ := os.ReadDir(db.TempDir); len(left) != 0 {
		t.Errorf("spool files left behind: %v", left)
	}
	status, err := db.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []EcosystemStatus{
		{Ecosystem: "Debian:11", Records: 1, NewestModified: time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)},
		{Ecosystem: "Debian:12", Records: 2, NewestModified: time.Date(2024, 5, 1, 10, 0, 0, 5e8, time.UTC)},
	}
	if !slices.Equal(status, want) {
		t.Errorf("Status = %+v, want %+v", status, want)
	}

	// The same archive again, from a file this time: nothing changes.
	path := filepath.Join(t.TempDir(), "Debian.zip")
	os.WriteFile(path, zipOf(t, files), 0o644)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err = db.Import(ctx, f, "Debian.zip")
	if err != nil {
		t.Fatal(err)
	}
	if want := (ImportStats{Records: 3, Kept: 3, Skipped: 1}); st != want {
		t.Errorf("second Import = %+v, want %+v", st, want)
	}
}

// TestImportReplacesByModified: a newer record replaces the stored one,
// index rows included; an older one changes nothing.
func TestImportReplacesByModified(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	imp := func(rec map[string]any) ImportStats {
		t.Helper()
		st, err := db.Import(ctx, bytes.NewReader(marshal(t, rec)), "r.json")
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	pkg := []Package{{Name: "curl", Version: "7.88.1-10+deb12u5", Ecosystem: "Debian:12"}}
	imp(record("CVE-X", "2024-01-01T00:00:00Z", "Debian:12", "curl", ev("introduced", "0"), ev("fixed", "7.88.1-10+deb12u8")))
	if f, _ := db.Match(ctx, pkg); len(f) != 1 || f[0].FixedIn != "7.88.1-10+deb12u8" {
		t.Fatalf("before: %+v", f)
	}
	// Newer: the fix moved and the package was renamed.
	if st := imp(record("CVE-X", "2024-02-01T00:00:00Z", "Debian:12", "curl-ng", ev("introduced", "0"))); st.Replaced != 1 {
		t.Errorf("newer record: %+v, want Replaced", st)
	}
	if f, _ := db.Match(ctx, pkg); len(f) != 0 {
		t.Errorf("after replacement the old index row still matches: %+v", f)
	}
	// Older and equal: kept as it is.
	for _, m := range []string{"2023-12-01T00:00:00Z", "2024-02-01T00:00:00Z"} {
		if st := imp(record("CVE-X", m, "Debian:12", "curl", ev("introduced", "0"))); st.Kept != 1 {
			t.Errorf("record modified %s: %+v, want Kept", m, st)
		}
	}
	if f, _ := db.Match(ctx, pkg); len(f) != 0 {
		t.Errorf("an older record replaced a newer one: %+v", f)
	}
}

// TestImportBadInputChangesNothing: one bad entry in an archive refuses
// the whole archive, with a message naming the entry and member.
func TestImportBadInputChangesNothing(t *testing.T) {
	good := func(id string) []byte {
		return marshal(t, record(id, "2024-01-01T00:00:00Z", "Debian:12", "zlib", ev("introduced", "0")))
	}
	tests := []struct {
		name      string
		bad       []byte
		wantField string
	}{
		{"no id", []byte(`{"modified":"2024-01-01T00:00:00Z"}`), "id"},
		{"no modified", []byte(`{"id":"X-1"}`), "modified"},
		{"bad modified", []byte(`{"id":"X-1","modified":"yesterday"}`), "modified"},
		{"bad published", []byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","published":"1/2/2024"}`), "published"},
		{"id with space", []byte(`{"id":"X 1","modified":"2024-01-01T00:00:00Z"}`), "id"},
		{"aliases not array", []byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","aliases":"CVE-1"}`), "aliases"},
		{"package half named", []byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"name":"zlib"}}]}`), "affected[0].package"},
		{"event with two members", []byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0","fixed":"1"}]}]}]}`), "affected[0].ranges[0].events[0]"},
		{"not json", []byte(`{"id":`), ""},
		{"two values", []byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z"} {}`), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openDB(t)
			ctx := context.Background()
			files := map[string][]byte{"A-1.json": good("A-1"), "B-bad.json": tc.bad, "C-1.json": good("C-1")}
			_, err := db.Import(ctx, bytes.NewReader(zipOf(t, files)), "Debian.zip")
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Import = %v, want an InputError", err)
			}
			if !strings.Contains(ie.Name, "B-bad.json") || ie.Field != tc.wantField {
				t.Errorf("InputError = %+v (%v), want entry B-bad.json, field %q", ie, err, tc.wantField)
			}
			if s, _ := db.Status(ctx); len(s) != 0 {
				t.Errorf("bad archive stored records: %+v", s)
			}
			// The single record alone is refused the same way.
			if _, err := db.Import(ctx, bytes.NewReader(tc.bad), "bad.json"); !errors.As(err, &ie) {
				t.Errorf("Import(bad.json) = %v, want an InputError", err)
			}
		})
	}
	t.Run("not a zip", func(t *testing.T) {
		db := openDB(t)
		var ie *InputError
		if _, err := db.Import(context.Background(), strings.NewReader("PK\x03\x04garbage"), "x.zip"); !errors.As(err, &ie) {
			t.Errorf("Import(garbage zip) = %v, want an InputError", err)
		}
	})
}

// TestImportSniffsFormat: a name without a known extension is read by its
// first bytes.
func TestImportSniffsFormat(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	rec := marshal(t, record("A-1", "2024-01-01T00:00:00Z", "Alpine:v3.20", "musl", ev("introduced", "0")))
	if st, err := db.Import(ctx, bytes.NewReader(rec), "-"); err != nil || st.Added != 1 {
		t.Errorf("Import(json as -) = %+v, %v", st, err)
	}
	z := zipOf(t, map[string][]byte{"B-1.json": marshal(t, record("B-1", "2024-01-01T00:00:00Z", "Alpine:v3.20", "busybox", ev("introduced", "0")))})
	if st, err := db.Import(ctx, bytes.NewReader(z), "upload"); err != nil || st.Added != 1 {
		t.Errorf("Import(zip as upload) = %+v, %v", st, err)
	}
}

// TestMatch covers the range events, versions lists, source packages and
// releases, with real Debian bookworm version strings.
func TestMatch(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	recs := []map[string]any{
		// Fixed in a stable update newer than the installed one: affected.
		record("DEBIAN-CVE-2024-5535", "2024-07-01T00:00:00Z", "Debian:12", "openssl", ev("introduced", "0"), ev("fixed", "3.0.15-1~deb12u1")),
		// Fixed in a version older than the installed one: not affected.
		record("DEBIAN-CVE-2023-4911", "2023-10-03T00:00:00Z", "Debian:12", "glibc", ev("introduced", "0"), ev("fixed", "2.36-9+deb12u3")),
		// Same package, another release: not affected.
		record("DEBIAN-CVE-2023-0001", "2023-10-03T00:00:00Z", "Debian:11", "glibc", ev("introduced", "0")),
		// last_affected: the installed version is the last affected one.
		record("DEBIAN-CVE-2024-0100", "2024-01-01T00:00:00Z", "Debian:12", "zlib", ev("introduced", "0"), ev("last_affected", "1:1.2.13.dfsg-1")),
		// last_affected below the installed version: not affected.
		record("DEBIAN-CVE-2024-0101", "2024-01-01T00:00:00Z", "Debian:12", "zlib", ev("introduced", "0"), ev("last_affected", "1:1.2.12.dfsg-1")),
		// Introduced after the installed version: not affected.
		record("DEBIAN-CVE-2024-0102", "2024-01-01T00:00:00Z", "Debian:12", "zlib", ev("introduced", "1:1.3"), ev("fixed", "1:1.3.1")),
		// Two intervals; the installed version is in the second.
		record("DEBIAN-CVE-2024-0103", "2024-01-01T00:00:00Z", "Debian:12", "bash", ev("introduced", "4.0"), ev("fixed", "4.4-1"), ev("introduced", "5.2"), ev("fixed", "5.2.15-2+deb12u1")),
		// A limit below the installed version: out of the range.
		record("DEBIAN-CVE-2024-0104", "2024-01-01T00:00:00Z", "Debian:12", "bash", ev("introduced", "0"), ev("limit", "5.0")),
	}
	// A versions list only, no ranges.
	listed := record("DEBIAN-CVE-2024-0105", "2024-01-01T00:00:00Z", "Debian:12", "coreutils")
	aff := listed["affected"].([]any)[0].(map[string]any)
	delete(aff, "ranges")
	aff["versions"] = []string{"9.1-1", "9.0-1"}
	recs = append(recs, listed)
	// A severity vector on one record.
	recs[0]["severity"] = []any{map[string]any{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}
	// A withdrawn record matches nothing.
	withdrawn := record("DEBIAN-CVE-2024-0106", "2024-01-01T00:00:00Z", "Debian:12", "coreutils", ev("introduced", "0"))
	withdrawn["withdrawn"] = "2024-02-01T00:00:00Z"
	recs = append(recs, withdrawn)
	files := map[string][]byte{}
	for _, r := range recs {
		files[r["id"].(string)+".json"] = marshal(t, r)
	}
	if _, err := db.Import(ctx, bytes.NewReader(zipOf(t, files)), "Debian.zip"); err != nil {
		t.Fatal(err)
	}
	eco := "Debian:12"
	pkgs := []Package{
		{Name: "libssl3", Version: "3.0.13-1~deb12u1", SourceName: "openssl", SourceVersion: "3.0.13-1~deb12u1", Ecosystem: eco},
		{Name: "openssl", Version: "3.0.13-1~deb12u1", SourceName: "openssl", SourceVersion: "3.0.13-1~deb12u1", Ecosystem: eco},
		{Name: "libc6", Version: "2.36-9+deb12u7", SourceName: "glibc", SourceVersion: "2.36-9+deb12u7", Ecosystem: eco},
		// binNMU: the binary's version is not the source's.
		{Name: "zlib1g", Version: "1:1.2.13.dfsg-1+b1", SourceName: "zlib", SourceVersion: "1:1.2.13.dfsg-1", Ecosystem: eco},
		{Name: "bash", Version: "5.2.15-2+b2", SourceName: "bash", SourceVersion: "5.2.15-2", Ecosystem: eco},
		{Name: "coreutils", Version: "9.1-1", Ecosystem: eco}, // no source known: its own name
		{Name: "glibc-on-unknown", Version: "1", SourceName: "glibc", Ecosystem: "Plan9:4"},
	}
	findings, err := db.Match(ctx, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	type hit struct{ pkg, id, fixedIn, severity string }
	var got []hit
	for _, f := range findings {
		got = append(got, hit{f.Package.Name, f.VulnerabilityID, f.FixedIn, f.Severity})
	}
	want := []hit{
		{"bash", "DEBIAN-CVE-2024-0103", "5.2.15-2+deb12u1", SeverityUntriaged},
		{"coreutils", "DEBIAN-CVE-2024-0105", "", SeverityUntriaged},
		{"libssl3", "DEBIAN-CVE-2024-5535", "3.0.15-1~deb12u1", SeverityCritical},
		{"openssl", "DEBIAN-CVE-2024-5535", "3.0.15-1~deb12u1", SeverityCritical},
		{"zlib1g", "DEBIAN-CVE-2024-0100", "", SeverityUntriaged},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Match =\n%+v\nwant\n%+v", got, want)
	}
	f := findings[2]
	if f.CVSSScore != 9.8 || f.CVSSVersion != "3.1" || !strings.HasPrefix(f.CVSSVector, "CVSS:3.1/") ||
		f.Summary == "" || f.Details == "" || len(f.Aliases) != 1 || len(f.References) != 1 ||
		f.Published.IsZero() || f.Modified.IsZero() || f.Package.SourceName != "openssl" {
		t.Errorf("finding = %+v", f)
	}
}

// TestMatchOtherSchemes: Alpine (apk versions, origin packages) and Rocky
// Linux (rpm versions with epochs) through the same path.
func TestMatchOtherSchemes(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	for _, r := range []map[string]any{
		record("ALPINE-CVE-2024-1", "2024-01-01T00:00:00Z", "Alpine:v3.20", "openssl", ev("introduced", "0"), ev("fixed", "3.3.2-r0")),
		record("RLSA-2024:1", "2024-01-01T00:00:00Z", "Rocky Linux:9", "openssl", ev("introduced", "0"), ev("fixed", "1:3.0.7-27.el9")),
		record("ALSA-2024:1", "2024-01-01T00:00:00Z", "AlmaLinux:9", "openssl-libs", ev("introduced", "0"), ev("fixed", "1:3.0.7-27.el9")),
	} {
		if _, err := db.Import(ctx, bytes.NewReader(marshal(t, r)), "r.json"); err != nil {
			t.Fatal(err)
		}
	}
	pkgs := []Package{
		{Name: "libcrypto3", Version: "3.3.1-r3", SourceName: "openssl", SourceVersion: "3.3.1-r3", Ecosystem: "Alpine:v3.20"},
		{Name: "libssl3", Version: "3.3.2-r0", SourceName: "openssl", SourceVersion: "3.3.2-r0", Ecosystem: "Alpine:v3.20"},
		{Name: "openssl-libs", Version: "1:3.0.7-25.el9_3", SourceName: "openssl", SourceVersion: "1:3.0.7-25.el9_3", Ecosystem: "Rocky Linux:9"},
		{Name: "openssl-libs", Version: "1:3.0.7-28.el9", SourceName: "openssl", SourceVersion: "1:3.0.7-28.el9", Ecosystem: "Rocky Linux:9"},
		// AlmaLinux records may name the binary package.
		{Name: "openssl-libs", Version: "1:3.0.7-25.el9_3", SourceName: "openssl", SourceVersion: "1:3.0.7-25.el9_3", Ecosystem: "AlmaLinux:9"},
	}
	findings, err := db.Match(ctx, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range findings {
		got = append(got, fmt.Sprintf("%s %s %s %s", f.Package.Ecosystem, f.Package.Name, f.Package.Version, f.VulnerabilityID))
	}
	want := []string{
		"Alpine:v3.20 libcrypto3 3.3.1-r3 ALPINE-CVE-2024-1",
		"AlmaLinux:9 openssl-libs 1:3.0.7-25.el9_3 ALSA-2024:1",
		"Rocky Linux:9 openssl-libs 1:3.0.7-25.el9_3 RLSA-2024:1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Match =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestEcosystemFor(t *testing.T) {
	for _, c := range []struct {
		os   inventory.OS
		want string
	}{
		{inventory.OS{ID: "debian", VersionID: "12"}, "Debian:12"},
		{inventory.OS{ID: "debian"}, ""}, // testing, sid
		{inventory.OS{ID: "ubuntu", VersionID: "24.04", PrettyName: "Ubuntu 24.04.1 LTS"}, "Ubuntu:24.04:LTS"},
		{inventory.OS{ID: "ubuntu", VersionID: "22.04"}, "Ubuntu:22.04:LTS"},
		{inventory.OS{ID: "ubuntu", VersionID: "24.10", PrettyName: "Ubuntu 24.10"}, "Ubuntu:24.10"},
		{inventory.OS{ID: "ubuntu", VersionID: "23.04"}, "Ubuntu:23.04"},
		{inventory.OS{ID: "alpine", VersionID: "3.20.3"}, "Alpine:v3.20"},
		{inventory.OS{ID: "alpine", VersionID: "edge"}, ""},
		{inventory.OS{ID: "rocky", VersionID: "9.4"}, "Rocky Linux:9"},
		{inventory.OS{ID: "almalinux", VersionID: "9.4"}, "AlmaLinux:9"},
		{inventory.OS{ID: "wolfi", VersionID: "20230201"}, "Wolfi"},
		{inventory.OS{ID: "amzn", VersionID: "2023"}, ""},
		{inventory.OS{}, ""},
	} {
		if got := EcosystemFor(c.os); got != c.want {
			t.Errorf("EcosystemFor(%+v) = %q, want %q", c.os, got, c.want)
		}
	}
}

// TestCVSS3: scores of vectors as NVD publishes them.
func TestCVSS3(t *testing.T) {
	for _, c := range []struct {
		vector   string
		score    float64
		severity string
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, SeverityCritical},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", 10, SeverityCritical},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8, SeverityHigh},     // CVE-2023-4911
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:H", 9.1, SeverityCritical}, // CVE-2024-5535
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:H", 8.2, SeverityHigh},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9, SeverityMedium},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1, SeverityMedium}, // the classic XSS
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", 1.6, SeverityLow},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0, SeverityInformational},
		{"CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N", 6.4, SeverityMedium},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:P/RL:O", 9.8, SeverityCritical}, // temporal metrics ignored
	} {
		v, err := parseCVSS3(c.vector)
		if err != nil {
			t.Errorf("parseCVSS3(%q): %v", c.vector, err)
			continue
		}
		if s := v.baseScore(); s != c.score || severityForScore(s) != c.severity {
			t.Errorf("%s: score %v (%s), want %v (%s)", c.vector, s, severityForScore(s), c.score, c.severity)
		}
	}
	for _, bad := range []string{"", "CVSS:2.0/AV:N", "CVSS:3.1/AV:N/AC:L", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"} {
		if _, err := parseCVSS3(bad); err == nil {
			t.Errorf("parseCVSS3(%q) accepted", bad)
		}
	}
}

// TestSeverityFallbacks: without a CVSS v3 vector the vendors' words decide.
func TestSeverityFallbacks(t *testing.T) {
	for _, c := range []struct {
		name string
		rec  string
		want string
	}{
		{"ubuntu priority", `{"severity":[{"type":"Ubuntu","score":"medium"}]}`, SeverityMedium},
		{"ecosystem_specific urgency", `{"affected":[{"ecosystem_specific":{"urgency":"low**"}}]}`, SeverityLow},
		{"database_specific moderate", `{"database_specific":{"severity":"MODERATE"}}`, SeverityMedium},
		{"important", `{"affected":[{"database_specific":{"severity":"Important"}}]}`, SeverityHigh},
		{"unimportant", `{"affected":[{"ecosystem_specific":{"urgency":"unimportant"}}]}`, SeverityInformational},
		{"not yet assigned", `{"affected":[{"ecosystem_specific":{"urgency":"not yet assigned"}}]}`, SeverityUntriaged},
		{"cvss v2 only", `{"severity":[{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}]}`, SeverityUntriaged},
		{"package severity wins", `{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"}]}]}`, SeverityLow},
	} {
		var rec osvRecord
		if err := json.Unmarshal([]byte(c.rec), &rec); err != nil {
			t.Fatal(err)
		}
		var entry *osvAffected
		if len(rec.Affected) > 0 {
			entry = &rec.Affected[0]
		}
		if got, _, _, _ := severityOf(&rec, entry); got != c.want {
			t.Errorf("%s: severity %s, want %s", c.name, got, c.want)
		}
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"zlib"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1:1.3"}]}],"versions":["1"]}]}`))
	f.Add([]byte(`{"id":"X-1","modified":"2024-01-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}`))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseRecord(data)
		if err != nil {
			var fe *fieldError
			if !errors.As(err, &fe) {
				t.Fatalf("parseRecord error %T is not a fieldError", err)
			}
			return
		}
		if p.rec.ID == "" || p.modified.IsZero() && p.rec.Modified == "" {
			t.Fatalf("accepted a record without id or modified: %q", data)
		}
		// Whatever was accepted can be evaluated without panicking.
		for _, a := range p.rec.Affected {
			affectedBy(&p.rec, a.Package.Ecosystem, a.Package.Name, "1.0-1", 1)
			severityOf(&p.rec, &a)
		}
		severityOf(&p.rec, nil)
	})
}

func FuzzParseCVSS3(f *testing.F) {
	f.Add("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
	f.Add("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:L/I:L/A:N/E:U")
	f.Add("CVSS:3.1/")
	f.Fuzz(func(t *testing.T, vector string) {
		v, err := parseCVSS3(vector)
		if err != nil {
			return
		}
		if s := v.baseScore(); s < 0 || s > 10 {
			t.Fatalf("%q: score %v out of range", vector, s)
		}
	})
}

// FuzzImport feeds arbitrary bytes as a zip archive and as a record: the
// outcome is a stored record or an InputError, never a panic, and an
// InputError stores nothing.
func FuzzImport(f *testing.F) {
	f.Add(zipOf(f, map[string][]byte{"A.json": marshal(f, record("A-1", "2024-01-01T00:00:00Z", "Debian:12", "zlib", ev("introduced", "0")))}))
	f.Add([]byte("PK\x03\x04"))
	f.Add([]byte(`{"id":"A-1","modified":"2024-01-01T00:00:00Z"}`))
	db := openDB(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		for _, name := range []string{"x.zip", "x.json"} {
			before, _ := db.Status(ctx)
			_, err := db.Import(ctx, bytes.NewReader(data), name)
			var ie *InputError
			if err != nil && !errors.As(err, &ie) {
				t.Fatalf("Import(%s): %v is not an InputError", name, err)
			}
			if err != nil {
				if after, _ := db.Status(ctx); !slices.Equal(before, after) {
					t.Fatalf("a refused import changed the database: %+v -> %+v", before, after)
				}
			}
		}
	})
}
