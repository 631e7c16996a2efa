// Package toe parses, validates and runs AWSTOE component documents: the
// YAML documents EC2 Image Builder components are written in. Parse keeps
// every value's line and column so Validate can point at each problem;
// Runner runs the documents' phases step by step with the action modules of
// package action and writes awstoe's log folder.
package toe

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/yamlmap"

	"go.yaml.in/yaml/v3"
)

// Document is one parsed component document. Fields hold the values as
// written (scalars keep their source text); the YAML nodes are kept so
// Validate can report positions.
type Document struct {
	// Name is the document's own `name:` key.
	Name string
	// Source is the file name or label the document was parsed under; it
	// prefixes every Problem.
	Source        string
	Description   string
	SchemaVersion string
	Parameters    []Parameter
	Constants     []Constant
	Phases        []Phase

	root     *yaml.Node
	budget   int       // values decode may still produce; guards against alias bombs
	problems []Problem // structural problems found by Parse, reported by Validate
	warnings []Problem
}

// Parameter is one entry of `parameters`. Type is as written; only "string"
// is accepted by Validate (the only type AWS documents).
//
// AllowedValues, when the document gives `allowedValues` (a list of
// strings, as CloudFormation-style parameters have and as real components
// published by AWS samples use), is the closed set a value must come from:
// a default outside it is a document error, and a value given at run time
// outside it fails the run naming the parameter. nil means any value.
type Parameter struct {
	Name          string
	Type          string
	Default       string
	HasDefault    bool
	Description   string
	AllowedValues []string
	Line          int
	Column        int
}

// Constant is one entry of `constants`.
type Constant struct {
	Name   string
	Type   string
	Value  string
	Line   int
	Column int
}

// Phase is one entry of `phases`.
type Phase struct {
	Name   string
	Steps  []Step
	Line   int
	Column int
}

// Step is one entry of a phase's `steps`.
type Step struct {
	Name   string
	Action string
	// Inputs is the decoded `inputs` value (map[string]any, []any or a
	// scalar; nil when absent). Integers written with a leading zero or a
	// base prefix (0755, 0o17) and all floats are kept as their source text,
	// so `permissions: 0755` stays "0755".
	Inputs any
	If     *Condition
	Loop   *Loop
	// TimeoutSeconds is the per-attempt limit: 0 when not written (the
	// runner applies 7200), -1 for none.
	TimeoutSeconds int
	// OnFailure is "Abort" (default), "Continue" or "Ignore".
	OnFailure string
	// MaxAttempts is the number of tries (default 1).
	MaxAttempts int
	// DisableLogging keeps the step's output out of the logs (an
	// undocumented key used by AWS samples for secrets).
	DisableLogging bool
	Line           int
	Column         int

	node       *yaml.Node
	inputsNode *yaml.Node
	hasTimeout bool
	hasMax     bool
}

// Problem is one validation or parse finding.
type Problem struct {
	// Document is the name the document was parsed under ("" if unknown).
	Document string
	Line     int
	Column   int
	Message  string
}

// String renders the problem as "name:line:col: message".
func (p Problem) String() string {
	if p.Document == "" {
		return fmt.Sprintf("%d:%d: %s", p.Line, p.Column, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.Document, p.Line, p.Column, p.Message)
}

// Error makes a Problem usable as an error (Parse returns one).
func (p Problem) Error() string { return p.String() }

// Problems is a list of problems usable as one error.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "\n")
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// Parse reads one component document. It fails only when the data is not
// YAML or its top level is not a mapping; the error is a Problem with the
// line (yaml.v3 does not report columns for syntax errors, so Column is 1).
// Structural problems (wrong types, unknown keys) are collected and returned
// by Validate, so one run lists them all.
func Parse(name string, data []byte) (*Document, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := err.Error()
		line := 1
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		} else {
			msg = strings.TrimPrefix(msg, "yaml: ")
		}
		return nil, Problem{Document: name, Line: line, Column: 1, Message: "invalid YAML: " + msg}
	}
	d := &Document{Source: name, root: &root, budget: maxDecodedValues}
	if len(root.Content) == 0 {
		return nil, Problem{Document: name, Line: 1, Column: 1, Message: "document is empty"}
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, Problem{Document: name, Line: top.Line, Column: top.Column, Message: "document must be a mapping with schemaVersion and phases"}
	}
	d.parseTop(top)
	return d, nil
}

