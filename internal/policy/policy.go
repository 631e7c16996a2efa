// Package policy parses and evaluates IAM resource-policy documents: the
// JSON attached to a resource (an Image Builder component, an ECR
// repository) that grants or denies other principals actions on it.
//
// kiln evaluates every element it accepts. A document that uses anything
// kiln cannot evaluate (an unknown condition operator or key, a policy
// variable, a service principal) is refused by Parse with an error naming
// the element, because silently ignoring a Deny or a Condition would grant
// more than its author wrote.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Decision is the outcome of evaluating a policy for one request.
type Decision int

const (
	// NotApplicable: no statement applies; the request is implicitly
	// denied unless something else grants it (the resource's owner).
	NotApplicable Decision = iota
	// Allow: an Allow statement applies and no Deny does.
	Allow
	// Deny: a Deny statement applies; it wins over every Allow.
	Deny
)

func (d Decision) String() string {
	switch d {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	}
	return "NotApplicable"
}

// Request is what a policy is evaluated against: who asks, for which
// action, on which resource.
type Request struct {
	// PrincipalAccount is the caller's 12-digit account.
	PrincipalAccount string
	// PrincipalARN is the caller's IAM ARN; kiln's callers are accounts, so
	// kiln passes arn:aws:iam::ACCOUNT:root. Empty means unknown.
	PrincipalARN string
	// Action is "service:Operation", e.g. "imagebuilder:GetComponent".
	Action string
	// Resource is the ARN of the resource acted on.
	Resource string
	// ResourceAccount is the account owning the resource (the condition
	// key aws:ResourceAccount); empty means unknown.
	ResourceAccount string
}

// Error is a policy kiln refuses: Element names where (for example
// `Statement[1].Condition`), Reason says why.
type Error struct {
	Element string
	Reason  string
}

func (e *Error) Error() string {
	if e.Element == "" {
		return e.Reason
	}
	return e.Element + ": " + e.Reason
}

func errorf(element, format string, args ...any) *Error {
	return &Error{Element: element, Reason: fmt.Sprintf(format, args...)}
}

// Policy is a parsed, fully evaluable resource policy.
type Policy struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one parsed statement. Exactly one of each pair
// (Principals/NotPrincipals, Actions/NotActions, Resources/NotResources)
// is in force, as its Not* flag says.
type Statement struct {
	Sid   string
	Allow bool // Effect: true for Allow, false for Deny

	// Principals are "*", 12-digit accounts, or IAM ARNs (an account's
	// root ARN is stored as the bare account).
	Principals   []string
	NotPrincipal bool

	Actions   []string // patterns, "*" and "?" wildcards
	NotAction bool

	// Resources are ARN patterns; nil (element absent) means the resource
	// the policy is attached to, as a resource policy's Resource defaults.
	Resources   []string
	NotResource bool

	Conditions []Condition
}

// Condition is one operator applied to one key: the request's value for
// Key must satisfy Operator against Values (any of them; none of them for
// the negated operators).
type Condition struct {
	Operator string // canonical name without IfExists, e.g. "StringLike"
	IfExists bool
	Key      string // canonical key name, e.g. "aws:PrincipalAccount"
	Values   []string
}

// Versions kiln accepts. 2008-10-17 is IAM's default when Version is
// absent; it has no policy variables, so "${" is literal there.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Options restrict what Parse accepts beyond IAM's grammar.
type Options struct {
	// Services, when set, are the only service prefixes (case-insensitive)
	// an Action or NotAction may name; "*" alone is always allowed.
	Services []string
}

// conditionKeys are the keys kiln can truly evaluate, by lower-case name
// (IAM condition keys are case-insensitive).
var conditionKeys = map[string]string{
	"aws:principalaccount": "aws:PrincipalAccount",
	"aws:principalarn":     "aws:PrincipalArn",
	"aws:resourceaccount":  "aws:ResourceAccount",
}

