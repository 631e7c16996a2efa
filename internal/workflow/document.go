// Package workflow reads Image Builder workflow documents: the YAML that
// CreateWorkflow stores and a build runs as its build, test or
// distribution stage (schemaVersion 1.0: parameters, steps of known
// actions with inputs, conditions, failure handling and timeouts, and
// outputs). Parse keeps the line and column of everything so that every
// problem Validate reports points at the text that causes it.
package workflow

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/yamlmap"

	"go.yaml.in/yaml/v3"
)

// MaxSteps is the most steps one document may hold.
const MaxSteps = 15

// Document is a parsed workflow document.
type Document struct {
	Name          string
	Description   string
	SchemaVersion string
	Parameters    []Parameter
	Steps         []Step
	Outputs       []Output

	problems Problems
	budget   int // nodes left to visit; bounds work on alias-heavy input
}

// Parameter is a value the pipeline (WorkflowConfiguration.parameters) or
// the default supplies at run time.
type Parameter struct {
	Name        string
	Type        string // string, integer, boolean or stringList
	Description string
	// Default holds the default rendered as strings (one per list item for
	// stringList), the way the API's WorkflowParameterDetail shows it;
	// HasDefault distinguishes an absent default from an empty list.
	Default    []string
	HasDefault bool
	Line       int
	Column     int
}

// Step is one step of the document.
type Step struct {
	Name        string
	Action      string
	Description string
	// OnFailure is "Abort" (the default) or "Continue".
	OnFailure string
	// RollbackEnabled is "true", "false" or a JSONPath resolving to a
	// boolean; "" when the document leaves it to the default (true).
	RollbackEnabled string
	// Timeout is the step's timeoutSeconds, or the action's default.
	Timeout time.Duration
	If      *Condition
	// Inputs are the step's inputs as decoded YAML (keys ending ".$" hold
	// JSONPath expressions resolved at run time).
	Inputs map[string]any
	Line   int
	Column int
}

// Condition is a step's `if`: a combinator (and, or, not) over other
// conditions, or a comparison of Operand with Value.
type Condition struct {
	Op       string      // and, or, not, booleanEquals, numberEquals, ..., stringEquals
	Operand  string      // the comparison's literal (its source text)
	Value    string      // the `value` it is compared with (often a JSONPath)
	Children []Condition // operands of and/or/not
	Line     int
	Column   int
}

// Output is a value the workflow publishes to later workflows.
type Output struct {
	Name   string
	Value  string
	Line   int
	Column int
}

// Problem is one finding, at a position in the document text.
type Problem struct {
	Line    int
	Column  int
	Message string
}

func (p Problem) String() string {
	return fmt.Sprintf("line %d, column %d: %s", p.Line, p.Column, p.Message)
}

// Error makes a Problem usable as an error.
func (p Problem) Error() string { return p.String() }

// Problems is a list of problems usable as one error.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// maxNodes bounds how many YAML nodes Parse visits, so that a small
// document of nested aliases cannot make it do unbounded work.
const maxNodes = 100000

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// Parse reads a workflow document. It fails (with a Problem) only when
// the text is not YAML or its top level is not a mapping; everything else
// wrong with the document is collected and reported by Validate, so one
// call lists every problem.
func Parse(data []byte) (*Document, error) {
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
		return nil, Problem{Line: line, Column: 1, Message: "invalid YAML: " + msg}
	}
	if len(root.Content) == 0 {
		return nil, Problem{Line: 1, Column: 1, Message: "the document is empty"}
	}
	d := &Document{budget: maxNodes}
	top := yamlmap.Deref(root.Content[0])
	if top.Kind != yaml.MappingNode {
		return nil, Problem{Line: top.Line, Column: top.Column, Message: "the document must be a mapping with schemaVersion and steps"}
	}
	d.parseTop(top)
	return d, nil
}

