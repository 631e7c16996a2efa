package action

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// kind is the type an input must decode to.
type kind int

const (
	// kindString accepts any scalar: YAML numbers and booleans written
	// unquoted (expectedBucketOwner: 123456789022) stand for their text.
	kindString kind = iota
	// kindBool accepts a bool or the strings "true"/"false" in any case,
	// which is what a {{ }} reference expands to.
	kindBool
	// kindInt accepts an integer, an integral float or a decimal string.
	kindInt
	// kindStrings accepts a list of scalars.
	kindStrings
	// kindParams accepts a list of {name, value} maps (ExecuteDocument).
	kindParams
)

// field describes one input of a module.
type field struct {
	name     string
	kind     kind
	required bool
}

// schema is the set of inputs a module (or one operation of a batch
// module) accepts. Keys outside it are rejected, because AWSTOE's own
// validate catches misspelled fields.
type schema []field

// isPlaceholder reports whether v is a string still holding a {{ }}
// reference, whose type can only be known after expansion.
func isPlaceholder(v any) bool {
	s, ok := v.(string)
	return ok && strings.Contains(s, "{{")
}

// joinPath appends name to a Problem path.
func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// check validates one inputs map against s; paths start with prefix.
func (s schema) check(prefix string, v any) []Problem {
	m, ok := v.(map[string]any)
	if !ok {
		if v == nil && !s.anyRequired() {
			return nil
		}
		return []Problem{{Path: prefix, Message: "must be a map of inputs, got " + describe(v)}}
	}
	var ps []Problem
	known := make(map[string]bool, len(s))
	for _, f := range s {
		known[f.name] = true
		val, present := m[f.name]
		path := joinPath(prefix, f.name)
		if !present || val == nil {
			if f.required {
				ps = append(ps, Problem{Path: path, Message: "is required"})
			}
			continue
		}
		ps = append(ps, checkKind(path, f.kind, val)...)
		if f.required && f.kind == kindString {
			if str, ok := val.(string); ok && strings.TrimSpace(str) == "" {
				ps = append(ps, Problem{Path: path, Message: "must not be empty"})
			}
		}
	}
	var unknown []string
	for k := range m {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		ps = append(ps, Problem{Path: joinPath(prefix, k), Message: "is not an input of this action"})
	}
	return ps
}

func (s schema) anyRequired() bool {
	for _, f := range s {
		if f.required {
			return true
		}
	}
	return false
}

// checkKind checks one value against k.
func checkKind(path string, k kind, v any) []Problem {
	switch k {
	case kindString:
		if !isScalar(v) {
			return []Problem{{Path: path, Message: "must be a string, got " + describe(v)}}
		}
	case kindBool:
		if _, err := toBool(v); err != nil && !isPlaceholder(v) {
			return []Problem{{Path: path, Message: "must be a boolean (true or false), got " + describe(v)}}
		}
	case kindInt:
		if _, err := toInt(v); err != nil && !isPlaceholder(v) {
			return []Problem{{Path: path, Message: "must be an integer, got " + describe(v)}}
		}
	case kindStrings:
		list, ok := v.([]any)
		if !ok {
			if isPlaceholder(v) {
				return nil
			}
			return []Problem{{Path: path, Message: "must be a list of strings, got " + describe(v)}}
		}
		var ps []Problem
		for i, item := range list {
			if !isScalar(item) || item == nil {
				ps = append(ps, Problem{Path: fmt.Sprintf("%s[%d]", path, i), Message: "must be a string, got " + describe(item)})
			}
		}
		return ps
	case kindParams:
		list, ok := v.([]any)
		if !ok {
			return []Problem{{Path: path, Message: "must be a list of {name, value} maps, got " + describe(v)}}
		}
		item := schema{{name: "name", kind: kindString, required: true}, {name: "value", kind: kindString, required: true}}
		var ps []Problem
		for i, p := range list {
			ps = append(ps, item.check(fmt.Sprintf("%s[%d]", path, i), p)...)
		}
		return ps
	}
	return nil
}

func isScalar(v any) bool {
	switch v.(type) {
	case string, bool, int, int64, uint64, float64:
		return true
	}
	return false
}

// describe names a decoded YAML value's type for messages.
func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		return "a map"
	case []any:
		return "a list"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64:
		return "an integer"
	case float64:
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

// scalarText renders a scalar as the text a document author wrote.
func scalarText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func toBool(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("not a boolean: %v", v)
}

func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case uint64:
		if x <= math.MaxInt32 {
			return int(x), nil
		}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) <= math.MaxInt32 {
			return int(x), nil
		}
	case string:
		return strconv.Atoi(strings.TrimSpace(x))
	}
	return 0, fmt.Errorf("not an integer: %v", v)
}

// values reads one validated inputs map. Its accessors assume Validate
// has passed, so they fall back to the default instead of failing.
type values map[string]any

func (v values) has(name string) bool { return v[name] != nil }

func (v values) str(name string) string { return scalarText(v[name]) }

func (v values) boolean(name string, def bool) bool {
	if !v.has(name) {
		return def
	}
	b, err := toBool(v[name])
	if err != nil {
		return def
	}
	return b
}