// operators maps each supported operator (lower case, without IfExists)
// to its canonical name.
var operators = map[string]string{
	"stringequals":              "StringEquals",
	"stringnotequals":           "StringNotEquals",
	"stringequalsignorecase":    "StringEqualsIgnoreCase",
	"stringnotequalsignorecase": "StringNotEqualsIgnoreCase",
	"stringlike":                "StringLike",
	"stringnotlike":             "StringNotLike",
	"arnequals":                 "ArnEquals",
	"arnlike":                   "ArnLike",
	"arnnotequals":              "ArnNotEquals",
	"arnnotlike":                "ArnNotLike",
	"null":                      "Null",
}

var (
	accountPattern      = regexp.MustCompile(`^[0-9]{12}$`)
	principalARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:(?:iam|sts)::([0-9]{12}):(root|(?:user|role|assumed-role)/[\x21-\x7e]+)$`)
	actionPattern       = regexp.MustCompile(`^[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+$`)
)

// Parse checks a resource policy document with no restriction on service
// prefixes. Anything kiln cannot evaluate is an *Error that names the
// element, e.g. `Statement[1].Condition: operator "IpAddress" is not
// supported`.
func Parse(doc string) (*Policy, error) { return ParseWith(doc, Options{}) }

// ParseWith is Parse with Options.
func ParseWith(doc string, o Options) (*Policy, error) {
	top, err := object([]byte(doc), "")
	if err != nil {
		return nil, err
	}
	p := &Policy{Version: Version2008}
	var stRaw json.RawMessage
	for k, v := range top {
		switch k {
		case "Version":
			if err := json.Unmarshal(v, &p.Version); err != nil || (p.Version != Version2012 && p.Version != Version2008) {
				return nil, errorf("Version", "must be %q or %q", Version2012, Version2008)
			}
		case "Id":
			if err := json.Unmarshal(v, &p.ID); err != nil {
				return nil, errorf("Id", "must be a string")
			}
		case "Statement":
			stRaw = v
		default:
			return nil, errorf(k, "element %q is not supported", k)
		}
	}
	if stRaw == nil {
		return nil, errorf("Statement", "is required")
	}
	stRaw = bytes.TrimSpace(stRaw)
	var raws []json.RawMessage
	single := len(stRaw) > 0 && stRaw[0] == '{'
	if single {
		raws = []json.RawMessage{stRaw}
	} else if err := json.Unmarshal(stRaw, &raws); err != nil {
		return nil, errorf("Statement", "must be an object or a list of objects")
	}
	if len(raws) == 0 {
		return nil, errorf("Statement", "must contain at least one statement")
	}
	sids := map[string]bool{}
	for i, raw := range raws {
		at := fmt.Sprintf("Statement[%d]", i)
		if single {
			at = "Statement"
		}
		st, err := parseStatement(raw, at, p.Version, o)
		if err != nil {
			return nil, err
		}
		if st.Sid != "" {
			if sids[st.Sid] {
				return nil, errorf(at+".Sid", "%q is used by another statement", st.Sid)
			}
			sids[st.Sid] = true
		}
		p.Statements = append(p.Statements, st)
	}
	return p, nil
}

// object decodes a JSON object, refusing anything else and keys repeated
// (encoding/json would silently keep the last).
func object(b []byte, at string) (map[string]json.RawMessage, error) {
	where := at
	if where == "" {
		where = "policy"
	}
	d := json.NewDecoder(bytes.NewReader(b))
	t, err := d.Token()
	if err != nil || t != json.Delim('{') {
		if at == "" {
			return nil, errorf("", "the policy is not a JSON object")
		}
		return nil, errorf(at, "must be a JSON object")
	}
	m := map[string]json.RawMessage{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, errorf(at, "is not valid JSON")
		}
		k := t.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, errorf(at, "is not valid JSON")
		}
		if _, dup := m[k]; dup {
			return nil, errorf(where, "element %q appears twice", k)
		}
		m[k] = v
	}
	if _, err := d.Token(); err != nil {
		return nil, errorf(at, "is not valid JSON")
	}
	if at == "" {
		if len(bytes.TrimSpace(b[d.InputOffset():])) > 0 {
			return nil, errorf("", "the policy has data after its JSON object")
		}
	}
	return m, nil
}