func (d *Document) errorf(n *yaml.Node, format string, args ...any) {
	d.problems = append(d.problems, Problem{Document: d.Source, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

func (d *Document) warnf(n *yaml.Node, format string, args ...any) {
	d.warnings = append(d.warnings, Problem{Document: d.Source, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

// pairs walks a mapping node's key/value pairs, reporting duplicate keys and
// keys outside allowed (nil allows any).
func (d *Document) pairs(m *yaml.Node, what string, allowed []string, fn func(key string, k, v *yaml.Node)) {
	yamlmap.Walker{Errorf: d.errorf}.Pairs(m, what, allowed, fn)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scalar returns a scalar node's source text, reporting non-scalars.
func (d *Document) scalar(n *yaml.Node, what string) (string, bool) {
	n = yamlmap.Deref(n)
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s must be a string, not a %s", what, kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	return n.Value, true
}

func (d *Document) integer(n *yaml.Node, what string) (int, bool) {
	n = yamlmap.Deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, "%s must be an integer, not %s", what, describe(n))
		return 0, false
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		d.errorf(n, "%s must be a decimal integer, not %q", what, n.Value)
		return 0, false
	}
	return v, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "scalar"
	}
	return "node"
}

func describe(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", n.Value)
	}
	return "a " + kindName(n)
}

var topKeys = []string{"name", "description", "schemaVersion", "parameters", "constants", "phases"}

func (d *Document) parseTop(top *yaml.Node) {
	var sawSchema, sawPhases bool
	d.pairs(top, "document", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			d.Name, _ = d.scalar(v, "name")
		case "description":
			d.Description, _ = d.scalar(v, "description")
		case "schemaVersion":
			sawSchema = true
			s, ok := d.scalar(v, "schemaVersion")
			if !ok {
				return
			}
			d.SchemaVersion = s
			// Real documents write 1.0 unquoted (a float) and even 1; all
			// mean the only version that exists.
			if s != "1.0" && s != "1" {
				d.errorf(v, "schemaVersion %q is not supported (only 1.0)", s)
			}
		case "parameters":
			d.parseVariables(v, true)
		case "constants":
			d.parseVariables(v, false)
		case "phases":
			sawPhases = true
			d.parsePhases(v)
		}
	})
	if !sawSchema {
		d.errorf(top, "missing schemaVersion")
	}
	if !sawPhases {
		d.errorf(top, "missing phases")
	}
	if sawPhases && d.phase("build") == nil && d.phase("validate") == nil && d.phase("test") == nil {
		d.warnf(top, "no build, validate or test phase: Image Builder runs none of these phases")
	}
	for _, p := range d.Parameters {
		if !p.HasDefault {
			d.warnf(&yaml.Node{Line: p.Line, Column: p.Column}, "parameter %q has no default: every run must give it a value", p.Name)
		}
	}
}

var varName = regexp.MustCompile(`^[A-Za-z0-9_-]{3,128}$`)

// parseVariables reads `parameters` or `constants`: a list of one-key maps.
func (d *Document) parseVariables(list *yaml.Node, params bool) {
	what := "constants"
	if params {
		what = "parameters"
	}
	list = yamlmap.Deref(list)
	if list.Kind != yaml.SequenceNode {
		d.errorf(list, "%s must be a list of one-key mappings", what)
		return
	}
	for _, item := range list.Content {
		item = yamlmap.Deref(item)
		if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
			d.errorf(item, "each entry of %s must be a mapping with exactly one key, the name", what)
			continue
		}
		k, body := item.Content[0], yamlmap.Deref(item.Content[1])
		name := k.Value
		if k.Kind != yaml.ScalarNode || k.Tag != "!!str" {
			d.errorf(k, "%s name must be a string", what)
		} else if !varName.MatchString(name) {
			d.errorf(k, "%s name %q must be 3-128 characters of A-Z a-z 0-9 _ -", what, name)
		}
		if body.Kind != yaml.MappingNode {
			d.errorf(body, "%s %q must be a mapping with type and %s", what, name, map[bool]string{true: "default", false: "value"}[params])
			continue
		}
		var typ, val, desc string
		var sawType, sawVal bool
		var allowedValues []string
		allowed := []string{"type", "value"}
		if params {
			allowed = []string{"type", "default", "description", "allowedValues"}
		}
		d.pairs(body, what+" "+name, allowed, func(key string, kn, v *yaml.Node) {
			switch key {
			case "type":
				sawType = true
				typ, _ = d.scalar(v, "type")
				if typ != "string" {
					d.errorf(v, "type %q is not supported (only string)", typ)
				}
			case "value", "default":
				sawVal = true
				val, _ = d.scalar(v, key)
			case "description":
				desc, _ = d.scalar(v, key)
			case "allowedValues":
				allowedValues = d.allowedValues(v, name)
			}
		})
		if !sawType {
			d.errorf(k, "%s %q has no type", what, name)
		}
		if params {
			if sawVal && allowedValues != nil && !contains(allowedValues, val) {
				d.errorf(k, "parameter %q: default %q is not one of its allowedValues [%s]", name, val, strings.Join(allowedValues, ", "))
			}
			d.Parameters = append(d.Parameters, Parameter{Name: name, Type: typ, Default: val, HasDefault: sawVal, Description: desc,
				AllowedValues: allowedValues, Line: k.Line, Column: k.Column})
		} else {
			if !sawVal {
				d.errorf(k, "constant %q has no value", name)
			}
			d.Constants = append(d.Constants, Constant{Name: name, Type: typ, Value: val, Line: k.Line, Column: k.Column})
		}
	}
}

