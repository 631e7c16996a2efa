package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/inventory"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/store"
)

// maxLoggedFindings bounds the findings a scan step lists in its log; the
// rest are in ListImageScanFindings and `kiln scan`.
const maxLoggedFindings = 50

// ScanImage is the CollectImageScanFindings step of a build, run by the
// executor with the image's inventory once the image exists: it matches
// the packages against the vulnerability database, records the findings
// and moves image.scanState along Image Builder's statuses (PENDING →
// SCANNING → COLLECTING → COMPLETED, or ABANDONED, FAILED, TIMED_OUT), and
// applies the kiln:fail-on-severity gate.
//
// It does nothing, and says so, when the image's
// imageScanningConfiguration does not enable scanning, and runs once per
// build however many steps ask. Its error is a scan that failed or timed
// out (the step fails; Image Builder's workflows continue past it); a
// gate that trips is not an error here but fails the build when the step
// ends (see Build.gateFailure).
func (b *Build) ScanImage(ctx context.Context, s *Step, osr inventory.OS, pkgs []inventory.Package) error {
	if !scan.Enabled(b.Image.ImageScanningConfiguration) {
		s.Logf("image scanning is off for this image (imageScanningConfiguration.imageScanningEnabled is not true): no findings collected")
		return nil
	}
	if b.scanned {
		s.Logf("this build's findings are already collected")
		return nil
	}
	b.scanned = true
	e := b.engine
	if err := b.setScanState(ctx, awsapi.ImageScanStatusScanning, ""); err != nil {
		return err
	}
	s.Logf("scanning %d packages for vulnerabilities", len(pkgs))
	start := time.Now()
	res, err := scan.Scan(ctx, e.Vulns, osr, pkgs, e.now())
	if err != nil {
		status := awsapi.ImageScanStatusFailed
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			status = awsapi.ImageScanStatusTimedOut
		}
		reason := "The scan failed: " + err.Error()
		b.endScan(s, status, reason, nil)
		return errors.New(reason)
	}
	if res.NotChecked != "" {
		s.Logf("%s", res.NotChecked)
		b.endScan(s, awsapi.ImageScanStatusAbandoned, res.NotChecked, nil)
		return nil
	}
	if err := b.setScanState(ctx, awsapi.ImageScanStatusCollecting, ""); err != nil {
		return err
	}
	reason := fmt.Sprintf("%s in %d packages, matched against %d %s records.",
		upperFirst(scan.Summary(res.Findings)), res.Packages, res.Records, res.Ecosystem)
	err = e.Store.Update(ctx, func(tx store.Tx) error {
		if err := scan.Record(ctx, tx, e.Region, b.Job.Account, b.Image.Arn, b.Image.SourcePipelineArn, res.Findings, e.now()); err != nil {
			return err
		}
		return b.updateIn(ctx, tx, func(img *awsapi.Image) {
			img.ScanState = &awsapi.ImageScanState{Status: awsapi.ImageScanStatusCompleted, Reason: reason}
		})
	})
	if err != nil {
		reason := "kiln could not record the findings: " + err.Error()
		b.endScan(s, awsapi.ImageScanStatusFailed, reason, nil)
		return errors.New(reason)
	}
	s.Logf("scan completed in %s: %s", time.Since(start).Round(time.Millisecond), reason)
	for i, f := range res.Findings {
		if i == maxLoggedFindings {
			s.Logf("  … and %d more: kiln scan %s", len(res.Findings)-i, b.Image.Arn)
			break
		}
		s.Logf("  %-13s %-24s %s", f.Severity, f.PackageVulnerabilityDetails.VulnerabilityId, packagesOf(f))
	}
	b.observeScan(awsapi.ImageScanStatusCompleted, res.Findings)
	b.applyGate(ctx, s, res.Findings, "")
	return nil
}

// endScan records a scan that ended without findings to record, and
// applies the gate: a gate that could not be evaluated fails the build.
func (b *Build) endScan(s *Step, status, reason string, findings []awsapi.ImageScanFinding) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.setScanState(ctx, status, reason); err != nil {
		s.Logf("recording the scan state: %v", err)
	}
	b.observeScan(status, findings)
	b.applyGate(ctx, s, findings, reason)
}

