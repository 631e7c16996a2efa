package store

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// Cond is one condition of a Query's filter, kept as data rather than as
// a Go function so that a backend can translate it: the SQLite backend
// turns conditions on its columns into SQL, and evaluates the rest (the
// Doc members) with Holds. Either Or is set, or Field, Op and Values are.
type Cond struct {
	Field  Field
	Op     Op
	Values []string
	// Or, when not empty, makes the condition hold when any of its
	// conditions holds; Field, Op and Values are then ignored.
	Or []Cond
	// Check, when set, is a rule that is not data — whether a resource
	// policy grants the caller an action, which only the policy evaluator
	// can say. No backend can translate it: it is evaluated in Go, after
	// the conditions a backend did translate have narrowed the rows, and
	// Field, Op, Values and Or are ignored. Use it only for such rules.
	Check func(Resource) bool
}

// Field names what a condition looks at: one of the Field constants, or a
// member of the Doc made with DocField.
type Field string

// The fields every backend stores as columns.
const (
	FieldARN     Field = "arn"
	FieldAccount Field = "account"
	FieldName    Field = "name"
	FieldVersion Field = "version"
	FieldBuild   Field = "build"
	// FieldSharedWith is multi-valued: a resource has one value per
	// principal in SharedWith.
	FieldSharedWith Field = "sharedWith"
	// FieldDoc is the Doc's raw bytes (for OpContains).
	FieldDoc Field = "doc"
)

const docPrefix = "doc."

// DocField is the member of the Doc (a JSON object) at the given path of
// member names, e.g. DocField("state", "status"). A member holding an
// array has one value per string element; a missing member or a non-string
// value has no values.
func DocField(path ...string) Field { return Field(docPrefix + strings.Join(path, ".")) }

// DocPath returns the member names of a DocField; ok is false for the
// column fields.
func (f Field) DocPath() (path []string, ok bool) {
	rest, ok := strings.CutPrefix(string(f), docPrefix)
	if !ok {
		return nil, false
	}
	return strings.Split(rest, "."), true
}

// Op is how a condition compares a field's values with its Values.
type Op int

const (
	// In holds when any value of the field equals any of Values
	// (exactly, case-sensitively).
	In Op = iota
	// NotIn is the negation of In: it also holds for a field with no
	// values.
	NotIn
	// VersionLike holds when the Version matches any of Values, each a
	// version pattern "M.m.p" whose trailing nodes may be "x" wildcards
	// ("1.x.x", "1.2.x", "x.x.x") in canonical form (no leading zeros).
	VersionLike
	// Contains holds when the field (FieldDoc) contains any of Values as
	// a byte substring.
	Contains
)

// Eq is the condition "field equals one of values".
func Eq(f Field, values ...string) Cond { return Cond{Field: f, Op: In, Values: values} }

// Ne is the condition "field equals none of values".
func Ne(f Field, values ...string) Cond { return Cond{Field: f, Op: NotIn, Values: values} }

// AnyOf is the condition that holds when any of cs holds.
func AnyOf(cs ...Cond) Cond { return Cond{Or: cs} }

// Holds evaluates conds (AND-ed) against r in Go. Backends use it for the
// conditions they do not translate; r.Doc is decoded only when a condition
// looks into it.
func Holds(conds []Cond, r Resource) bool {
	e := evaluator{r: r}
	for _, c := range conds {
		if !e.holds(c) {
			return false
		}
	}
	return true
}

// evaluator decodes a resource's Doc at most once however many
// conditions look into it.
type evaluator struct {
	r       Resource
	doc     map[string]any
	decoded bool
}

func (e *evaluator) holds(c Cond) bool {
	if c.Check != nil {
		return c.Check(e.r)
	}
	if len(c.Or) > 0 {
		for _, o := range c.Or {
			if e.holds(o) {
				return true
			}
		}
		return false
	}
	switch c.Op {
	case Contains:
		for _, v := range c.Values {
			if strings.Contains(string(e.r.Doc), v) {
				return true
			}
		}
		return false
	case VersionLike:
		for _, v := range c.Values {
			if VersionMatches(e.r.Version, v) {
				return true
			}
		}
		return false
	}
	hit := false
	for _, v := range e.values(c.Field) {
		if slices.Contains(c.Values, v) {
			hit = true
			break
		}
	}
	if c.Op == NotIn {
		return !hit
	}
	return hit
}

func (e *evaluator) values(f Field) []string {
	switch f {
	case FieldARN:
		return []string{e.r.ARN}
	case FieldAccount:
		return []string{e.r.Account}
	case FieldName:
		return []string{e.r.Name}
	case FieldVersion:
		return []string{e.r.Version}
	case FieldBuild:
		return []string{strconv.Itoa(e.r.Build)}
	case FieldSharedWith:
		return e.r.SharedWith
	case FieldDoc:
		return []string{string(e.r.Doc)}
	}
	path, ok := f.DocPath()
	if !ok {
		return nil
	}
	if !e.decoded {
		e.decoded = true
		_ = json.Unmarshal(e.r.Doc, &e.doc) // an undecodable Doc has no members
	}
	var v any = e.doc
	for _, name := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[name]
	}
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, el := range v {
			if s, ok := el.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// VersionMatches reports whether version "M.m.p" matches pattern, whose
// trailing nodes may be "x" wildcards; both in canonical form.
func VersionMatches(version, pattern string) bool {
	vs, ps := strings.Split(version, "."), strings.Split(pattern, ".")
	if len(vs) != 3 || len(ps) != 3 {
		return false
	}
	for i := range ps {
		if ps[i] != "x" && ps[i] != vs[i] {
			return false
		}
	}
	return true
}
