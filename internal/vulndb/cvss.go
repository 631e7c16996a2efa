package vulndb

import (
	"fmt"
	"math"
	"strings"
)

// cvss3 is a parsed CVSS v3.0 or v3.1 vector's base metrics.
type cvss3 struct {
	version           string // "3.0" or "3.1"
	av, ac, pr, ui, s byte
	c, i, a           byte
}

// parseCVSS3 reads a vector such as "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".
// All eight base metrics are required, each once; temporal and
// environmental metrics may follow and are ignored, as the base score
// does not use them.
func parseCVSS3(vector string) (cvss3, error) {
	var v cvss3
	parts := strings.Split(vector, "/")
	switch parts[0] {
	case "CVSS:3.0":
		v.version = "3.0"
	case "CVSS:3.1":
		v.version = "3.1"
	default:
		return v, fmt.Errorf("cvss: %q is not a CVSS v3 vector", vector)
	}
	allowed := map[string]string{"AV": "NALP", "AC": "LH", "PR": "NLH", "UI": "NR", "S": "UC", "C": "HLN", "I": "HLN", "A": "HLN"}
	seen := map[string]bool{}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, ":")
		if !ok || len(val) != 1 {
			return v, fmt.Errorf("cvss: bad metric %q", p)
		}
		vals, base := allowed[k]
		if !base {
			continue
		}
		if seen[k] {
			return v, fmt.Errorf("cvss: metric %s given twice", k)
		}
		if !strings.Contains(vals, val) {
			return v, fmt.Errorf("cvss: %s:%s is not a valid value", k, val)
		}
		seen[k] = true
		c := val[0]
		switch k {
		case "AV":
			v.av = c
		case "AC":
			v.ac = c
		case "PR":
			v.pr = c
		case "UI":
			v.ui = c
		case "S":
			v.s = c
		case "C":
			v.c = c
		case "I":
			v.i = c
		case "A":
			v.a = c
		}
	}
	if len(seen) != len(allowed) {
		return v, fmt.Errorf("cvss: %q lacks base metrics", vector)
	}
	return v, nil
}

// baseScore computes the base score with the formulas of the CVSS v3.1
// specification (section 7.1), rounding up as its Appendix A says (v3.0
// rounds up with a plain ceiling to one decimal).
func (v cvss3) baseScore() float64 {
	weight := func(c byte, m map[byte]float64) float64 { return m[c] }
	av := weight(v.av, map[byte]float64{'N': 0.85, 'A': 0.62, 'L': 0.55, 'P': 0.2})
	ac := weight(v.ac, map[byte]float64{'L': 0.77, 'H': 0.44})
	changed := v.s == 'C'
	pr := weight(v.pr, map[byte]float64{'N': 0.85, 'L': 0.62, 'H': 0.27})
	if changed {
		pr = weight(v.pr, map[byte]float64{'N': 0.85, 'L': 0.68, 'H': 0.5})
	}
	ui := weight(v.ui, map[byte]float64{'N': 0.85, 'R': 0.62})
	cia := map[byte]float64{'H': 0.56, 'L': 0.22, 'N': 0}
	iss := 1 - (1-cia[v.c])*(1-cia[v.i])*(1-cia[v.a])
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	if impact <= 0 {
		return 0
	}
	exploitability := 8.22 * av * ac * pr * ui
	total := impact + exploitability
	if changed {
		total *= 1.08
	}
	return v.roundUp(math.Min(total, 10))
}

func (v cvss3) roundUp(x float64) float64 {
	if v.version == "3.0" {
		return math.Ceil(x*10) / 10
	}
	n := int64(math.Round(x * 100000))
	if n%10000 == 0 {
		return float64(n) / 100000
	}
	return float64(n/10000+1) / 10
}

// severityForScore is the CVSS v3 qualitative rating, in Inspector's
// words: a score of 0 ("None") is INFORMATIONAL.
func severityForScore(s float64) string {
	switch {
	case s >= 9:
		return SeverityCritical
	case s >= 7:
		return SeverityHigh
	case s >= 4:
		return SeverityMedium
	case s > 0:
		return SeverityLow
	}
	return SeverityInformational
}