func (b *Build) observeScan(status string, findings []awsapi.ImageScanFinding) {
	if b.engine.ScanMetrics == nil {
		return
	}
	sev := make([]string, len(findings))
	for i, f := range findings {
		sev[i] = f.Severity
	}
	b.engine.ScanMetrics.Observe(status, sev)
}

// applyGate reads the gate from the image's and its pipeline's tags and
// sets the build's gate failure when findings meet it, or when the scan
// did not complete (notCompleted is why) and a gate is set.
func (b *Build) applyGate(ctx context.Context, s *Step, findings []awsapi.ImageScanFinding, notCompleted string) {
	var imageTags, pipelineTags map[string]string
	if r, err := b.engine.Store.Get(ctx, b.Image.Arn); err == nil {
		imageTags = r.Tags
	}
	if p := b.Image.SourcePipelineArn; p != "" {
		if r, err := b.engine.Store.Get(ctx, p); err == nil {
			pipelineTags = r.Tags
		}
	}
	gate, err := scan.GateFor(imageTags, pipelineTags)
	if err != nil {
		b.gateFailure = "The vulnerability gate cannot be read: " + err.Error() + "."
		s.Logf("%s", b.gateFailure)
		return
	}
	if gate.Threshold == "" {
		return
	}
	if notCompleted != "" {
		b.gateFailure = fmt.Sprintf("The build is gated on findings at or above %s (%s %s), but the scan did not complete: %s",
			gate.Threshold, gate.From, scan.GateTag, notCompleted)
		s.Logf("%s", b.gateFailure)
		return
	}
	if _, reason := gate.Breaches(findings); reason != "" {
		b.gateFailure = reason
		s.Logf("the vulnerability gate fails the build: %s", reason)
		return
	}
	s.Logf("the vulnerability gate (%s) passed: no finding at or above %s", scan.GateTag, gate.Threshold)
}

func (b *Build) setScanState(ctx context.Context, status, reason string) error {
	return b.Update(ctx, func(img *awsapi.Image) {
		img.ScanState = &awsapi.ImageScanState{Status: status, Reason: reason}
	})
}

// abandonScan is the edit of a build's final image record (status is
// the build's): a scan that was still to come, or running, when the build
// ended never will run, and scanState says so rather than staying
// PENDING.
func abandonScan(img *awsapi.Image, status string) {
	st := img.ScanState
	if st == nil {
		return
	}
	switch st.Status {
	case awsapi.ImageScanStatusPending, awsapi.ImageScanStatusScanning, awsapi.ImageScanStatusCollecting:
	default:
		return
	}
	reason := "The build ended before the image was scanned."
	if status == awsapi.ImageStatusAvailable {
		reason = "The image was not scanned: its workflows ran no CollectImageScanFindings step (for a machine image, the step runs in the test workflow, which did not run)."
	}
	img.ScanState = &awsapi.ImageScanState{Status: awsapi.ImageScanStatusAbandoned, Reason: reason}
}

// gateVerdict is the gate's last word before the image is integrated:
// the failure a scan's findings gave, or, for a build whose scanning is on
// and gated but which never scanned (a machine image with its tests
// disabled), a failure saying so — a gate that could not look must not
// let the image through.
func (b *Build) gateVerdict(ctx context.Context) string {
	if b.gateFailure != "" || b.scanned || !scan.Enabled(b.Image.ImageScanningConfiguration) {
		return b.gateFailure
	}
	var log bytes.Buffer
	b.applyGate(ctx, &Step{Log: &log}, nil, "the build ran no CollectImageScanFindings step (for a machine image, it runs in the test workflow)")
	if b.gateFailure != "" && b.Log != nil {
		fmt.Fprintln(b.Log, b.gateFailure)
	}
	return b.gateFailure
}

func packagesOf(f awsapi.ImageScanFinding) string {
	out := ""
	for i, p := range f.PackageVulnerabilityDetails.VulnerablePackages {
		if i > 0 {
			out += ", "
		}
		out += p.Name + " " + p.Version
		if p.FixedInVersion != "" && p.FixedInVersion != "NotAvailable" {
			out += " (fixed in " + p.FixedInVersion + ")"
		}
	}
	return out
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; c >= 'a' && c <= 'z' {
		return string(c-'a'+'A') + s[1:]
	}
	return s
}
