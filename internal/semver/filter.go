package semver

import (
	"strings"
)

// Filter selects versions by their leading nodes, the rest being "x"
// wildcards: "x.x.x" (any version, i.e. "latest"), "1.x.x", "1.2.x" or the
// exact "1.2.3". A wildcard may only be followed by wildcards, so "x.2.x" and
// "1.x.8" are not filters. Filters never include a build number.
//
// The zero Filter is "x.x.x".
type Filter struct {
	fixed int     // number of leading nodes that must match, 0..3
	nodes Version // the fixed nodes; nodes right of fixed are zero
}

// ParseFilter parses a filter. Numeric nodes follow the rules of Parse
// (leading zeros accepted and dropped); wildcards are a lowercase "x", the
// only spelling the service's ARN patterns admit.
func ParseFilter(s string) (Filter, error) {
	var parts [3]string
	rest := s
	for i := range parts {
		if i < 2 {
			var ok bool
			parts[i], rest, ok = strings.Cut(rest, ".")
			if !ok {
				return Filter{}, invalidf(s, "want three nodes, got %d", i+1)
			}
		} else {
			if strings.Contains(rest, ".") {
				return Filter{}, invalidf(s, "want three nodes, got more")
			}
			parts[i] = rest
		}
	}
	var f Filter
	var nodes [3]int
	for i, p := range parts {
		if p == "x" {
			continue
		}
		if f.fixed != i {
			return Filter{}, invalidf(s, "%s node %q follows a wildcard; only wildcards may follow a wildcard", nodeNames[i], p)
		}
		n, err := parseNode(p)
		if err != nil {
			return Filter{}, invalidf(s, "%s %v", nodeNames[i], err)
		}
		nodes[i] = n
		f.fixed++
	}
	f.nodes = Version{nodes[0], nodes[1], nodes[2]}
	return f, nil
}

// MustParseFilter is ParseFilter for constants; it panics on error.
func MustParseFilter(s string) Filter {
	f, err := ParseFilter(s)
	if err != nil {
		panic(err)
	}
	return f
}

// Exact returns the filter that matches v alone.
func Exact(v Version) Filter { return Filter{fixed: 3, nodes: v} }

// Prefix returns the filter that keeps the first fixed nodes of v (0..3) and
// wildcards the rest: Prefix(v, 1) of 1.2.3 is "1.x.x". It is how the
// latestMajorVersionArn / latestMinorVersionArn references are derived.
// fixed is clamped to 0..3.
func Prefix(v Version, fixed int) Filter {
	fixed = max(0, min(fixed, 3))
	f := Filter{fixed: fixed}
	if fixed > 0 {
		f.nodes.Major = v.Major
	}
	if fixed > 1 {
		f.nodes.Minor = v.Minor
	}
	if fixed > 2 {
		f.nodes.Patch = v.Patch
	}
	return f
}

// Match reports whether v has the filter's fixed nodes.
func (f Filter) Match(v Version) bool {
	switch f.fixed {
	case 0:
		return true
	case 1:
		return v.Major == f.nodes.Major
	case 2:
		return v.Major == f.nodes.Major && v.Minor == f.nodes.Minor
	default:
		return v == f.nodes
	}
}

// IsExact reports whether the filter has no wildcards.
func (f Filter) IsExact() bool { return f.fixed == 3 }

// Version returns the version an exact filter names; ok is false when the
// filter has wildcards.
func (f Filter) Version() (v Version, ok bool) { return f.nodes, f.fixed == 3 }

// String returns the canonical form, e.g. "1.2.x".
func (f Filter) String() string {
	if f.fixed == 3 {
		return f.nodes.String()
	}
	nodes := [3]string{"x", "x", "x"}
	all := f.nodes.String()
	for i, p := range strings.SplitN(all, ".", 3)[:f.fixed] {
		nodes[i] = p
	}
	return nodes[0] + "." + nodes[1] + "." + nodes[2]
}

// Latest returns the candidate with the highest (version, build) among those
// whose version f matches; ok is false when none matches. key extracts a
// candidate's version and build; for candidates without builds (recipes)
// return build 0. Of equal (version, build) pairs the first wins.
//
// This is Image Builder's resolution rule: the highest matching M.m.p, then
// the highest build of that version. Filtering on visibility or status
// (e.g. only AVAILABLE images as parents) is the caller's business.
func Latest[T any](f Filter, candidates []T, key func(T) (Version, int)) (best T, ok bool) {
	var bestV Version
	var bestB int
	for _, c := range candidates {
		v, b := key(c)
		if !f.Match(v) {
			continue
		}
		if !ok || CompareBuild(v, b, bestV, bestB) > 0 {
			best, bestV, bestB, ok = c, v, b, true
		}
	}
	return best, ok
}
