package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/inventory"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/vulndb"
)

// cannedDB answers a scan with fixed records; the real database is driven
// end to end in test/scan.
type cannedDB struct {
	status []vulndb.EcosystemStatus
	found  []vulndb.Finding
}

func (c cannedDB) Status(context.Context) ([]vulndb.EcosystemStatus, error) { return c.status, nil }
func (c cannedDB) Match(context.Context, []vulndb.Package) ([]vulndb.Finding, error) {
	return c.found, nil
}

// brokenDB fails every match, as a damaged database would.
type brokenDB struct{ cannedDB }

func (brokenDB) Match(context.Context, []vulndb.Package) ([]vulndb.Finding, error) {
	return nil, errors.New("disk I/O error")
}

var bookworm = inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"}

func TestScanImage(t *testing.T) {
	t.Parallel()
	pkgs := []inventory.Package{{Name: "libssl3", Version: "3.0.11-1~deb12u2", Source: inventory.SourceDpkg, SourceName: "openssl"}}
	critical := vulndb.Finding{VulnerabilityID: "DEBIAN-CVE-2024-0001", Severity: scan.SeverityCritical, FixedIn: "3.0.13-1~deb12u1",
		Package: vulndb.Package{Name: "libssl3", Version: "3.0.11-1~deb12u2", SourceName: "openssl", Ecosystem: "Debian:12"}}
	debian := []vulndb.EcosystemStatus{{Ecosystem: "Debian:12", Records: 10}}
	for _, tc := range []struct {
		name      string
		scanning  bool
		tags      map[string]string
		db        scan.Database
		status    string // scanState; "" for none
		reason    string // in scanState's reason
		findings  int
		gate      string // in the gate failure; "" for none
		stepError bool
	}{
		{name: "scanning off", scanning: false, db: cannedDB{status: debian, found: []vulndb.Finding{critical}}},
		{name: "findings", scanning: true, db: cannedDB{status: debian, found: []vulndb.Finding{critical}},
			status: awsapi.ImageScanStatusCompleted, reason: "1 finding (1 critical)", findings: 1},
		{name: "no findings", scanning: true, db: cannedDB{status: debian},
			status: awsapi.ImageScanStatusCompleted, reason: "No findings in 1 packages, matched against 10 Debian:12 records"},
		{name: "empty database", scanning: true, db: cannedDB{},
			status: awsapi.ImageScanStatusAbandoned, reason: "no records for Debian:12 (it is empty)"},
		{name: "no database", scanning: true, db: nil,
			status: awsapi.ImageScanStatusAbandoned, reason: "no vulnerability database"},
		{name: "database error", scanning: true, db: brokenDB{cannedDB{status: debian}},
			status: awsapi.ImageScanStatusFailed, reason: "disk I/O error", stepError: true},
		{name: "gate met", scanning: true, tags: map[string]string{scan.GateTag: "HIGH"}, db: cannedDB{status: debian, found: []vulndb.Finding{critical}},
			status: awsapi.ImageScanStatusCompleted, findings: 1, gate: "DEBIAN-CVE-2024-0001 in libssl3 3.0.11-1~deb12u2"},
		{name: "gate not met", scanning: true, tags: map[string]string{scan.GateTag: "CRITICAL"}, db: cannedDB{status: debian},
			status: awsapi.ImageScanStatusCompleted},
		{name: "gate on an unchecked image fails closed", scanning: true, tags: map[string]string{scan.GateTag: "CRITICAL"}, db: cannedDB{},
			status: awsapi.ImageScanStatusAbandoned, gate: "the scan did not complete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, clock := openStore(t), newClock()
			e := newEngine(st, clock)
			if tc.db != nil {
				e.Vulns = tc.db
			}
			e.ScanMetrics = &scan.Metrics{}
			img := awsapi.Image{Arn: imageARN(1), State: &awsapi.ImageState{Status: awsapi.ImageStatusBuilding},
				ImageScanningConfiguration: &awsapi.ImageScanningConfiguration{ImageScanningEnabled: &tc.scanning}}
			if tc.scanning {
				img.ScanState = &awsapi.ImageScanState{Status: awsapi.ImageScanStatusPending}
			}
			doc, _ := json.Marshal(img)
			ctx := context.Background()
			if err := st.Update(ctx, func(tx store.Tx) error {
				return tx.Insert(ctx, store.Resource{ARN: img.Arn, Kind: "image", Account: "111122223333", Region: testRegion,
					Name: "img", Version: "1.0.0", Build: 1, Doc: doc, Tags: tc.tags})
			}); err != nil {
				t.Fatal(err)
			}
			b := &Build{Image: img, Job: Job{Image: img.Arn, Account: "111122223333"}, engine: e}
			var log bytes.Buffer
			err := b.ScanImage(ctx, &Step{Log: &log}, bookworm, pkgs)
			if (err != nil) != tc.stepError {
				t.Fatalf("ScanImage: %v\n%s", err, log.String())
			}
			r, _ := st.Get(ctx, img.Arn)
			stored, _ := decode[awsapi.Image](r)
			switch {
			case tc.status == "" && stored.ScanState != nil:
				t.Fatalf("scanState %+v, want none", stored.ScanState)
			case tc.status != "" && (stored.ScanState == nil || stored.ScanState.Status != tc.status || !strings.Contains(stored.ScanState.Reason, tc.reason)):
				t.Fatalf("scanState %+v, want %s with %q\n%s", stored.ScanState, tc.status, tc.reason, log.String())
			}
			var fs []awsapi.ImageScanFinding
			st.View(ctx, func(tx store.Tx) (err error) { fs, err = scan.ForImage(ctx, tx, testRegion, img.Arn); return })
			if len(fs) != tc.findings {
				t.Fatalf("%d findings stored, want %d", len(fs), tc.findings)
			}
			if (b.gateFailure == "") != (tc.gate == "") || !strings.Contains(b.gateFailure, tc.gate) {
				t.Fatalf("gate failure %q, want %q", b.gateFailure, tc.gate)
			}
			if tc.gate != "" && !strings.Contains(log.String(), b.gateFailure) {
				t.Fatalf("the step log does not give the gate's verdict:\n%s", log.String())
			}
			// A second scan step in the same build does nothing.
			if tc.status == awsapi.ImageScanStatusCompleted {
				log.Reset()
				if err := b.ScanImage(ctx, &Step{Log: &log}, bookworm, pkgs); err != nil || !strings.Contains(log.String(), "already") {
					t.Fatalf("second scan: %v\n%s", err, log.String())
				}
			}
		})
	}
}