// allowedValues reads a parameter's allowedValues: a non-empty list of
// scalars (a YAML `no` or `1` is taken as written, as parameter values are
// strings).
func (d *Document) allowedValues(n *yaml.Node, param string) []string {
	n = yamlmap.Deref(n)
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.errorf(n, "parameter %q: allowedValues must be a non-empty list of strings", param)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, e := range n.Content {
		if s, ok := d.scalar(e, "each of allowedValues of parameter "+param); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *Document) parsePhases(list *yaml.Node) {
	list = yamlmap.Deref(list)
	if list.Kind != yaml.SequenceNode {
		d.errorf(list, "phases must be a list")
		return
	}
	if len(list.Content) == 0 {
		d.errorf(list, "phases must not be empty")
	}
	for _, pn := range list.Content {
		pn = yamlmap.Deref(pn)
		if pn.Kind != yaml.MappingNode {
			d.errorf(pn, "each phase must be a mapping with name and steps")
			continue
		}
		ph := Phase{Line: pn.Line, Column: pn.Column}
		var sawName, sawSteps bool
		d.pairs(pn, "phase", []string{"name", "steps"}, func(key string, k, v *yaml.Node) {
			switch key {
			case "name":
				sawName = true
				ph.Name, _ = d.scalar(v, "phase name")
			case "steps":
				sawSteps = true
				v = yamlmap.Deref(v)
				if v.Kind != yaml.SequenceNode {
					d.errorf(v, "steps must be a list")
					return
				}
				if len(v.Content) == 0 {
					d.errorf(v, "steps must not be empty")
				}
				for _, sn := range v.Content {
					if st, ok := d.parseStep(yamlmap.Deref(sn)); ok {
						ph.Steps = append(ph.Steps, st)
					}
				}
			}
		})
		if !sawName {
			d.errorf(pn, "phase has no name")
		}
		if !sawSteps {
			d.errorf(pn, "phase %q has no steps", ph.Name)
		}
		d.Phases = append(d.Phases, ph)
	}
}

var stepKeys = []string{"name", "action", "inputs", "if", "loop", "timeoutSeconds", "onFailure", "maxAttempts", "disableLogging"}

func (d *Document) parseStep(sn *yaml.Node) (Step, bool) {
	if sn.Kind != yaml.MappingNode {
		d.errorf(sn, "each step must be a mapping with name and action")
		return Step{}, false
	}
	st := Step{Line: sn.Line, Column: sn.Column, node: sn, OnFailure: "Abort", MaxAttempts: 1}
	var sawName, sawAction bool
	d.pairs(sn, "step", stepKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			sawName = true
			st.Name, _ = d.scalar(v, "step name")
		case "action":
			sawAction = true
			st.Action, _ = d.scalar(v, "action")
		case "inputs":
			st.inputsNode = yamlmap.Deref(v)
			st.Inputs = d.decode(v)
			if d.budget < 0 {
				d.errorf(v, "inputs expand to more than %d values (aliases nested too deeply)", maxDecodedValues)
				st.Inputs = nil
			}
		case "if":
			st.If = d.parseCondition(v)
		case "loop":
			st.Loop = d.parseLoop(v)
		case "timeoutSeconds":
			if n, ok := d.integer(v, "timeoutSeconds"); ok {
				st.hasTimeout = true
				st.TimeoutSeconds = n
				if n == 0 || n < -1 {
					d.errorf(v, "timeoutSeconds must be positive or -1 (no limit), not %d", n)
				}
			}
		case "maxAttempts":
			if n, ok := d.integer(v, "maxAttempts"); ok {
				st.hasMax = true
				st.MaxAttempts = n
				if n < 1 {
					d.errorf(v, "maxAttempts must be at least 1, not %d", n)
					st.MaxAttempts = 1
				}
			}
		case "onFailure":
			s, _ := d.scalar(v, "onFailure")
			// The docs always capitalise; accept any case and normalise,
			// since the spelling carries no other meaning.
			switch strings.ToLower(s) {
			case "abort":
				st.OnFailure = "Abort"
			case "continue":
				st.OnFailure = "Continue"
			case "ignore":
				st.OnFailure = "Ignore"
			default:
				d.errorf(v, "onFailure must be Abort, Continue or Ignore, not %q", s)
			}
		case "disableLogging":
			v = yamlmap.Deref(v)
			if v.Kind != yaml.ScalarNode || v.Tag != "!!bool" {
				d.errorf(v, "disableLogging must be true or false")
				return
			}
			st.DisableLogging = v.Value == "true"
		}
	})
	if !sawName {
		d.errorf(sn, "step has no name")
	}
	if strings.ContainsAny(st.Name, ".{}") {
		d.warnf(sn, "step name %q contains . { or }: other steps cannot chain to it", st.Name)
	}
	if !sawAction {
		d.errorf(sn, "step %q has no action", st.Name)
	}
	return st, true
}

