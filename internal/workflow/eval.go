package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Values are what a running workflow's references resolve against: the
// workflow's parameters (typed), the outputs of the steps that ran so
// far, the outputs of the build's earlier workflows, and the system
// variables under $.imagebuilder. Values hold JSON-shaped data (string,
// bool, float64 or int64, []any, map[string]any) so that a reference
// can walk into an output with .field and [index].
type Values struct {
	Parameters      map[string]any
	StepOutputs     map[string]map[string]any
	WorkflowOutputs map[string]any
	System          map[string]any
}

// pathElem is one element of a reference after its root: a field name or
// a list index.
type pathElem struct {
	key   string
	index int
	isIdx bool
}

// maxPathElems bounds a reference's length: documents are small, and a
// reference walks one output.
const maxPathElems = 64

// parsePath splits a reference such as $.stepOutputs.Launch.instanceId
// or $.stepOutputs.Dist.distributedImages[0].amiId into its root
// (parameters, stepOutputs, workflowOutputs, imagebuilder) and the
// elements below it.
func parsePath(path string) (root string, elems []pathElem, err error) {
	rest, ok := strings.CutPrefix(path, "$.")
	if !ok {
		return "", nil, fmt.Errorf("%q is not a reference: it must start with \"$.\"", path)
	}
	for rest != "" {
		if len(elems) > maxPathElems {
			return "", nil, fmt.Errorf("%q is longer than %d elements", path, maxPathElems)
		}
		end := strings.IndexAny(rest, ".[")
		name := rest
		if end >= 0 {
			name = rest[:end]
		}
		if name == "" {
			return "", nil, fmt.Errorf("%q has an empty name", path)
		}
		if root == "" {
			root = name
		} else {
			elems = append(elems, pathElem{key: name})
		}
		if end < 0 {
			break
		}
		rest = rest[end:]
		for strings.HasPrefix(rest, "[") {
			close := strings.IndexByte(rest, ']')
			if close < 0 {
				return "", nil, fmt.Errorf("%q has an unclosed [", path)
			}
			n, err := strconv.Atoi(rest[1:close])
			if err != nil || n < 0 {
				return "", nil, fmt.Errorf("%q: %q is not a list index", path, rest[1:close])
			}
			elems = append(elems, pathElem{index: n, isIdx: true})
			rest = rest[close+1:]
		}
		if rest == "" {
			break
		}
		if rest[0] != '.' {
			return "", nil, fmt.Errorf("%q: unexpected %q", path, rest[:1])
		}
		rest = rest[1:]
		if rest == "" {
			return "", nil, fmt.Errorf("%q ends in a dot", path)
		}
	}
	if root == "" {
		return "", nil, fmt.Errorf("%q names nothing", path)
	}
	return root, elems, nil
}

// Lookup resolves one reference. A reference to something that does not
// exist (a step that was skipped, an output an action does not publish)
// is an error naming what is missing.
func (v *Values) Lookup(path string) (any, error) {
	root, elems, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, fmt.Errorf("%q must name a value below $.%s", path, root)
	}
	var cur any
	var ok bool
	first, elems := elems[0], elems[1:]
	if first.isIdx {
		return nil, fmt.Errorf("%q: $.%s is not a list", path, root)
	}
	switch root {
	case "parameters":
		cur, ok = v.Parameters[first.key]
		if !ok {
			return nil, fmt.Errorf("%q: the parameter %q has no value", path, first.key)
		}
	case "stepOutputs":
		outs, stepRan := v.StepOutputs[first.key]
		if !stepRan {
			return nil, fmt.Errorf("%q: the step %q has not run (or was skipped)", path, first.key)
		}
		if len(elems) == 0 {
			cur = map[string]any(outs)
			break
		}
		name := elems[0]
		elems = elems[1:]
		if cur, ok = outs[name.key]; name.isIdx || !ok {
			return nil, fmt.Errorf("%q: the step %q has no output %q", path, first.key, name.key)
		}
	case "workflowOutputs":
		if cur, ok = v.WorkflowOutputs[first.key]; !ok {
			return nil, fmt.Errorf("%q: no earlier workflow of this build has the output %q", path, first.key)
		}
	case "imagebuilder":
		if cur, ok = v.System[first.key]; !ok {
			return nil, fmt.Errorf("%q: the system variable %q has no value in this build", path, first.key)
		}
	default:
		return nil, fmt.Errorf("%q: unknown root %q", path, root)
	}
	for _, e := range elems {
		switch c := cur.(type) {
		case map[string]any:
			if e.isIdx {
				return nil, fmt.Errorf("%q: [%d] indexes a map", path, e.index)
			}
			if cur, ok = c[e.key]; !ok {
				return nil, fmt.Errorf("%q: no field %q", path, e.key)
			}
		case []any:
			if !e.isIdx {
				return nil, fmt.Errorf("%q: .%s names a field of a list", path, e.key)
			}
			if e.index >= len(c) {
				return nil, fmt.Errorf("%q: index %d is past the list's %d items", path, e.index, len(c))
			}
			cur = c[e.index]
		default:
			return nil, fmt.Errorf("%q: cannot go into a %T", path, cur)
		}
	}
	return cur, nil
}

