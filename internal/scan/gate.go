package scan

import (
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// GateTag is kiln's extension to Image Builder: an image or image
// pipeline tagged kiln:fail-on-severity=SEVERITY fails its build when a
// scan finding is at least that severe. Image Builder has no such switch
// for test-instance scans (Inspector only reports); kiln reads it from a
// tag so that a recipe, a Terraform file or a CLI call written for AWS
// carries it without a change to the API's shapes.
const GateTag = "kiln:fail-on-severity"

// GateSeverities are the values the gate tag accepts.
var GateSeverities = []string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow}

// ParseGate reads a gate tag's value: one of GateSeverities, in any case,
// around spaces ignored. The error names the tag and the values it takes.
func ParseGate(value string) (string, error) {
	v := strings.ToUpper(strings.TrimSpace(value))
	for _, s := range GateSeverities {
		if v == s {
			return s, nil
		}
	}
	return "", fmt.Errorf("the tag %s has the value %q; it must be one of %s", GateTag, value, strings.Join(GateSeverities, ", "))
}

// Gate is the threshold that applies to a build, from the tags of its
// image and of the pipeline that started it.
type Gate struct {
	// Threshold is the least severity that fails the build; "" when no
	// tag sets one.
	Threshold string
	// From says which tag set it ("the image's tag", "the pipeline's tag").
	From string
}

// GateFor returns the gate of a build from its image's and its pipeline's
// tags. When both carry the tag the stricter (lower) threshold applies: a
// pipeline's policy cannot be loosened by one image, nor an image's by its
// pipeline. A value that is not a severity is an error: a gate that
// cannot be read must not let the build through.
func GateFor(imageTags, pipelineTags map[string]string) (Gate, error) {
	var g Gate
	for _, src := range []struct {
		tags map[string]string
		from string
	}{{imageTags, "the image's tag"}, {pipelineTags, "the image pipeline's tag"}} {
		v, ok := src.tags[GateTag]
		if !ok {
			continue
		}
		s, err := ParseGate(v)
		if err != nil {
			return Gate{}, fmt.Errorf("%s: %w", src.from, err)
		}
		if g.Threshold == "" || rank(s) < rank(g.Threshold) {
			g = Gate{Threshold: s, From: src.from}
		}
	}
	return g, nil
}

// maxReason bounds the failure reason: the image's state reason is read
// in consoles and CLI tables, and a base image can have hundreds of
// findings.
const maxReason = 900

// Breaches returns the findings that meet the gate's threshold (most
// severe first) and, when there are any, the image's failure reason
// naming them: vulnerability ids with their packages.
func (g Gate) Breaches(findings []awsapi.ImageScanFinding) ([]awsapi.ImageScanFinding, string) {
	if g.Threshold == "" {
		return nil, ""
	}
	var hit []awsapi.ImageScanFinding
	for _, f := range findings {
		if rank(f.Severity) >= rank(g.Threshold) {
			hit = append(hit, f)
		}
	}
	if len(hit) == 0 {
		return nil, ""
	}
	SortFindings(hit)
	var b strings.Builder
	fmt.Fprintf(&b, "%d vulnerability finding(s) at or above %s (%s %s=%s):", len(hit), g.Threshold, g.From, GateTag, g.Threshold)
	for i, f := range hit {
		item := fmt.Sprintf(" %s %s in %s", f.Severity, vulnerabilityID(f), packageList(f))
		if i > 0 {
			item = ";" + item
		}
		if b.Len()+len(item) > maxReason {
			fmt.Fprintf(&b, "; and %d more (kiln scan IMAGE-ARN lists them)", len(hit)-i)
			break
		}
		b.WriteString(item)
	}
	b.WriteString(".")
	return hit, b.String()
}

// packageList names a finding's packages as "name version[, ...]".
func packageList(f awsapi.ImageScanFinding) string {
	if f.PackageVulnerabilityDetails == nil || len(f.PackageVulnerabilityDetails.VulnerablePackages) == 0 {
		return "(no package)"
	}
	var parts []string
	for _, p := range f.PackageVulnerabilityDetails.VulnerablePackages {
		s := p.Name + " " + p.Version
		if p.FixedInVersion != "" && p.FixedInVersion != "NotAvailable" {
			s += " (fixed in " + p.FixedInVersion + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