func (v values) integer(name string, def int) int {
	if !v.has(name) {
		return def
	}
	n, err := toInt(v[name])
	if err != nil {
		return def
	}
	return n
}

// strs returns a list input; a single string (an expanded reference
// standing for the whole list) counts as a one-item list.
func (v values) strs(name string) []string {
	switch x := v[name].(type) {
	case []any:
		out := make([]string, 0, len(x))
		for _, item := range x {
			out = append(out, scalarText(item))
		}
		return out
	case nil:
		return nil
	default:
		return []string{scalarText(x)}
	}
}

// problemsError turns validation problems found at run time (after
// expansion) into the step's error.
func problemsError(ps []Problem) error {
	var b strings.Builder
	b.WriteString("invalid inputs: ")
	for i, p := range ps {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Path != "" {
			b.WriteString(p.Path)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return fmt.Errorf("%s", b.String())
}

// abs resolves p against the step's working directory.
func (e *Env) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	if e.WorkDir == "" {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
	}
	return filepath.Join(e.WorkDir, p)
}

// singleModule is a module whose inputs are one map (ExecuteBash,
// Reboot, UpdateOS, ...).
type singleModule struct {
	name   string
	schema schema
	// extra checks values beyond their types (enumerations, formats);
	// it sees only maps that passed the schema.
	extra func(in values) []Problem
	run   func(ctx context.Context, env *Env, in values) (Result, error)
	// recorded are the inputs awstoe records (detailedoutput.json's
	// inputs) with their defaults when a step leaves them out.
	recorded map[string]any
}

func (m *singleModule) Name() string { return m.name }

// RecordedInputs implements Recorder: the step's inputs with the
// module's documented defaults filled in where the step left them out.
func (m *singleModule) RecordedInputs(inputs map[string]any) map[string]any {
	if len(m.recorded) == 0 {
		return inputs
	}
	out := make(map[string]any, len(inputs)+len(m.recorded))
	for k, v := range m.recorded {
		out[k] = v
	}
	for k, v := range inputs {
		out[k] = v
	}
	return out
}

func (m *singleModule) Validate(inputs any) []Problem {
	ps := m.schema.check("", inputs)
	if len(ps) == 0 && m.extra != nil {
		in, _ := inputs.(map[string]any)
		ps = m.extra(in)
	}
	return ps
}

func (m *singleModule) Run(ctx context.Context, env *Env, inputs any) (Result, error) {
	if ps := m.Validate(inputs); len(ps) > 0 {
		return Result{}, problemsError(ps)
	}
	in, _ := inputs.(map[string]any)
	return m.run(ctx, env, in)
}

// batchModule is a module whose inputs are a list of independent
// operations (every file-system module, the downloads). Operations run
// in order and the step fails at the first failing one, without undoing
// the earlier ones.
type batchModule struct {
	name   string
	schema schema
	extra  func(op values) []Problem
	// run performs one operation and returns its outputs, if any.
	run func(ctx context.Context, env *Env, op values) (map[string]string, error)
}

func (m *batchModule) Name() string { return m.name }

func (m *batchModule) Validate(inputs any) []Problem {
	list, ok := inputs.([]any)
	if !ok {
		return []Problem{{Message: "must be a list of operations, got " + describe(inputs)}}
	}
	if len(list) == 0 {
		return []Problem{{Message: "must list at least one operation"}}
	}
	var ps []Problem
	for i, item := range list {
		prefix := fmt.Sprintf("[%d]", i)
		ops := m.schema.check(prefix, item)
		if len(ops) == 0 && m.extra != nil {
			op, _ := item.(map[string]any)
			for _, p := range m.extra(op) {
				p.Path = joinPath(prefix, p.Path)
				ops = append(ops, p)
			}
		}
		ps = append(ps, ops...)
	}
	return ps
}

// Run runs every operation. Outputs of several operations are joined
// per key with newlines, the same way AWSTOE consolidates a loop's
// outputs (and the way WebDownload documents its destination output).
func (m *batchModule) Run(ctx context.Context, env *Env, inputs any) (Result, error) {
	if ps := m.Validate(inputs); len(ps) > 0 {
		return Result{}, problemsError(ps)
	}
	list := inputs.([]any)
	var joined map[string][]string
	var keys []string
	for i, item := range list {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		out, err := m.run(ctx, env, values(item.(map[string]any)))
		if err != nil {
			if len(list) == 1 {
				return Result{}, err
			}
			return Result{}, fmt.Errorf("operation %d of %d: %w", i+1, len(list), err)
		}
		for k, v := range out {
			if joined == nil {
				joined = map[string][]string{}
			}
			if _, seen := joined[k]; !seen {
				keys = append(keys, k)
			}
			joined[k] = append(joined[k], v)
		}
	}
	if joined == nil {
		return Result{}, nil
	}
	res := Result{Outputs: make(map[string]any, len(keys))}
	for _, k := range keys {
		res.Outputs[k] = strings.Join(joined[k], "\n")
	}
	return res, nil
}