var plainDecimal = regexp.MustCompile(`^[-+]?(0|[1-9][0-9]*)$`)

// maxDecodedValues bounds the values a document's inputs may decode to.
// YAML aliases can make a small document expand exponentially ("billion
// laughs"); the API server parses untrusted documents.
const maxDecodedValues = 100000

// decode turns a YAML node into the plain values modules receive. Scalars
// keep their source text where a YAML int or float would lose it (0755,
// 1.10); plain decimal integers become int and true/false become bool.
func (d *Document) decode(n *yaml.Node) any {
	d.budget--
	if d.budget < 0 {
		return nil
	}
	n = yamlmap.Deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = d.decode(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, len(n.Content))
		for i, c := range n.Content {
			l[i] = d.decode(c)
		}
		return l
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
		case "!!int":
			if plainDecimal.MatchString(n.Value) {
				if v, err := strconv.Atoi(n.Value); err == nil {
					return v
				}
			}
			return n.Value
		default:
			return n.Value
		}
	}
	return nil
}

// ComponentType is how Image Builder classifies the document: "TEST" when
// its only phase is test, else "BUILD".
func (d *Document) ComponentType() string {
	if len(d.Phases) == 1 && d.Phases[0].Name == "test" {
		return "TEST"
	}
	return "BUILD"
}

// phase returns the named phase, or nil.
func (d *Document) phase(name string) *Phase {
	for i := range d.Phases {
		if d.Phases[i].Name == name {
			return &d.Phases[i]
		}
	}
	return nil
}
