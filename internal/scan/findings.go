// Package scan is kiln's side of Image Builder's Inspector integration:
// the vulnerability findings of an image build, how they are kept in the
// store and found again by the ListImageScanFindings filters, their
// severities, and the kiln:fail-on-severity gate.
//
// Findings are matched offline against kiln's own vulnerability database
// (internal/vulndb, OSV records the operator imports), where Image
// Builder asks Amazon Inspector; what a client reads back has the API's
// ImageScanFinding shape either way.
package scan

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// Kinds of the finding rows. A finding is stored once per filter of
// ListImageScanFindings, each copy keyed by that filter's value in the
// Name column, so that every filter walks an index of the store
// ((kind, region, account, name) in SQL) rather than decoding every
// finding of the account: KindFinding by image build version ARN (and the
// unfiltered listing), the others by pipeline, vulnerability id and
// severity. The copies are written and deleted together, in one
// transaction.
const (
	KindFinding                = "kiln/image-scan-finding"
	KindFindingByPipeline      = "kiln/image-scan-finding/pipeline"
	KindFindingByVulnerability = "kiln/image-scan-finding/vulnerability"
	KindFindingBySeverity      = "kiln/image-scan-finding/severity"
)

// FilterKinds maps ListImageScanFindings' filter names to the kind whose
// Name column holds the filtered value.
var FilterKinds = map[string]string{
	"imageBuildVersionArn": KindFinding,
	"imagePipelineArn":     KindFindingByPipeline,
	"vulnerabilityId":      KindFindingByVulnerability,
	"severity":             KindFindingBySeverity,
}

// kindKey is the prefix of each kind's row keys.
var kindKey = map[string]string{
	KindFinding:                "kiln:image-scan-finding:",
	KindFindingByPipeline:      "kiln:image-scan-finding/pipeline:",
	KindFindingByVulnerability: "kiln:image-scan-finding/vulnerability:",
	KindFindingBySeverity:      "kiln:image-scan-finding/severity:",
}

// rowSuffix identifies one finding among all: its image and its
// vulnerability (an image has one finding per vulnerability, listing
// every package the vulnerability affects, as Inspector reports them).
func rowSuffix(image, vulnerability string) string { return image + "|" + vulnerability }

// Record replaces the findings of image (owned by account, in region)
// with findings, within tx. Each finding's awsAccountId,
// imageBuildVersionArn and imagePipelineArn are set here from the
// arguments, so what is stored always names its real owner.
func Record(ctx context.Context, tx store.Tx, region, account, image, pipeline string, findings []awsapi.ImageScanFinding, now time.Time) error {
	if err := Delete(ctx, tx, region, image); err != nil {
		return err
	}
	for _, f := range findings {
		f.AwsAccountId, f.ImageBuildVersionArn, f.ImagePipelineArn = account, image, pipeline
		if f.Type == "" {
			f.Type = "PACKAGE_VULNERABILITY"
		}
		id := vulnerabilityID(f)
		if id == "" {
			return errors.New("scan: a finding has no vulnerability id")
		}
		doc, err := json.Marshal(f)
		if err != nil {
			return err
		}
		suffix := rowSuffix(image, id)
		for kind, name := range map[string]string{
			KindFinding: image, KindFindingByPipeline: pipeline,
			KindFindingByVulnerability: id, KindFindingBySeverity: f.Severity,
		} {
			if name == "" {
				continue // an image built outside a pipeline has no pipeline row
			}
			r := store.Resource{
				ARN: kindKey[kind] + suffix, Kind: kind, Account: account, Region: region,
				Name: name, Doc: doc, Created: now, Updated: now,
			}
			if err := tx.Insert(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes every finding of image, within tx.
func Delete(ctx context.Context, tx store.Tx, region, image string) error {
	rows, err := tx.List(ctx, store.Query{Kind: KindFinding, Region: region, Name: image})
	if err != nil {
		return err
	}
	for _, r := range rows {
		suffix := strings.TrimPrefix(r.ARN, kindKey[KindFinding])
		for _, prefix := range kindKey {
			if err := tx.Delete(ctx, prefix+suffix); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// ForImage returns the stored findings of image (nil when none).
func ForImage(ctx context.Context, tx store.Tx, region, image string) ([]awsapi.ImageScanFinding, error) {
	rows, err := tx.List(ctx, store.Query{Kind: KindFinding, Region: region, Name: image})
	if err != nil {
		return nil, err
	}
	out := make([]awsapi.ImageScanFinding, 0, len(rows))
	for _, r := range rows {
		f, err := Decode(r)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// Decode reads a finding row.
func Decode(r store.Resource) (awsapi.ImageScanFinding, error) {
	var f awsapi.ImageScanFinding
	if err := json.Unmarshal(r.Doc, &f); err != nil {
		return f, errors.New("scan: stored finding " + r.ARN + ": " + err.Error())
	}
	return f, nil
}

func vulnerabilityID(f awsapi.ImageScanFinding) string {
	if f.PackageVulnerabilityDetails == nil {
		return ""
	}
	return f.PackageVulnerabilityDetails.VulnerabilityId
}