// Validate returns every problem with the document as a workflow of the
// given stage, in document order; none means the document is valid.
func (d *Document) Validate(stage Stage) Problems {
	ps := append(Problems(nil), d.problems...)
	add := func(line, col int, format string, args ...any) {
		ps = append(ps, Problem{Line: line, Column: col, Message: fmt.Sprintf(format, args...)})
	}
	hasContainerDistribution := false
	for _, st := range d.Steps {
		if st.Action == "DistributeContainerImage" {
			hasContainerDistribution = true
		}
	}
	for _, st := range d.Steps {
		a, ok := actions[st.Action]
		if !ok {
			continue // reported by Parse
		}
		if !a.allowedIn(stage) {
			names := make([]string, len(a.Stages))
			for i, s := range a.Stages {
				names[i] = string(s)
			}
			add(st.Line, st.Column, "step %q: the action %s cannot run in a %s workflow (only %s)", st.Name, st.Action, stage, strings.Join(names, ", "))
		}
		if st.Action == "RunSysPrep" {
			add(st.Line, st.Column, "step %q: %s", st.Name, RunSysPrepRefusal)
		}
		if hasContainerDistribution && contains(amiDistributionActions, st.Action) {
			add(st.Line, st.Column, "step %q: %s cannot be combined with DistributeContainerImage in one workflow", st.Name, st.Action)
		}
	}
	sortProblems(ps)
	return ps
}

func sortProblems(ps Problems) {
	// Insertion sort: lists are short, and the order within a line is the
	// order found.
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && ps[j].Line < ps[j-1].Line; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
}

func (d *Document) errorf(n *yaml.Node, format string, args ...any) {
	d.problems = append(d.problems, Problem{Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

// spend counts one node visit and reports whether the budget allows it.
func (d *Document) spend(n *yaml.Node) bool {
	d.budget--
	if d.budget == 0 {
		d.errorf(n, "the document is too large or too deeply aliased")
	}
	return d.budget > 0
}

// pairs walks a mapping's key/value pairs (aliases resolved, each key
// spending the budget), reporting duplicate keys and keys not in allowed.
func (d *Document) pairs(m *yaml.Node, what string, allowed []string, fn func(key string, k, v *yaml.Node)) {
	yamlmap.Walker{Errorf: d.errorf, Deref: true, Visit: d.spend}.Pairs(m, what, allowed, fn)
}

// scalar returns a scalar's text, reporting any other kind of node.
func (d *Document) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s must be a single value", what)
		return "", false
	}
	return n.Value, true
}

// str returns a non-empty string scalar.
func (d *Document) str(n *yaml.Node, what string) string {
	s, ok := d.scalar(n, what)
	if ok && (s == "" || n.Tag == "!!null") {
		d.errorf(n, "%s must not be empty", what)
		return ""
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var topKeys = []string{"name", "description", "schemaVersion", "parameters", "steps", "outputs"}

func (d *Document) parseTop(top *yaml.Node) {
	var stepsNode, outputsNode *yaml.Node
	hasSchema := false
	d.pairs(top, "document", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			d.Name, _ = d.scalar(v, "name")
		case "description":
			d.Description, _ = d.scalar(v, "description")
		case "schemaVersion":
			hasSchema = true
			if s, ok := d.scalar(v, "schemaVersion"); ok {
				d.SchemaVersion = s
				if s != "1.0" {
					d.errorf(v, "schemaVersion %q is not supported (want 1.0)", s)
				}
			}
		case "parameters":
			d.parseParameters(v)
		case "steps":
			stepsNode = v
		case "outputs":
			outputsNode = v
		}
	})
	if !hasSchema {
		d.errorf(top, "schemaVersion is required (schemaVersion: 1.0)")
	}
	if stepsNode == nil {
		d.errorf(top, "steps is required: a workflow needs at least one step")
	} else {
		d.parseSteps(stepsNode)
	}
	if outputsNode != nil {
		d.parseOutputs(outputsNode)
	}
}

var parameterTypes = []string{"string", "integer", "boolean", "stringList"}

func (d *Document) parseParameters(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "parameters must be a list")
		return
	}
	seen := map[string]bool{}
	d.eachMapping(n.Content, "each parameter must be a mapping with name and type", func(item *yaml.Node) {
		p := Parameter{Line: item.Line, Column: item.Column}
		var def *yaml.Node
		d.pairs(item, "parameter", []string{"name", "type", "default", "description"}, func(key string, k, v *yaml.Node) {
			switch key {
			case "name":
				p.Name = d.str(v, "parameter name")
			case "type":
				p.Type = d.str(v, "parameter type")
				if p.Type != "" && !contains(parameterTypes, p.Type) {
					d.errorf(v, "parameter type %q is not one of %s", p.Type, strings.Join(parameterTypes, ", "))
				}
			case "description":
				p.Description, _ = d.scalar(v, "parameter description")
			case "default":
				def = v
			}
		})
		switch {
		case p.Name == "":
			d.errorf(item, "a parameter needs a name")
		case len(p.Name) > 128:
			d.errorf(item, "parameter name %q is longer than 128 characters", p.Name)
		case seen[p.Name]:
			d.errorf(item, "parameter %q is declared twice", p.Name)
		}
		seen[p.Name] = true
		if p.Type == "" {
			d.errorf(item, "parameter %q needs a type (%s)", p.Name, strings.Join(parameterTypes, ", "))
		}
		if def != nil {
			p.HasDefault = true
			p.Default = d.defaultValue(def, p)
		}
		d.Parameters = append(d.Parameters, p)
	})
}

