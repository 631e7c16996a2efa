// Package semver implements Image Builder's semantic versions: the three-node
// M.m.p version users give, the service-assigned build number that follows it,
// and the "x" wildcard filters that select the latest matching version.
//
// Image Builder's versions are deliberately simpler than semver.org: exactly
// three decimal nodes, no pre-release or metadata suffixes, and each node
// bounded to 0..2^30-1 so that a version and its build pack into one 120-bit
// integer (the "semver" field of the service's notifications).
package semver

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// MaxNode is the largest value of any version node and of a build number.
const MaxNode = 1<<30 - 1

// ErrInvalid is wrapped by every error this package returns, so callers can
// map all of them to InvalidVersionNumberException with errors.Is.
var ErrInvalid = errors.New("invalid semantic version")

// Version is a semantic version M.m.p. The zero value is 0.0.0.
type Version struct {
	Major, Minor, Patch int
}

// Parse parses "M.m.p". Each node is a run of ASCII digits no larger than
// MaxNode. Leading zeros are accepted and dropped ("01.002.0" parses as
// 1.2.0): the service's own pattern ^[0-9]+\.[0-9]+\.[0-9]+$ admits them, and
// storing the canonical form keeps "1.0.0" and "01.0.0" from becoming two
// different versions. Errors say which node is wrong and why.
func Parse(s string) (Version, error) {
	var nodes [3]int
	rest := s
	for i := range nodes {
		var node string
		if i < 2 {
			var ok bool
			node, rest, ok = strings.Cut(rest, ".")
			if !ok {
				return Version{}, invalidf(s, "want three nodes M.m.p, got %d", i+1)
			}
		} else {
			node = rest
			if strings.Contains(node, ".") {
				return Version{}, invalidf(s, "want three nodes M.m.p, got more")
			}
		}
		n, err := parseNode(node)
		if err != nil {
			return Version{}, invalidf(s, "%s %v", nodeNames[i], err)
		}
		nodes[i] = n
	}
	return Version{nodes[0], nodes[1], nodes[2]}, nil
}

// MustParse is Parse for constants in code and tests; it panics on error.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

var nodeNames = [3]string{"major", "minor", "patch"}

// parseNode parses one decimal node without the sign, space and underscore
// leniency of strconv, and without overflowing on long inputs.
func parseNode(s string) (int, error) {
	if s == "" {
		return 0, errors.New("is empty")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
		n = n*10 + int(c-'0')
		if n > MaxNode {
			return 0, fmt.Errorf("%s exceeds the maximum %d", s, MaxNode)
		}
	}
	return n, nil
}

// ParseBuild parses a build number: a positive decimal integer no larger than
// MaxNode. Build numbers are assigned by the service starting at 1, so 0 is
// rejected here even though SortKey accepts it to mean "no build".
func ParseBuild(s string) (int, error) {
	n, err := parseNode(s)
	if err != nil {
		return 0, fmt.Errorf("%w: build number %v", ErrInvalid, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: build number must be at least 1", ErrInvalid)
	}
	return n, nil
}

func invalidf(s, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalid, s, fmt.Sprintf(format, args...))
}

// Valid reports whether every node is within 0..MaxNode.
func (v Version) Valid() bool {
	return validNode(v.Major) && validNode(v.Minor) && validNode(v.Patch)
}

func validNode(n int) bool { return n >= 0 && n <= MaxNode }

// String returns the canonical form "M.m.p".
func (v Version) String() string {
	b := make([]byte, 0, 32)
	b = strconv.AppendInt(b, int64(v.Major), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(v.Minor), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(v.Patch), 10)
	return string(b)
}

// Compare returns -1, 0 or +1 as a is older than, equal to or newer than b.
func Compare(a, b Version) int {
	switch {
	case a.Major != b.Major:
		return cmpInt(a.Major, b.Major)
	case a.Minor != b.Minor:
		return cmpInt(a.Minor, b.Minor)
	default:
		return cmpInt(a.Patch, b.Patch)
	}
}

// CompareBuild orders (version, build) pairs: by version, then by build.
func CompareBuild(a Version, aBuild int, b Version, bBuild int) int {
	if c := Compare(a, b); c != 0 {
		return c
	}
	return cmpInt(aBuild, bBuild)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortKeyWidth is the number of decimal digits of MaxNode.
const sortKeyWidth = 10

// SortKey returns a string whose byte-wise order is the (version, build)
// order, for index columns and ORDER BY clauses in stores that cannot sort
// numerically across three columns: each node zero-padded to ten digits, as
// in "0000000001.0000000000.0000000000/0000000003". Build 0 means "no build"
// and sorts before every real build of the same version.
//
// SortKey panics if a node or the build is outside 0..MaxNode: such values
// never come out of Parse or ParseBuild, and a silently misordered key would
// be worse than a crash in a test.
func SortKey(v Version, build int) string {
	if !v.Valid() || !validNode(build) {
		panic(fmt.Sprintf("semver.SortKey: out of range: %d.%d.%d/%d", v.Major, v.Minor, v.Patch, build))
	}
	var b [4*sortKeyWidth + 3]byte
	put := func(at, n int) {
		for i := at + sortKeyWidth - 1; i >= at; i-- {
			b[i] = byte('0' + n%10)
			n /= 10
		}
	}
	put(0, v.Major)
	b[sortKeyWidth] = '.'
	put(sortKeyWidth+1, v.Minor)
	b[2*sortKeyWidth+1] = '.'
	put(2*sortKeyWidth+2, v.Patch)
	b[3*sortKeyWidth+2] = '/'
	put(3*sortKeyWidth+3, build)
	return string(b[:])
}

// Packed returns major<<90 | minor<<60 | patch<<30 | build, the integer that
// Image Builder's notifications carry as "semver" (1.0.0/3 is 2^90+3). Like
// SortKey it orders exactly as CompareBuild; it panics on out-of-range input.
func Packed(v Version, build int) *big.Int {
	if !v.Valid() || !validNode(build) {
		panic(fmt.Sprintf("semver.Packed: out of range: %d.%d.%d/%d", v.Major, v.Minor, v.Patch, build))
	}
	n := new(big.Int).SetInt64(int64(v.Major))
	for _, next := range []int{v.Minor, v.Patch, build} {
		n.Lsh(n, 30)
		n.Or(n, big.NewInt(int64(next)))
	}
	return n
}
