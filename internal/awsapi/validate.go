package awsapi

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The generated Validate methods (validate_gen.go) walk a struct's members
// in model order and call these helpers with the shape's rule; the first
// violation wins, so the reported error is deterministic.
//
// A string member is a Go string, so an empty string is indistinguishable
// from an absent member: "" counts as missing for required members and
// skips the other checks for optional ones. DecodeRequest refuses "" in
// optional members of minimum length 1 or more before Validate runs, by
// reading the body along the generated emptyRefused table (codec.go).

// stringRule is the constraint set of one string shape.
type stringRule struct {
	min, max       int
	hasMin, hasMax bool
	pattern        *pattern
	enum           []string
}

// pattern is a model pattern compiled for Go. match is the model's pattern
// anchored at both ends: the service applies patterns to the whole value
// (a value with one bad character fails "[a-z]+"), which is Java's
// Matcher.matches, not a search. reject, when set, is a negative lookahead
// that RE2 cannot express, split off by the generator: a value that matches
// it fails. source is the model's text, quoted in messages.
type pattern struct {
	source string
	match  *regexp.Regexp
	reject *regexp.Regexp
}

func newPattern(source, match, reject string) *pattern {
	p := &pattern{source: source, match: regexp.MustCompile(match)}
	if reject != "" {
		p.reject = regexp.MustCompile(reject)
	}
	return p
}

func (p *pattern) matches(s string) bool {
	if p.reject != nil && p.reject.MatchString(s) {
		return false
	}
	return p.match.MatchString(s)
}

// sizeRule bounds the length of a list or map.
type sizeRule struct {
	min, max       int
	hasMin, hasMax bool
}

// numberRule bounds an integer, long or double.
type numberRule struct {
	min, max       float64
	hasMin, hasMax bool
}

// memberPath joins a parent path and a member name:
// distributions[0].amiDistributionConfiguration + name.
func memberPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func indexPath(parent, name string, i int) string {
	return memberPath(parent, name) + "[" + strconv.Itoa(i) + "]"
}

func keyPath(parent, name, key string) string {
	return memberPath(parent, name) + "[" + key + "]"
}

// missing is the error for an absent required member. The wording is
// ours: AWS's own text for this case is not documented.
func missing(parent, name string) error {
	p := memberPath(parent, name)
	return invalidValue(p, p+" is required")
}

func checkString(parent, name, v string, required bool, r *stringRule) error {
	if v == "" {
		if required {
			return missing(parent, name)
		}
		return nil
	}
	if r == nil {
		return nil
	}
	return r.check(memberPath(parent, name), v)
}

func (r *stringRule) check(path, v string) error {
	if r.hasMin || r.hasMax {
		n := utf8.RuneCountInString(v)
		if r.hasMin && n < r.min {
			return invalidValue(path, path+" must have length greater than or equal to "+strconv.Itoa(r.min))
		}
		if r.hasMax && n > r.max {
			return invalidValue(path, path+" must have length less than or equal to "+strconv.Itoa(r.max))
		}
	}
	if r.pattern != nil && !r.pattern.matches(v) {
		return invalidValue(path, path+" must match pattern "+r.pattern.source)
	}
	if r.enum != nil && !slices.Contains(r.enum, v) {
		return invalidValue(path, path+" must satisfy enum value set: ["+strings.Join(r.enum, ", ")+"]")
	}
	return nil
}

// checkSize checks a list or map's presence and size; isNil tells an absent
// member from an empty one ("[]" in JSON), which is present but may be too
// short.
func checkSize(parent, name string, n int, isNil, required bool, r *sizeRule) error {
	if isNil {
		if required {
			return missing(parent, name)
		}
		return nil
	}
	if r == nil {
		return nil
	}
	if r.hasMin && n < r.min {
		p := memberPath(parent, name)
		return invalidValue(p, p+" must have length greater than or equal to "+strconv.Itoa(r.min))
	}
	if r.hasMax && n > r.max {
		p := memberPath(parent, name)
		return invalidValue(p, p+" must have length less than or equal to "+strconv.Itoa(r.max))
	}
	return nil
}

func checkStrings(parent, name string, v []string, required bool, size *sizeRule, elem *stringRule) error {
	if err := checkSize(parent, name, len(v), v == nil, required, size); err != nil {
		return err
	}
	if elem == nil {
		return nil
	}
	for i, s := range v {
		// An empty element is present, so it is checked (a list cannot
		// omit an element the way a struct omits a member).
		if err := elem.check(indexPath(parent, name, i), s); err != nil {
			return err
		}
	}
	return nil
}

func checkStringMap(parent, name string, m map[string]string, required bool, size *sizeRule, key, value *stringRule) error {
	if err := checkSize(parent, name, len(m), m == nil, required, size); err != nil {
		return err
	}
	if key == nil && value == nil {
		return nil
	}
	for _, k := range sortedKeys(m) {
		p := keyPath(parent, name, k)
		if key != nil {
			if err := key.check(p, k); err != nil {
				return err
			}
		}
		if value != nil {
			if err := value.check(p, m[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkNumber[T int32 | int64 | float64](parent, name string, v *T, required bool, r *numberRule) error {
	if v == nil {
		if required {
			return missing(parent, name)
		}
		return nil
	}
	if r == nil {
		return nil
	}
	f := float64(*v)
	if r.hasMin && f < r.min {
		p := memberPath(parent, name)
		return invalidValue(p, p+" must have value greater than or equal to "+strconv.FormatFloat(r.min, 'f', -1, 64))
	}
	if r.hasMax && f > r.max {
		p := memberPath(parent, name)
		return invalidValue(p, p+" must have value less than or equal to "+strconv.FormatFloat(r.max, 'f', -1, 64))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// derefString reads an optional string member ("" when absent).
func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
