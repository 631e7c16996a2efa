package toe

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/toe/action"
	"github.com/kiln-build/kiln/internal/yamlmap"
	"go.yaml.in/yaml/v3"
)

// modules finds an action module by name. It is a variable so tests can
// install fakes; the runner's Modules field overrides it per run.
var modules = action.Lookup

// windowsOnly reports actions that exist in AWSTOE but only on Windows, so
// validation can say so instead of "unknown action".
var windowsOnly = action.WindowsOnly

// Validate returns every problem in the document (not just the first), each
// with the line and column of the offending value. An empty result means the
// document can run on Linux.
func (d *Document) Validate() []Problem {
	return d.validate(modules)
}

// Warnings returns findings that do not stop a run: no well-known phase
// name, step names that chaining cannot address, parameters without a
// default (Image Builder requires a value for those).
func (d *Document) Warnings() []Problem {
	return append([]Problem(nil), d.warnings...)
}

func (d *Document) validate(lookup func(string) (action.Module, bool)) []Problem {
	v := &validator{Document: d, lookup: lookup, probs: append([]Problem(nil), d.problems...)}
	v.run()
	// Problems are found phase by phase and rule by rule; users read them
	// top to bottom.
	sort.SliceStable(v.probs, func(i, j int) bool {
		a, b := v.probs[i], v.probs[j]
		return a.Line < b.Line || a.Line == b.Line && a.Column < b.Column
	})
	return v.probs
}

// actionNode is the value of a step's `action` key, where a problem with
// the action itself points; the step when there is none.
func actionNode(step *yaml.Node) *yaml.Node {
	if step != nil && step.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(step.Content); i += 2 {
			if step.Content[i].Value == "action" {
				return step.Content[i+1]
			}
		}
	}
	return step
}

type validator struct {
	*Document
	lookup   func(string) (action.Module, bool)
	declared map[string]bool
	probs    []Problem
}