// defaultValue checks a parameter's default against its type and renders
// it as strings.
func (d *Document) defaultValue(n *yaml.Node, p Parameter) []string {
	if p.Type == "stringList" {
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "the default of stringList parameter %q must be a list", p.Name)
			return nil
		}
		out := []string{}
		for _, item := range n.Content {
			item = yamlmap.Deref(item)
			if s, ok := d.scalar(item, "a stringList item"); ok {
				out = append(out, s)
			}
		}
		return out
	}
	s, ok := d.scalar(n, fmt.Sprintf("the default of parameter %q", p.Name))
	if !ok {
		return nil
	}
	switch p.Type {
	case "integer":
		if _, err := strconv.ParseInt(s, 10, 64); err != nil {
			d.errorf(n, "the default of integer parameter %q is not an integer: %q", p.Name, s)
		}
	case "boolean":
		if s != "true" && s != "false" {
			d.errorf(n, "the default of boolean parameter %q must be true or false, not %q", p.Name, s)
		}
	}
	return []string{s}
}

var (
	stepKeys   = []string{"name", "action", "description", "onFailure", "rollbackEnabled", "timeoutSeconds", "if", "inputs"}
	stepNameRE = regexp.MustCompile(`^[A-Za-z0-9_]{3,128}$`)
	onFailures = []string{"Abort", "Continue"}
)