// stringList decodes a string or a non-empty list of strings.
func stringList(raw json.RawMessage, at string) ([]string, error) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errorf(at, "must be a string or a list of strings")
	}
	if len(many) == 0 {
		return nil, errorf(at, "must not be empty")
	}
	return many, nil
}

func parseStatement(raw json.RawMessage, at, version string, o Options) (Statement, error) {
	m, err := object(raw, at)
	if err != nil {
		return Statement{}, err
	}
	var st Statement
	pick := func(a, b string) (string, json.RawMessage, error) {
		va, okA := m[a]
		vb, okB := m[b]
		switch {
		case okA && okB:
			return "", nil, errorf(at, "has both %s and %s", a, b)
		case okA:
			return a, va, nil
		case okB:
			return b, vb, nil
		}
		return "", nil, nil
	}
	for k := range m {
		switch k {
		case "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition":
		default:
			return st, errorf(at+"."+k, "element %q is not supported", k)
		}
	}
	if v, ok := m["Sid"]; ok {
		if err := json.Unmarshal(v, &st.Sid); err != nil {
			return st, errorf(at+".Sid", "must be a string")
		}
	}
	var effect string
	if err := json.Unmarshal(m["Effect"], &effect); err != nil || (effect != "Allow" && effect != "Deny") {
		return st, errorf(at+".Effect", "must be \"Allow\" or \"Deny\"")
	}
	st.Allow = effect == "Allow"

	name, v, err := pick("Principal", "NotPrincipal")
	if err != nil {
		return st, err
	}
	if name == "" {
		return st, errorf(at+".Principal", "is required in a resource policy")
	}
	st.NotPrincipal = name == "NotPrincipal"
	if st.Principals, err = parsePrincipal(v, at+"."+name); err != nil {
		return st, err
	}

	name, v, err = pick("Action", "NotAction")
	if err != nil {
		return st, err
	}
	if name == "" {
		return st, errorf(at+".Action", "is required")
	}
	st.NotAction = name == "NotAction"
	if st.Actions, err = stringList(v, at+"."+name); err != nil {
		return st, err
	}
	for i, a := range st.Actions {
		if err := checkAction(a, o); err != nil {
			return st, errorf(fmt.Sprintf("%s.%s[%d]", at, name, i), "%s", err.Reason)
		}
	}

	name, v, err = pick("Resource", "NotResource")
	if err != nil {
		return st, err
	}
	if name != "" {
		st.NotResource = name == "NotResource"
		if st.Resources, err = stringList(v, at+"."+name); err != nil {
			return st, err
		}
		for i, r := range st.Resources {
			if err := checkVariables(r, version); err != nil {
				return st, errorf(fmt.Sprintf("%s.%s[%d]", at, name, i), "%s", err.Reason)
			}
			if r != "*" && !strings.HasPrefix(r, "arn:") {
				return st, errorf(fmt.Sprintf("%s.%s[%d]", at, name, i), "%q is not \"*\" or an ARN", r)
			}
		}
	}

	if v, ok := m["Condition"]; ok {
		if st.Conditions, err = parseConditions(v, at+".Condition", version); err != nil {
			return st, err
		}
	}
	return st, nil
}

func checkAction(a string, o Options) *Error {
	if a == "*" {
		return nil
	}
	if !actionPattern.MatchString(a) {
		return errorf("", "%q is not \"*\" or service:Action", a)
	}
	if len(o.Services) == 0 {
		return nil
	}
	prefix, _, _ := strings.Cut(a, ":")
	for _, s := range o.Services {
		if strings.EqualFold(prefix, s) {
			return nil
		}
	}
	return errorf("", "the action %q is not a %s action", a, strings.Join(o.Services, " or "))
}