func (v *validator) errorf(n *yaml.Node, format string, args ...any) {
	v.probs = append(v.probs, Problem{Document: v.Source, Line: n.Line, Column: n.Column, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) run() {
	d := v.Document
	v.declared = map[string]bool{}
	for _, p := range d.Parameters {
		if v.declared[p.Name] {
			v.errorf(&yaml.Node{Line: p.Line, Column: p.Column}, "parameter %q is already declared", p.Name)
		}
		v.declared[p.Name] = true
	}
	for _, c := range d.Constants {
		if v.declared[c.Name] {
			v.errorf(&yaml.Node{Line: c.Line, Column: c.Column}, "constant %q is already declared as a parameter or constant", c.Name)
		}
		v.declared[c.Name] = true
	}
	phaseSeen := map[string]bool{}
	for pi := range d.Phases {
		ph := &d.Phases[pi]
		pos := &yaml.Node{Line: ph.Line, Column: ph.Column}
		if ph.Name != "" && phaseSeen[ph.Name] {
			v.errorf(pos, "duplicate phase name %q", ph.Name)
		}
		phaseSeen[ph.Name] = true
		stepSeen := map[string]bool{}
		loopSeen := map[string]bool{}
		for si := range ph.Steps {
			st := &ph.Steps[si]
			if st.Name != "" && stepSeen[st.Name] {
				v.errorf(st.node, "duplicate step name %q in phase %q", st.Name, ph.Name)
			}
			stepSeen[st.Name] = true
			if st.Loop != nil && st.Loop.Name != "" {
				if loopSeen[st.Loop.Name] {
					v.errorf(st.Loop.nameNode, "duplicate loop name %q in phase %q", st.Loop.Name, ph.Name)
				}
				loopSeen[st.Loop.Name] = true
			}
			v.step(pi, si)
		}
	}
}

func (v *validator) step(pi, si int) {
	d := v.Document
	st := &d.Phases[pi].Steps[si]
	if st.Action != "" {
		if m, ok := v.lookup(st.Action); ok {
			for _, p := range m.Validate(st.Inputs) {
				n := nodeAt(st.inputsNode, p.Path)
				if n == nil {
					n = st.node
				}
				msg := "inputs: " + p.Message
				if p.Path != "" {
					msg = "inputs." + strings.TrimPrefix(p.Path, ".") + ": " + p.Message
				}
				v.errorf(n, "step %q (%s): %s", st.Name, st.Action, msg)
			}
		} else if windowsOnly(st.Action) {
			v.errorf(actionNode(st.node), "step %q: action %s is not supported on Linux", st.Name, st.Action)
		} else {
			v.errorf(actionNode(st.node), "step %q: unknown action %q", st.Name, st.Action)
		}
	}
	switch st.Action {
	case "ExecuteDocument":
		if st.hasTimeout && st.TimeoutSeconds != -1 {
			v.errorf(st.node, "step %q: ExecuteDocument does not take timeoutSeconds (it is always -1)", st.Name)
		}
		if st.hasMax && st.MaxAttempts != 1 {
			v.errorf(st.node, "step %q: ExecuteDocument does not take maxAttempts (it is always 1)", st.Name)
		}
	case "Reboot":
		if st.hasTimeout {
			v.errorf(st.node, "step %q: Reboot does not support timeoutSeconds", st.Name)
		}
	}
	walkScalars(st.inputsNode, func(n *yaml.Node) { v.refs(pi, si, n, true) })
	if st.Loop != nil {
		for _, n := range st.Loop.itemNodes {
			v.refs(pi, si, n, false)
		}
	}
	if st.If != nil {
		walkExpr(st.If.Expr, func(n *yaml.Node) { v.refs(pi, si, n, false) })
	}
}

// refs checks every placeholder in one scalar. loopVars says whether the
// step's loop variables are in scope.
func (v *validator) refs(pi, si int, n *yaml.Node, loopVars bool) {
	d := v.Document
	st := &d.Phases[pi].Steps[si]
	for _, expr := range references(n.Value) {
		r := parseRef(expr)
		switch r.kind {
		case refVariable:
			if !v.declared[r.name] {
				v.errorf(n, "step %q: {{ %s }} refers to an undeclared parameter or constant", st.Name, expr)
			}
		case refLoop:
			// Outside a loop {{ loop.* }} is documented to stay as written.
			if r.name == "loop" {
				continue
			}
			if st.Loop == nil || st.Loop.Name != r.name || !loopVars {
				v.errorf(n, "step %q: {{ %s }} refers to loop %q, which is not this step's loop", st.Name, expr, r.name)
			}
		case refChain:
			v.chain(pi, si, n, expr, r)
		case refContext:
			if !contains(contextKeys, r.name) {
				v.errorf(n, "step %q: {{ %s }}: unknown context key %q", st.Name, expr, r.name)
			}
		case refEnv:
			if r.name == "" {
				v.errorf(n, "step %q: {{ %s }}: missing environment variable name", st.Name, expr)
			}
		case refIMDS:
			p := strings.TrimPrefix(strings.TrimPrefix(r.name, "/"), "meta-data/")
			if strings.HasPrefix(p, "iam/") || strings.HasPrefix(p, "identity-credentials/") || p == "iam" || p == "identity-credentials" {
				v.errorf(n, "step %q: {{ %s }}: instance credentials may not be read from IMDS", st.Name, expr)
			}
		case refSSM:
			if r.name == "" {
				v.errorf(n, "step %q: {{ %s }}: missing SSM parameter name", st.Name, expr)
			}
		}
	}
}

// chain checks a {{ phase.step.inputs|outputs.key }} reference: the step
// must exist in this document and run before the referring step.
func (v *validator) chain(pi, si int, n *yaml.Node, expr string, r ref) {
	d := v.Document
	st := &d.Phases[pi].Steps[si]
	tpi := -1
	for i := range d.Phases {
		if d.Phases[i].Name == r.phase {
			tpi = i
			break
		}
	}
	if tpi < 0 {
		v.errorf(n, "step %q: {{ %s }} refers to phase %q, which this document does not have", st.Name, expr, r.phase)
		return
	}
	tsi := -1
	for i := range d.Phases[tpi].Steps {
		if d.Phases[tpi].Steps[i].Name == r.step {
			tsi = i
			break
		}
	}
	if tsi < 0 {
		v.errorf(n, "step %q: {{ %s }} refers to step %q, which phase %q does not have", st.Name, expr, r.step, r.phase)
		return
	}
	if tpi > pi || (tpi == pi && tsi >= si) {
		v.errorf(n, "step %q: {{ %s }} refers to step %s.%s, which has not run yet at this point", st.Name, expr, r.phase, r.step)
	}
}

// walkScalars visits the scalars under n. It does not follow aliases:
// their targets are checked where they are written, and following them
// would let a small document expand exponentially.
func walkScalars(n *yaml.Node, fn func(*yaml.Node)) {
	if n == nil || n.Kind == yaml.AliasNode {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		fn(n)
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			walkScalars(n.Content[i], fn)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			walkScalars(c, fn)
		}
	}
}

func walkExpr(e *Expr, fn func(*yaml.Node)) {
	if e == nil {
		return
	}
	for _, n := range e.operandNodes {
		fn(n)
	}
	for _, a := range e.Args {
		walkExpr(a, fn)
	}
}

// nodeAt finds the node an action.Problem path names inside the inputs
// ("", "path", "[2].source", "commands[0]"). It returns the deepest node it
// could reach, or nil when inputs is nil.
func nodeAt(n *yaml.Node, path string) *yaml.Node {
	if n == nil {
		return nil
	}
	cur := yamlmap.Deref(n)
	for path != "" {
		switch {
		case path[0] == '.':
			path = path[1:]
		case path[0] == '[':
			end := strings.IndexByte(path, ']')
			if end < 0 {
				return cur
			}
			i, err := strconv.Atoi(path[1:end])
			path = path[end+1:]
			if err != nil || cur.Kind != yaml.SequenceNode || i < 0 || i >= len(cur.Content) {
				return cur
			}
			cur = yamlmap.Deref(cur.Content[i])
		default:
			end := strings.IndexAny(path, ".[")
			if end < 0 {
				end = len(path)
			}
			key := path[:end]
			path = path[end:]
			if cur.Kind != yaml.MappingNode {
				return cur
			}
			found := false
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == key {
					cur = yamlmap.Deref(cur.Content[i+1])
					found = true
					break
				}
			}
			if !found {
				return cur
			}
		}
	}
	return cur
}