// actionNames lists the known actions, for messages.
func actionNames() string {
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (d *Document) parseSteps(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "steps must be a list")
		return
	}
	if len(n.Content) == 0 {
		d.errorf(n, "steps must hold at least one step")
	}
	if len(n.Content) > MaxSteps {
		d.errorf(n.Content[MaxSteps], "a workflow may have at most %d steps; this is step %d", MaxSteps, MaxSteps+1)
	}
	earlier := map[string]bool{}
	d.eachMapping(n.Content, "each step must be a mapping with name and action", func(item *yaml.Node) {
		st := Step{Line: item.Line, Column: item.Column}
		var timeout, ifNode, inputs, rollback *yaml.Node
		d.pairs(item, "step", stepKeys, func(key string, k, v *yaml.Node) {
			switch key {
			case "name":
				st.Name = d.str(v, "step name")
				if st.Name != "" && !stepNameRE.MatchString(st.Name) {
					d.errorf(v, "step name %q must be 3-128 letters, digits or underscores", st.Name)
				}
			case "action":
				st.Action = d.str(v, "step action")
				if _, ok := actions[st.Action]; st.Action != "" && !ok {
					d.errorf(v, "unknown action %q (known actions: %s)", st.Action, actionNames())
				}
			case "description":
				st.Description, _ = d.scalar(v, "step description")
				if len(st.Description) > 1024 {
					d.errorf(v, "step description is longer than 1024 characters")
				}
			case "onFailure":
				if s, ok := d.scalar(v, "onFailure"); ok {
					st.OnFailure = canonicalOnFailure(s)
					if st.OnFailure == "" {
						d.errorf(v, "onFailure %q must be Abort or Continue", s)
					}
				}
			case "rollbackEnabled":
				rollback = v
			case "timeoutSeconds":
				timeout = v
			case "if":
				ifNode = v
			case "inputs":
				inputs = v
			}
		})
		if st.Name == "" {
			d.errorf(item, "a step needs a name")
		} else if earlier[st.Name] {
			d.errorf(item, "step name %q is used twice", st.Name)
		}
		if st.Action == "" {
			d.errorf(item, "step %q needs an action", st.Name)
		}
		if st.OnFailure == "" {
			st.OnFailure = "Abort"
		}
		a, known := actions[st.Action]
		st.Timeout = a.DefaultTimeout
		if timeout != nil {
			st.Timeout = d.parseTimeout(timeout, st, a, known)
		}
		if rollback != nil {
			if s, ok := d.scalar(rollback, "rollbackEnabled"); ok {
				switch {
				case s == "true" || s == "false":
				case strings.HasPrefix(s, "$."):
					d.checkPath(rollback, s, earlier)
				default:
					d.errorf(rollback, "rollbackEnabled must be true, false or a JSONPath expression, not %q", s)
				}
				st.RollbackEnabled = s
			}
		}
		if ifNode != nil {
			c := d.parseCondition(ifNode, earlier)
			st.If = &c
		}
		if inputs != nil {
			st.Inputs = d.parseInputs(inputs, st, a, known, earlier)
		} else if known && len(a.Required) > 0 {
			d.errorf(item, "step %q: the %s action needs inputs: %s", st.Name, st.Action, strings.Join(a.Required, ", "))
		}
		earlier[st.Name] = true
		d.Steps = append(d.Steps, st)
	})
}

// canonicalOnFailure accepts the document spelling (Abort, Continue) and,
// leniently, the API's upper-case spelling, and returns the document
// spelling ("" for anything else).
func canonicalOnFailure(s string) string {
	for _, f := range onFailures {
		if strings.EqualFold(s, f) {
			return f
		}
	}
	return ""
}

func (d *Document) parseTimeout(n *yaml.Node, st Step, a Action, known bool) time.Duration {
	s, ok := d.scalar(n, "timeoutSeconds")
	if !ok {
		return a.DefaultTimeout
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil || secs < 1 {
		d.errorf(n, "step %q: timeoutSeconds must be a whole number of seconds, at least 1 (got %q)", st.Name, s)
		return a.DefaultTimeout
	}
	if known && secs > int64(a.MaxTimeout/time.Second) {
		d.errorf(n, "step %q: timeoutSeconds %d exceeds the %s action's maximum of %d seconds", st.Name, secs, st.Action, int64(a.MaxTimeout/time.Second))
		return a.MaxTimeout
	}
	return time.Duration(secs) * time.Second
}

var (
	combinators = []string{"and", "or", "not"}
	comparisons = []string{"booleanEquals", "numberEquals", "numberGreaterThan", "numberGreaterThanEquals",
		"numberLessThan", "numberLessThanEquals", "stringEquals"}
)

// parseCondition reads an `if`: exactly one operator, and for comparisons
// a `value` beside it.
func (d *Document) parseCondition(n *yaml.Node, earlier map[string]bool) Condition {
	c := Condition{Line: n.Line, Column: n.Column}
	if !d.spend(n) {
		return c
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "a condition must be a mapping such as {booleanEquals: true, value: \"$.parameters.x\"}")
		return c
	}
	var operand, value *yaml.Node
	allowed := append(append([]string{"value"}, combinators...), comparisons...)
	d.pairs(n, "condition", allowed, func(key string, k, v *yaml.Node) {
		if key == "value" {
			value = v
			return
		}
		if c.Op != "" {
			d.errorf(k, "a condition has one operator; %q follows %q", key, c.Op)
			return
		}
		c.Op, operand = key, v
	})
	switch {
	case c.Op == "":
		d.errorf(n, "the condition names no operator (one of %s)", strings.Join(allowed[1:], ", "))
	case contains(combinators, c.Op):
		if value != nil {
			d.errorf(value, "%s takes no value", c.Op)
		}
		c.Children = d.parseOperands(c.Op, operand, earlier)
	default:
		if operand.Kind != yaml.ScalarNode {
			d.errorf(operand, "%s compares a single value", c.Op)
		} else {
			c.Operand = operand.Value
			d.checkOperand(c.Op, operand, earlier)
		}
		if value == nil {
			d.errorf(n, "%s needs a value to compare with", c.Op)
		} else if s, ok := d.scalar(value, "the condition's value"); ok {
			c.Value = s
			if strings.HasPrefix(s, "$.") {
				d.checkPath(value, s, earlier)
			} else {
				d.checkOperand(c.Op, value, earlier)
			}
		}
	}
	return c
}