// TestFinishAbandonsAPendingScan: a build that ends before its scan ran
// leaves scanState ABANDONED, never PENDING for ever.
func TestFinishAbandonsAPendingScan(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	e := newEngine(st, clock)
	a := enqueue(t, st, clock, 1)
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error {
		return setImageState(ctx, tx, a, awsapi.ImageStatusBuilding, "", clock.Now(), func(img *awsapi.Image) {
			img.ScanState = &awsapi.ImageScanState{Status: awsapi.ImageScanStatusPending}
		})
	}); err != nil {
		t.Fatal(err)
	}
	j, ok, _, err := e.claim(ctx)
	if !ok || err != nil {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	e.finish(j, awsapi.ImageStatusFailed, "a component failed")
	r, _ := st.Get(ctx, a)
	img, _ := decode[awsapi.Image](r)
	if img.ScanState == nil || img.ScanState.Status != awsapi.ImageScanStatusAbandoned || img.ScanState.Reason == "" {
		t.Fatalf("scanState after the build ended: %+v", img.ScanState)
	}
}

// TestGateWithoutScan: a gated build with scanning on that never ran its
// scan step fails closed; without a gate, or with scanning off, it goes
// on.
func TestGateWithoutScan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		scanning bool
		tags     map[string]string
		fails    bool
	}{
		{"gated", true, map[string]string{scan.GateTag: "CRITICAL"}, true},
		{"not gated", true, nil, false},
		{"scanning off", false, map[string]string{scan.GateTag: "CRITICAL"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, clock := openStore(t), newClock()
			e := newEngine(st, clock)
			img := awsapi.Image{Arn: imageARN(1), ImageScanningConfiguration: &awsapi.ImageScanningConfiguration{ImageScanningEnabled: &tc.scanning}}
			doc, _ := json.Marshal(img)
			ctx := context.Background()
			if err := st.Update(ctx, func(tx store.Tx) error {
				return tx.Insert(ctx, store.Resource{ARN: img.Arn, Kind: "image", Account: "111122223333", Region: testRegion,
					Name: "img", Version: "1.0.0", Build: 1, Doc: doc, Tags: tc.tags})
			}); err != nil {
				t.Fatal(err)
			}
			b := &Build{Image: img, engine: e}
			if got := b.gateVerdict(ctx); (got != "") != tc.fails || (tc.fails && !strings.Contains(got, "CollectImageScanFindings")) {
				t.Fatalf("gateVerdict = %q", got)
			}
		})
	}
}
