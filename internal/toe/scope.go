package toe

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// scope resolves placeholders for one step (and one loop iteration).
type scope struct {
	dr          *docRun
	ctx         context.Context
	phase, step string
	loop        *iteration
	loopName    string
}

func (s *scope) expand(str string) (string, error) { return Expand(str, s.resolve) }

// resolve answers one placeholder. Shapes it does not recognise, and loop
// variables outside a loop, stay as written (ok=false); recognised
// references that cannot be answered fail the step.
func (s *scope) resolve(expr string) (string, bool, error) {
	r := parseRef(expr)
	switch r.kind {
	case refVariable:
		v, ok := s.dr.vars[r.name]
		return v, ok, nil
	case refLoop:
		if s.loop == nil || (r.name != "loop" && r.name != s.loopName) {
			return "", false, nil
		}
		if r.field == "index" {
			return strconv.Itoa(s.loop.Index), true, nil
		}
		return s.loop.Value, true, nil
	case refChain:
		v, err := s.chained(r)
		if err != nil {
			return "", false, fmt.Errorf("{{ %s }}: %w", expr, err)
		}
		s.dr.mu.Lock()
		s.dr.chaining[expr] = v
		s.dr.mu.Unlock()
		return v, true, nil
	case refEnv:
		prefix := r.name + "="
		for i := len(s.dr.environ) - 1; i >= 0; i-- {
			if strings.HasPrefix(s.dr.environ[i], prefix) {
				return s.dr.environ[i][len(prefix):], true, nil
			}
		}
		// An unset variable expands to nothing, as in a shell.
		s.dr.log.Warn("environment variable is not set", "name", r.name, "step", s.step)
		return "", true, nil
	case refContext:
		switch r.name {
		case "phase":
			return s.phase, true, nil
		case "step":
			return s.step, true, nil
		case "uuid":
			return newUUID(), true, nil
		}
		v, ok := s.dr.ctxVals[r.name]
		if !ok {
			return "", false, fmt.Errorf("{{ %s }}: unknown context key", expr)
		}
		return v, true, nil
	case refSSM:
		if s.dr.SSM == nil {
			return "", false, fmt.Errorf("{{ %s }}: SSM Parameter Store is not available to kiln runs", expr)
		}
		name := r.name
		if strings.HasPrefix(name, "resolve(") && strings.HasSuffix(name, ")") {
			inner := strings.TrimSpace(name[len("resolve(") : len(name)-1])
			if v, ok := s.dr.vars[inner]; ok {
				name = v
			} else {
				name = inner
			}
		}
		v, err := s.dr.SSM(s.ctx, name)
		if err != nil {
			return "", false, fmt.Errorf("{{ %s }}: %w", expr, err)
		}
		return v, true, nil
	case refIMDS:
		if s.dr.IMDS == nil {
			return "", false, fmt.Errorf("{{ %s }}: the instance metadata service is not available to kiln runs", expr)
		}
		v, err := s.dr.IMDS(s.ctx, r.name)
		if err != nil {
			return "", false, fmt.Errorf("{{ %s }}: %w", expr, err)
		}
		return v, true, nil
	}
	return "", false, nil
}

func (s *scope) chained(r ref) (string, error) {
	s.dr.mu.Lock()
	rec := s.dr.records[r.phase][r.step]
	s.dr.mu.Unlock()
	if rec == nil {
		return "", fmt.Errorf("step %s.%s has not run", r.phase, r.step)
	}
	list := rec.outputs
	if r.io == "inputs" {
		list = rec.inputs
	}
	if r.index >= len(list) {
		return "", fmt.Errorf("step %s.%s has no %s[%d]", r.phase, r.step, r.io, r.index)
	}
	v, ok := list[r.index][r.key]
	if !ok {
		return "", fmt.Errorf("step %s.%s has no %s %q", r.phase, r.step, strings.TrimSuffix(r.io, "s"), r.key)
	}
	return stringify(v), nil
}

// evaluateMap evaluates an Assert expression given as decoded (and already
// expanded) inputs, using the same grammar and rules as a step's `if`.
func evaluateMap(expr map[string]any, env evalEnv) (bool, error) {
	var n yaml.Node
	if err := n.Encode(expr); err != nil {
		return false, err
	}
	d := &Document{Source: "Assert", budget: maxDecodedValues}
	e := d.parseExpr(&n, "Assert", 0)
	if len(d.problems) > 0 {
		return false, Problems(d.problems)
	}
	if e == nil {
		return false, fmt.Errorf("no expression")
	}
	return e.eval(env)
}