func (d *Document) parseOperands(op string, n *yaml.Node, earlier map[string]bool) []Condition {
	if op == "not" && n.Kind == yaml.MappingNode {
		return []Condition{d.parseCondition(n, earlier)}
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.errorf(n, "%s takes a list of conditions", op)
		return nil
	}
	if op == "not" && len(n.Content) != 1 {
		d.errorf(n, "not takes exactly one condition")
	}
	var out []Condition
	for _, item := range n.Content {
		out = append(out, d.parseCondition(yamlmap.Deref(item), earlier))
	}
	return out
}

// checkOperand checks a comparison's literal against the comparison's type.
func (d *Document) checkOperand(op string, n *yaml.Node, earlier map[string]bool) {
	s := n.Value
	if strings.HasPrefix(s, "$.") {
		d.checkPath(n, s, earlier)
		return
	}
	switch {
	case op == "booleanEquals":
		if s != "true" && s != "false" {
			d.errorf(n, "booleanEquals compares with true or false, not %q", s)
		}
	case strings.HasPrefix(op, "number"):
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			d.errorf(n, "%s compares with a number, not %q", op, s)
		}
	}
}

// parseInputs checks a step's inputs: required ones present, ".$" keys
// holding JSONPath expressions whose references exist, and a few inputs
// whose values are fixed by the action.
func (d *Document) parseInputs(n *yaml.Node, st Step, a Action, known bool, earlier map[string]bool) map[string]any {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "step %q: inputs must be a mapping", st.Name)
		return nil
	}
	given := map[string]bool{}
	d.pairs(n, "inputs", nil, func(key string, k, v *yaml.Node) {
		base, dynamic := strings.CutSuffix(key, ".$")
		if given[base] {
			d.errorf(k, "step %q: input %q is given twice (literally and as %s.$)", st.Name, base, base)
		}
		given[base] = true
		if dynamic {
			s, ok := d.scalar(v, "input "+key)
			if ok && !strings.HasPrefix(s, "$.") {
				d.errorf(v, "step %q: input %q ends in .$ so its value must be a JSONPath starting with $. (got %q)", st.Name, key, s)
			} else if ok {
				d.checkPath(v, s, earlier)
			}
			return
		}
		d.checkTemplates(v, earlier)
		if !known {
			return
		}
		switch {
		case st.Action == "LaunchInstance" && base == "waitFor":
			if s, ok := d.scalar(v, "waitFor"); ok && s != "ssmAgent" {
				d.errorf(v, "step %q: waitFor must be ssmAgent, not %q", st.Name, s)
			}
		case st.Action == "LaunchInstance" && base == "healthCheck":
			if s, ok := d.scalar(v, "healthCheck"); ok && s != "RUNNING" && s != "STATUS_CHECK_PASSED" {
				d.errorf(v, "step %q: healthCheck must be RUNNING or STATUS_CHECK_PASSED, not %q", st.Name, s)
			}
		}
	})
	if known {
		for _, r := range a.Required {
			if !given[r] {
				d.errorf(n, "step %q: the %s action needs the input %q", st.Name, st.Action, r)
			}
		}
	}
	var out map[string]any
	if err := n.Decode(&out); err != nil {
		d.errorf(n, "step %q: inputs: %v", st.Name, err)
	}
	return out
}

