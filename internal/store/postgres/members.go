package postgres

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/kiln-build/kiln/internal/store"
)

// maxMembersDepth bounds the nesting of a members value: PostgreSQL's jsonb
// parser refuses deep nesting (with an error that would fail the write),
// and no Doc kiln writes comes near it.
const maxMembersDepth = 200

// members returns the members column for doc: doc decoded exactly as
// store.Holds decodes it (into a map, ignoring the error, so a Doc that is
// not a JSON object has no members) and encoded again, or nil (NULL) when
// jsonb could not hold it. Conditions in SQL over this column then agree
// with store.Holds by construction: both look at the same map.
func members(doc []byte) []byte {
	var m map[string]any
	_ = json.Unmarshal(doc, &m)
	if m == nil {
		return []byte("{}")
	}
	b, err := json.Marshal(m)
	// jsonb refuses \u0000. A string holding a backslash before "u0000"
	// matches too and costs only its row's conditions being run in Go.
	if err != nil || bytes.Contains(b, []byte(`\u0000`)) || depth(b) > maxMembersDepth {
		return nil
	}
	return b
}

// depth is the deepest nesting of objects and arrays in the JSON b.
func depth(b []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}

// memberSQL translates an In or NotIn condition on a Doc member into a
// clause over r.members; ok is false when the member's name is not one a
// decoded Doc can have as a jsonb key (not UTF-8, or holding a NUL).
//
// store.Holds walks objects only, then takes a string, or an array's
// string elements; "->" with a text key gives NULL on anything but an
// object, so the chain agrees. Values jsonb cannot hold (not UTF-8, or
// holding a NUL) equal no member of a row whose members are set, so they
// are left out. A row whose members are NULL passes the clause and is
// checked in Go (List's recheck).
func memberSQL(c store.Cond, path []string, a *args) (string, bool) {
	for _, name := range path {
		if !jsonbText(name) {
			return "", false
		}
	}
	vals := make([]string, 0, len(c.Values))
	for _, v := range c.Values {
		if jsonbText(v) {
			vals = append(vals, v)
		}
	}
	var member strings.Builder
	member.WriteString("r.members")
	for _, name := range path {
		member.WriteString(" -> " + a.add(name) + "::text")
	}
	m := member.String()
	in := a.add(vals) + "::text[]"
	hit := "(jsonb_typeof(" + m + ") = 'string' AND (" + m + " #>> '{}') = ANY(" + in + ")" +
		" OR jsonb_typeof(" + m + ") = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements(" + m + ") e" +
		" WHERE jsonb_typeof(e) = 'string' AND (e #>> '{}') = ANY(" + in + ")))"
	if c.Op == store.NotIn {
		hit = "NOT coalesce(" + hit + ", false)"
	} else {
		hit = "coalesce(" + hit + ", false)"
	}
	return "(r.members IS NULL OR " + hit + ")", true
}

// jsonbText reports whether s can be a jsonb string: UTF-8 without NUL.
func jsonbText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// mentionsMembers reports whether c has a condition on a Doc member.
func mentionsMembers(c store.Cond) bool {
	if _, ok := c.Field.DocPath(); ok && c.Check == nil && len(c.Or) == 0 {
		return true
	}
	for _, o := range c.Or {
		if mentionsMembers(o) {
			return true
		}
	}
	return false
}
