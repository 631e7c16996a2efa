package ecr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// This file is a minimal evaluator of repository policies, with the shape
// of the team's policy package (Parse, Evaluate, Request, Decision) so the
// one can replace the other without touching its callers. It evaluates
// every element it accepts and refuses the rest (Condition, NotAction,
// NotPrincipal, NotResource) with an error naming the element: a policy
// element silently ignored would grant more than its author wrote.

// decision is the outcome of evaluating a policy for one request.
type decision int

const (
	notApplicable decision = iota
	allow
	deny
)

// policyRequest is what a policy is evaluated against.
type policyRequest struct {
	PrincipalAccount string
	PrincipalARN     string
	Action           string // "ecr:BatchGetImage"
	Resource         string // the repository's ARN
}

type statement struct {
	effect     string
	principals []string // "*", 12-digit accounts, IAM ARNs
	actions    []string
	resources  []string // empty: the resource the policy is attached to
}

type repositoryPolicy struct{ statements []statement }

// stringOrList decodes IAM's "x" or ["x", "y"].
func stringOrList(raw json.RawMessage, element string) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("%s: want a string or a list of strings", element)
	}
	return many, nil
}

// parsePolicy parses a repository policy document.
func parsePolicy(doc string) (*repositoryPolicy, error) {
	var top map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader([]byte(doc)))
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("the policy is not a JSON object: %v", err)
	}
	for k := range top {
		switch k {
		case "Version", "Id", "Statement":
		default:
			return nil, fmt.Errorf("%s: kiln does not evaluate this element", k)
		}
	}
	if v, ok := top["Version"]; ok {
		var version string
		if json.Unmarshal(v, &version) != nil || (version != "2012-10-17" && version != "2008-10-17") {
			return nil, fmt.Errorf("Version: want 2012-10-17 or 2008-10-17")
		}
	}
	raw := top["Statement"]
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, fmt.Errorf("Statement: want an object or a list of objects")
		}
		list = []map[string]json.RawMessage{one}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("Statement: the policy has no statements")
	}
	p := &repositoryPolicy{}
	for i, st := range list {
		el := fmt.Sprintf("Statement[%d]", i)
		var s statement
		for k, v := range st {
			var err error
			switch k {
			case "Sid":
			case "Effect":
				if json.Unmarshal(v, &s.effect) != nil || (s.effect != "Allow" && s.effect != "Deny") {
					return nil, fmt.Errorf("%s.Effect: want Allow or Deny", el)
				}
			case "Principal":
				s.principals, err = parsePrincipal(v, el+".Principal")
			case "Action":
				s.actions, err = stringOrList(v, el+".Action")
			case "Resource":
				s.resources, err = stringOrList(v, el+".Resource")
			default:
				return nil, fmt.Errorf("%s.%s: kiln does not evaluate this element", el, k)
			}
			if err != nil {
				return nil, err
			}
		}
		switch {
		case s.effect == "":
			return nil, fmt.Errorf("%s.Effect: missing", el)
		case len(s.principals) == 0:
			return nil, fmt.Errorf("%s.Principal: missing", el)
		case len(s.actions) == 0:
			return nil, fmt.Errorf("%s.Action: missing", el)
		}
		for _, a := range s.actions {
			if a != "*" && !strings.HasPrefix(strings.ToLower(a), "ecr:") {
				return nil, fmt.Errorf("%s.Action: %q is not an ecr: action", el, a)
			}
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

func parsePrincipal(raw json.RawMessage, element string) ([]string, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, fmt.Errorf("%s: want \"*\" or {\"AWS\": ...}", element)
		}
		return []string{"*"}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: want \"*\" or {\"AWS\": ...}", element)
	}
	var out []string
	for k, v := range m {
		if k != "AWS" {
			return nil, fmt.Errorf("%s.%s: kiln knows only AWS principals", element, k)
		}
		list, err := stringOrList(v, element+".AWS")
		if err != nil {
			return nil, err
		}
		for _, p := range list {
			if p != "*" && !isAccountID(p) && !strings.HasPrefix(p, "arn:aws:iam::") {
				return nil, fmt.Errorf("%s.AWS: %q is not an account ID or IAM ARN", element, p)
			}
		}
		out = append(out, list...)
	}
	return out, nil
}

// evaluate applies the policy to req: an explicit Deny wins over any
// Allow.
func (p *repositoryPolicy) evaluate(req policyRequest) decision {
	d := notApplicable
	for _, s := range p.statements {
		if !s.matches(req) {
			continue
		}
		if s.effect == "Deny" {
			return deny
		}
		d = allow
	}
	return d
}

func (s statement) matches(req policyRequest) bool {
	return s.matchPrincipal(req) && anyGlob(s.actions, req.Action, true) &&
		(len(s.resources) == 0 || anyGlob(s.resources, req.Resource, false))
}

func (s statement) matchPrincipal(req policyRequest) bool {
	for _, p := range s.principals {
		switch {
		case p == "*":
			return true
		case p == req.PrincipalAccount, p == "arn:aws:iam::"+req.PrincipalAccount+":root":
			return true
		case req.PrincipalARN != "" && p == req.PrincipalARN:
			return true
		}
	}
	return false
}

// anyGlob matches value against IAM wildcards (* and ?); actions compare
// without regard to case, as IAM does.
func anyGlob(patterns []string, value string, fold bool) bool {
	if fold {
		value = strings.ToLower(value)
	}
	for _, p := range patterns {
		if fold {
			p = strings.ToLower(p)
		}
		if globMatch(p, value) {
			return true
		}
	}
	return false
}

// globMatch is IAM's wildcard match: '*' is any run of characters
// (including '/'), '?' any one character. It backtracks only to the last
// star, so it runs in O(len(pattern)*len(value)) whatever the pattern.
func globMatch(pattern, value string) bool {
	p, v := 0, 0
	star, mark := -1, 0
	for v < len(value) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == value[v]):
			p++
			v++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, v
			p++
		case star >= 0:
			p = star + 1
			mark++
			v = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