var templateRE = regexp.MustCompile(`\{\{\s*(\$\.[^}\s]*)\s*\}\}`)

// checkTemplates checks the {{ $.… }} references inside literal inputs.
func (d *Document) checkTemplates(n *yaml.Node, earlier map[string]bool) {
	n = yamlmap.Deref(n)
	if !d.spend(n) {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		for _, m := range templateRE.FindAllStringSubmatch(n.Value, -1) {
			d.checkPath(n, m[1], earlier)
		}
	case yaml.SequenceNode, yaml.MappingNode:
		for _, c := range n.Content {
			d.checkTemplates(c, earlier)
			if d.budget <= 0 {
				return
			}
		}
	}
}

// checkPath checks a JSONPath reference: parameters must be declared,
// step outputs must come from an earlier step (any step when earlier is
// nil, as in outputs), system variables must exist.
func (d *Document) checkPath(n *yaml.Node, path string, earlier map[string]bool) {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		if j := strings.IndexByte(p, '['); j >= 0 {
			parts[i] = p[:j]
		}
	}
	if len(parts) < 3 || parts[0] != "$" || parts[2] == "" {
		d.errorf(n, "%q is not a reference this document can resolve ($.parameters.NAME, $.stepOutputs.STEP.OUTPUT, $.workflowOutputs.NAME or $.imagebuilder.VARIABLE)", path)
		return
	}
	switch parts[1] {
	case "parameters":
		for _, p := range d.Parameters {
			if p.Name == parts[2] {
				return
			}
		}
		d.errorf(n, "%q refers to the parameter %q, which the document does not declare", path, parts[2])
	case "stepOutputs":
		if len(parts) < 4 {
			d.errorf(n, "%q must name a step and one of its outputs", path)
			return
		}
		if earlier == nil {
			for _, st := range d.Steps {
				if st.Name == parts[2] {
					return
				}
			}
			d.errorf(n, "%q refers to the step %q, which the document does not have", path, parts[2])
		} else if !earlier[parts[2]] {
			d.errorf(n, "%q refers to the step %q, which does not run before this point", path, parts[2])
		}
	case "imagebuilder":
		if !systemVariables[parts[2]] {
			d.errorf(n, "%q refers to the unknown system variable %q", path, parts[2])
		}
	case "workflowOutputs":
	default:
		d.errorf(n, "%q: unknown root %q (want parameters, stepOutputs, workflowOutputs or imagebuilder)", path, parts[1])
	}
}

// eachMapping calls fn for each item of a list (parameters, steps,
// outputs) that is a mapping, reporting any other item with notMapping. It
// stops once the document's node budget is spent.
func (d *Document) eachMapping(items []*yaml.Node, notMapping string, fn func(item *yaml.Node)) {
	for _, item := range items {
		item = yamlmap.Deref(item)
		if !d.spend(item) {
			return
		}
		if item.Kind != yaml.MappingNode {
			d.errorf(item, "%s", notMapping)
			continue
		}
		fn(item)
	}
}

func (d *Document) parseOutputs(n *yaml.Node) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "outputs must be a list")
		return
	}
	seen := map[string]bool{}
	d.eachMapping(n.Content, "each output must be a mapping with name and value", func(item *yaml.Node) {
		o := Output{Line: item.Line, Column: item.Column}
		d.pairs(item, "output", []string{"name", "value"}, func(key string, k, v *yaml.Node) {
			switch key {
			case "name":
				o.Name = d.str(v, "output name")
			case "value":
				o.Value = d.str(v, "output value")
				if strings.HasPrefix(o.Value, "$.") {
					d.checkPath(v, o.Value, nil)
				}
			}
		})
		if o.Name == "" {
			d.errorf(item, "an output needs a name")
		} else if seen[o.Name] {
			d.errorf(item, "output %q is declared twice", o.Name)
		}
		if o.Value == "" {
			d.errorf(item, "output %q needs a value", o.Name)
		}
		seen[o.Name] = true
		d.Outputs = append(d.Outputs, o)
	})
}