// ResolveInputs returns a step's inputs with every reference resolved: a
// key ending in ".$" takes the value its JSONPath names (under the key
// without the suffix), and {{ $.… }} inside literal strings is replaced by
// the value's text.
func (v *Values) ResolveInputs(in map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(in))
	for k, val := range in {
		if base, dynamic := strings.CutSuffix(k, ".$"); dynamic {
			path, ok := val.(string)
			if !ok {
				return nil, fmt.Errorf("input %s: the value must be a JSONPath string", k)
			}
			got, err := v.Lookup(path)
			if err != nil {
				return nil, fmt.Errorf("input %s: %w", k, err)
			}
			out[base] = got
			continue
		}
		got, err := v.interpolate(val)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", k, err)
		}
		out[k] = got
	}
	return out, nil
}

// interpolate replaces {{ $.… }} references inside the strings of a
// literal input.
func (v *Values) interpolate(val any) (any, error) {
	switch x := val.(type) {
	case string:
		var firstErr error
		s := templateRE.ReplaceAllStringFunc(x, func(m string) string {
			path := templateRE.FindStringSubmatch(m)[1]
			got, err := v.Lookup(path)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return m
			}
			return Text(got)
		})
		return s, firstErr
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			r, err := v.interpolate(item)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			r, err := v.interpolate(item)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return val, nil
}

// Text renders a resolved value for a string context: strings as they
// are, numbers without a needless fraction, anything else as JSON.
func Text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// resolveOperand reads a condition's side: a reference or a literal.
func (v *Values) resolveOperand(s string) (any, error) {
	if strings.HasPrefix(s, "$.") {
		return v.Lookup(s)
	}
	return s, nil
}

// Eval evaluates an `if` condition. A comparison compares its value (the
// `value:` member, usually a reference) with the operator's operand, in
// that order: `numberGreaterThan: 5, value: $.parameters.n` holds when n
// is greater than 5. Operands are converted to the comparison's type as
// Image Builder does (strings "true" and "42" count as true and 42);
// one that cannot be converted is an error, which fails the step rather
// than silently skipping it.
func (c Condition) Eval(v *Values) (bool, error) {
	switch c.Op {
	case "and", "or":
		for _, ch := range c.Children {
			ok, err := ch.Eval(v)
			if err != nil {
				return false, err
			}
			if c.Op == "and" && !ok {
				return false, nil
			}
			if c.Op == "or" && ok {
				return true, nil
			}
		}
		return c.Op == "and", nil
	case "not":
		if len(c.Children) != 1 {
			return false, errors.New("not takes exactly one condition")
		}
		ok, err := c.Children[0].Eval(v)
		return !ok, err
	}
	left, err := v.resolveOperand(c.Value)
	if err != nil {
		return false, err
	}
	right, err := v.resolveOperand(c.Operand)
	if err != nil {
		return false, err
	}
	switch {
	case c.Op == "booleanEquals":
		l, err := toBool(left)
		if err != nil {
			return false, fmt.Errorf("booleanEquals: %w", err)
		}
		r, err := toBool(right)
		if err != nil {
			return false, fmt.Errorf("booleanEquals: %w", err)
		}
		return l == r, nil
	case c.Op == "stringEquals":
		return Text(left) == Text(right), nil
	case strings.HasPrefix(c.Op, "number"):
		l, err := toNumber(left)
		if err != nil {
			return false, fmt.Errorf("%s: %w", c.Op, err)
		}
		r, err := toNumber(right)
		if err != nil {
			return false, fmt.Errorf("%s: %w", c.Op, err)
		}
		switch c.Op {
		case "numberEquals":
			return l == r, nil
		case "numberGreaterThan":
			return l > r, nil
		case "numberGreaterThanEquals":
			return l >= r, nil
		case "numberLessThan":
			return l < r, nil
		case "numberLessThanEquals":
			return l <= r, nil
		}
	}
	return false, fmt.Errorf("unknown condition operator %q", c.Op)
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(x); err == nil && (x == "true" || x == "false") {
			return b, nil
		}
	}
	return false, fmt.Errorf("%s is not true or false", Text(v))
}

func toNumber(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int64:
		return float64(x), nil
	case int:
		return float64(x), nil
	case string:
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%s is not a number", Text(v))
}

// ParameterValues types the values a build gives the document's
// parameters (WorkflowConfiguration.parameters, strings as the API carries
// them) and fills in the defaults. A parameter with neither is an error
// naming it.
func (d *Document) ParameterValues(given map[string][]string) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range d.Parameters {
		vals, ok := given[p.Name]
		if !ok {
			if !p.HasDefault {
				return nil, fmt.Errorf("the workflow parameter %q has no value and no default", p.Name)
			}
			vals = p.Default
		}
		v, err := typedParameter(p, vals)
		if err != nil {
			return nil, err
		}
		out[p.Name] = v
	}
	return out, nil
}

func typedParameter(p Parameter, vals []string) (any, error) {
	if p.Type == "stringList" {
		list := make([]any, len(vals))
		for i, s := range vals {
			list[i] = s
		}
		return list, nil
	}
	if len(vals) != 1 {
		return nil, fmt.Errorf("the %s parameter %q takes exactly one value, not %d", p.Type, p.Name, len(vals))
	}
	s := vals[0]
	switch p.Type {
	case "integer":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("the integer parameter %q cannot take %q", p.Name, s)
		}
		return n, nil
	case "boolean":
		if s != "true" && s != "false" {
			return nil, fmt.Errorf("the boolean parameter %q takes true or false, not %q", p.Name, s)
		}
		return s == "true", nil
	}
	return s, nil
}