// checkVariables refuses policy variables (${aws:username}, ...): under
// 2012-10-17 IAM substitutes them, and kiln cannot.
func checkVariables(s, version string) *Error {
	if version == Version2012 && strings.Contains(s, "${") {
		return errorf("", "policy variables such as %q are not supported", s)
	}
	return nil
}

// parsePrincipal reads "*" or {"AWS": ...}. Other principal types
// (Service, Federated, CanonicalUser) are refused: kiln's callers are
// accounts, and a statement about principals kiln never sees is better
// rewritten than silently inert.
func parsePrincipal(raw json.RawMessage, at string) ([]string, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star == "*" {
			return []string{"*"}, nil
		}
		return nil, errorf(at, "must be \"*\" or an object such as {\"AWS\": \"123456789012\"}")
	}
	m, err := object(raw, at)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, errorf(at, "names no principals")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "AWS" {
			return nil, errorf(at+"."+k, "principal type %q is not supported (only AWS)", k)
		}
	}
	list, err := stringList(m["AWS"], at+".AWS")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(list))
	for i, p := range list {
		switch {
		case p == "*", accountPattern.MatchString(p):
			out = append(out, p)
		case principalARNPattern.MatchString(p):
			sub := principalARNPattern.FindStringSubmatch(p)
			if sub[2] == "root" {
				out = append(out, sub[1])
			} else {
				out = append(out, p)
			}
		default:
			return nil, errorf(fmt.Sprintf("%s.AWS[%d]", at, i), "%q is not \"*\", an account ID or an IAM ARN (wildcards are not allowed in principals)", p)
		}
	}
	return out, nil
}

func parseConditions(raw json.RawMessage, at, version string) ([]Condition, error) {
	ops, err := object(raw, at)
	if err != nil {
		return nil, err
	}
	var out []Condition
	opNames := make([]string, 0, len(ops))
	for k := range ops {
		opNames = append(opNames, k)
	}
	sort.Strings(opNames)
	for _, op := range opNames {
		name := op
		ifExists := false
		if base, ok := strings.CutSuffix(name, "IfExists"); ok {
			name, ifExists = base, true
		}
		canon, ok := operators[strings.ToLower(name)]
		if !ok || canon != name || (ifExists && canon == "Null") {
			if strings.Contains(op, ":") {
				return nil, errorf(at, "operator %q is not supported (ForAnyValue/ForAllValues need multi-valued keys, which kiln has none of)", op)
			}
			return nil, errorf(at, "operator %q is not supported", op)
		}
		keys, err := object(ops[op], at+"."+op)
		if err != nil {
			return nil, err
		}
		keyNames := make([]string, 0, len(keys))
		for k := range keys {
			keyNames = append(keyNames, k)
		}
		sort.Strings(keyNames)
		for _, k := range keyNames {
			kat := at + "." + op + "." + k
			ck, ok := conditionKeys[strings.ToLower(k)]
			if !ok {
				return nil, errorf(at+"."+op, "condition key %q is not supported (kiln evaluates aws:PrincipalAccount, aws:PrincipalArn and aws:ResourceAccount)", k)
			}
			values, err := stringList(keys[k], kat)
			if err != nil {
				return nil, err
			}
			for _, v := range values {
				if err := checkVariables(v, version); err != nil {
					return nil, errorf(kat, "%s", err.Reason)
				}
				if canon == "Null" && v != "true" && v != "false" {
					return nil, errorf(kat, "Null takes \"true\" or \"false\", not %q", v)
				}
			}
			out = append(out, Condition{Operator: canon, IfExists: ifExists, Key: ck, Values: values})
		}
	}
	return out, nil
}

// Evaluate decides r: Deny when any applicable statement denies, else
// Allow when one allows, else NotApplicable.
func (p *Policy) Evaluate(r Request) Decision {
	allowed := false
	for _, st := range p.Statements {
		if !st.applies(r) {
			continue
		}
		if !st.Allow {
			return Deny
		}
		allowed = true
	}
	if allowed {
		return Allow
	}
	return NotApplicable
}

