package scan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// Inspector's finding severities, as ImageScanFinding.severity carries
// them. UNTRIAGED is a vulnerability whose record gives no severity.
const (
	SeverityCritical      = "CRITICAL"
	SeverityHigh          = "HIGH"
	SeverityMedium        = "MEDIUM"
	SeverityLow           = "LOW"
	SeverityInformational = "INFORMATIONAL"
	SeverityUntriaged     = "UNTRIAGED"
)

// Severities lists them from the most to the least severe.
var Severities = []string{SeverityCritical, SeverityHigh, SeverityMedium, SeverityLow, SeverityInformational, SeverityUntriaged}

// rank orders severities: higher is worse; unknown strings rank lowest.
func rank(severity string) int {
	switch severity {
	case SeverityCritical:
		return 5
	case SeverityHigh:
		return 4
	case SeverityMedium:
		return 3
	case SeverityLow:
		return 2
	case SeverityInformational:
		return 1
	}
	return 0
}

// SeverityFromCVSS maps a CVSS v3 base score to Inspector's severity
// bands (the CVSS v3.x qualitative scale).
func SeverityFromCVSS(score float64) string {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return SeverityInformational
}

// Counts is the API's severityCounts of findings: all of them, and the
// critical, high and medium ones (the shape has no member for the rest,
// which only count in all).
func Counts(findings []awsapi.ImageScanFinding) *awsapi.SeverityCounts {
	var all, critical, high, medium int64
	for _, f := range findings {
		all++
		switch f.Severity {
		case SeverityCritical:
			critical++
		case SeverityHigh:
			high++
		case SeverityMedium:
			medium++
		}
	}
	return &awsapi.SeverityCounts{All: &all, Critical: &critical, High: &high, Medium: &medium}
}

// Summary says in a few words how many findings there are of each
// severity, for scanState's reason and the build log.
func Summary(findings []awsapi.ImageScanFinding) string {
	if len(findings) == 0 {
		return "no findings"
	}
	n := map[string]int{}
	for _, f := range findings {
		n[f.Severity]++
	}
	var parts []string
	for _, s := range Severities {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[s], strings.ToLower(s)))
		}
	}
	noun := "findings"
	if len(findings) == 1 {
		noun = "finding"
	}
	return fmt.Sprintf("%d %s (%s)", len(findings), noun, strings.Join(parts, ", "))
}

// SortFindings orders findings the way people read them: the most severe
// first, then the highest score, then by vulnerability id.
func SortFindings(findings []awsapi.ImageScanFinding) {
	sort.SliceStable(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		if ra, rb := rank(a.Severity), rank(b.Severity); ra != rb {
			return ra > rb
		}
		sa, sb := score(a), score(b)
		if sa != sb {
			return sa > sb
		}
		return vulnerabilityID(a) < vulnerabilityID(b)
	})
}

func score(f awsapi.ImageScanFinding) float64 {
	if f.InspectorScore != nil {
		return *f.InspectorScore
	}
	return 0
}

// Enabled reports whether an image's imageScanningConfiguration asks for
// findings. Image Builder scans only when imageScanningEnabled is true;
// an absent configuration or member means no scan.
func Enabled(c *awsapi.ImageScanningConfiguration) bool {
	return c != nil && c.ImageScanningEnabled != nil && *c.ImageScanningEnabled
}
