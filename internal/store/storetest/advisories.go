package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// testAdvisories checks store.Advisories, for a backend that implements
// it: replacement by Modified (index rows included), lookups by
// (ecosystem, package) and the per-ecosystem counts.
func (s suite) testAdvisories(t *testing.T) {
	st := s.store(t)
	a, ok := st.(store.Advisories)
	if !ok {
		t.Skip("this backend has no vulnerability database (store.Advisories)")
	}
	ctx := context.Background()
	adv := func(id string, modified time.Time, affects ...store.Affected) store.Advisory {
		return store.Advisory{ID: id, Modified: modified, Doc: []byte(fmt.Sprintf(`{"id":%q}`, id)), Affects: affects}
	}
	deb12, deb11 := "Debian:12", "Debian:11"
	put := func(batch ...store.Advisory) []store.PutOutcome {
		t.Helper()
		out, err := a.PutAdvisories(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	lookup := func(eco string, pkgs ...string) []string {
		t.Helper()
		var got []string
		err := a.AdvisoriesFor(ctx, eco, pkgs, func(pkg string, adv store.Advisory) error {
			got = append(got, pkg+" "+adv.ID+" "+string(adv.Doc)+" "+adv.Modified.UTC().Format(time.RFC3339Nano))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	out := put(
		adv("CVE-1", base, store.Affected{Ecosystem: deb12, Package: "openssl"}, store.Affected{Ecosystem: deb11, Package: "openssl"}),
		adv("CVE-2", base.Add(time.Hour), store.Affected{Ecosystem: deb12, Package: "openssl"}, store.Affected{Ecosystem: deb12, Package: "glibc"}),
		adv("CVE-3", base, store.Affected{Ecosystem: deb11, Package: "zlib"}),
		adv("NOTHING-1", base), // a record naming no package is stored, and found by nothing
	)
	if want := []store.PutOutcome{store.Added, store.Added, store.Added, store.Added}; !slices.Equal(out, want) {
		t.Errorf("first PutAdvisories = %v, want %v", out, want)
	}
	ts := base.UTC().Format(time.RFC3339Nano)
	ts1 := base.Add(time.Hour).UTC().Format(time.RFC3339Nano)
	got := lookup(deb12, "glibc", "openssl", "absent")
	want := []string{
		`glibc CVE-2 {"id":"CVE-2"} ` + ts1,
		`openssl CVE-1 {"id":"CVE-1"} ` + ts,
		`openssl CVE-2 {"id":"CVE-2"} ` + ts1,
	}
	if !slices.Equal(got, want) {
		t.Errorf("AdvisoriesFor(Debian:12) =\n%q\nwant\n%q", got, want)
	}

	// Older and equal records are kept as they are; a newer one replaces
	// the record and its index rows.
	out = put(
		adv("CVE-1", base.Add(-time.Hour), store.Affected{Ecosystem: deb12, Package: "curl"}),
		adv("CVE-2", base.Add(time.Hour), store.Affected{Ecosystem: deb12, Package: "curl"}),
		adv("CVE-3", base.Add(2*time.Hour), store.Affected{Ecosystem: deb12, Package: "zlib"}),
	)
	if want := []store.PutOutcome{store.Kept, store.Kept, store.Replaced}; !slices.Equal(out, want) {
		t.Errorf("second PutAdvisories = %v, want %v", out, want)
	}
	if got := lookup(deb12, "curl"); len(got) != 0 {
		t.Errorf("kept records gained index rows: %q", got)
	}
	if got := lookup(deb11, "zlib"); len(got) != 0 {
		t.Errorf("a replaced record kept its old index rows: %q", got)
	}
	if got := lookup(deb12, "zlib"); len(got) != 1 {
		t.Errorf("a replaced record's new index rows: %q", got)
	}

	counts, err := a.AdvisoryCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := []store.AdvisoryCount{
		{Ecosystem: deb11, Records: 1, NewestModified: base},
		{Ecosystem: deb12, Records: 3, NewestModified: base.Add(2 * time.Hour)},
	}
	if len(counts) != len(wantCounts) {
		t.Fatalf("AdvisoryCounts = %+v, want %+v", counts, wantCounts)
	}
	for i := range counts {
		c, w := counts[i], wantCounts[i]
		if c.Ecosystem != w.Ecosystem || c.Records != w.Records || !c.NewestModified.Equal(w.NewestModified) {
			t.Errorf("AdvisoryCounts[%d] = %+v, want %+v", i, c, w)
		}
	}

	// A failing callback stops the walk with its error.
	errStop := fmt.Errorf("stop")
	n := 0
	if err := a.AdvisoriesFor(ctx, deb12, []string{"openssl"}, func(string, store.Advisory) error { n++; return errStop }); err != errStop || n != 1 {
		t.Errorf("AdvisoriesFor with a failing callback = %v after %d calls", err, n)
	}
}