// Principals returns the accounts (and "*") that an Allow statement names
// as principals: the only callers who could ever be granted anything,
// for use as an index (kiln's store lists "shared with" through it). A
// NotPrincipal Allow can grant anyone, so it yields "*".
func (p *Policy) Principals() []string {
	set := map[string]bool{}
	for _, st := range p.Statements {
		if !st.Allow {
			continue
		}
		if st.NotPrincipal {
			set["*"] = true
			continue
		}
		for _, pr := range st.Principals {
			if m := principalARNPattern.FindStringSubmatch(pr); m != nil {
				pr = m[1]
			}
			set[pr] = true
		}
	}
	out := make([]string, 0, len(set))
	for pr := range set {
		out = append(out, pr)
	}
	sort.Strings(out)
	return out
}

func (st *Statement) applies(r Request) bool {
	if st.principalMatches(r) == st.NotPrincipal {
		return false
	}
	if anyMatch(st.Actions, r.Action, matchAction) == st.NotAction {
		return false
	}
	if st.Resources != nil && anyMatch(st.Resources, r.Resource, matchARN) == st.NotResource {
		return false
	}
	for _, c := range st.Conditions {
		if !c.holds(r) {
			return false
		}
	}
	return true
}

func (st *Statement) principalMatches(r Request) bool {
	for _, p := range st.Principals {
		switch {
		case p == "*":
			return true
		case accountPattern.MatchString(p):
			if r.PrincipalAccount == p {
				return true
			}
		default:
			if r.PrincipalARN == p {
				return true
			}
		}
	}
	return false
}

func anyMatch(patterns []string, s string, match func(pattern, s string) bool) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// matchAction matches case-insensitively, as IAM does for both the
// service prefix and the operation.
func matchAction(pattern, action string) bool {
	return glob(strings.ToLower(pattern), strings.ToLower(action))
}

// matchARN matches an ARN pattern segment by segment (partition, service,
// region, account, resource), so a wildcard cannot stretch across a colon
// into another account; "*" alone matches everything.
func matchARN(pattern, a string) bool {
	if pattern == "*" {
		return true
	}
	ps := strings.SplitN(pattern, ":", 6)
	as := strings.SplitN(a, ":", 6)
	if len(ps) != 6 || len(as) != 6 {
		return false
	}
	for i := range ps {
		if !glob(ps[i], as[i]) {
			return false
		}
	}
	return true
}

// glob matches s against pattern, where "*" is any run of characters
// and "?" exactly one. It runs in O(len(pattern)*len(s)) at worst: the
// classic backtrack-to-last-star walk, no regular expressions.
func glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func (c Condition) value(r Request) string {
	switch c.Key {
	case "aws:PrincipalAccount":
		return r.PrincipalAccount
	case "aws:PrincipalArn":
		return r.PrincipalARN
	case "aws:ResourceAccount":
		return r.ResourceAccount
	}
	return ""
}

// holds evaluates the condition. A key absent from the request (empty)
// makes a positive operator false and a negated one true, as IAM does;
// IfExists makes any operator true for an absent key.
func (c Condition) holds(r Request) bool {
	v := c.value(r)
	if c.Operator == "Null" {
		for _, want := range c.Values {
			if (want == "true") == (v == "") {
				return true
			}
		}
		return false
	}
	negated := strings.Contains(c.Operator, "Not")
	if v == "" {
		return c.IfExists || negated
	}
	var match func(pattern, s string) bool
	switch c.Operator {
	case "StringEquals", "StringNotEquals":
		match = func(p, s string) bool { return p == s }
	case "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase":
		match = strings.EqualFold
	case "StringLike", "StringNotLike":
		match = glob
	default: // ArnEquals, ArnLike and their negations: IAM treats them alike
		match = matchARN
	}
	return anyMatch(c.Values, v, match) != negated
}
