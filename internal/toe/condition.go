package toe

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/kiln-build/kiln/internal/yamlmap"

	"go.yaml.in/yaml/v3"
)

// Condition is a step's `if`: an expression and what to do when it is true
// (Then, default "Execute") or false (Else, default "Skip").
type Condition struct {
	Expr *Expr
	Then string
	Else string
}

// Expr is one comparison or logical operator expression: the grammar of
// `if` and of the Assert module's inputs.
type Expr struct {
	// Op is the operator key ("and", "stringEquals", ...).
	Op string
	// Args are the operands of and/or/not.
	Args []*Expr
	// Operand is the operator's own value (the baseline of a two-operand
	// comparison) as written.
	Operand string
	// Value and Path are the second operands of comparisons and of the
	// file hash operators.
	Value, Path string

	node *yaml.Node
	// strings maps each string operand to its node, for reference checks.
	operandNodes []*yaml.Node
}

type opKind int

const (
	opUnary   opKind = iota // operator: x
	opBinary                // operator: x, value: y
	opHash                  // operator: hex, path: file
	opLogical               // and/or/not
)

var operators = map[string]opKind{
	"stringIsEmpty": opUnary, "stringIsWhitespace": opUnary,
	"stringEquals": opBinary, "stringLessThan": opBinary, "stringLessThanEquals": opBinary,
	"stringGreaterThan": opBinary, "stringGreaterThanEquals": opBinary, "patternMatches": opBinary,
	"numberEquals": opBinary, "numberLessThan": opBinary, "numberLessThanEquals": opBinary,
	"numberGreaterThan": opBinary, "numberGreaterThanEquals": opBinary,
	"binaryExists": opUnary, "fileExists": opUnary, "folderExists": opUnary,
	"fileMD5Equals": opHash, "fileSHA1Equals": opHash, "fileSHA256Equals": opHash, "fileSHA512Equals": opHash,
	"and": opLogical, "or": opLogical, "not": opLogical,
}

// maxLogicalDepth is the documented limit on nested logical operators.
const maxLogicalDepth = 4

// parseCondition reads a step's `if`. The docs' syntax block shows a
// one-item list while every example uses a mapping; both are accepted.
func (d *Document) parseCondition(n *yaml.Node) *Condition {
	n = yamlmap.Deref(n)
	if n.Kind == yaml.SequenceNode && len(n.Content) == 1 {
		n = yamlmap.Deref(n.Content[0])
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "if must be a mapping with one operator")
		return nil
	}
	c := &Condition{Then: "Execute", Else: "Skip"}
	expr := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "then", "else":
			s, _ := d.scalar(v, k.Value)
			norm := ""
			for _, a := range []string{"Execute", "Skip", "Abort"} {
				if strings.EqualFold(s, a) {
					norm = a
				}
			}
			if norm == "" {
				d.errorf(v, "%s must be Execute, Skip or Abort, not %q", k.Value, s)
			} else if k.Value == "then" {
				c.Then = norm
			} else {
				c.Else = norm
			}
		default:
			expr.Content = append(expr.Content, k, v)
		}
	}
	c.Expr = d.parseExpr(expr, "if", 0)
	if c.Expr == nil {
		return nil
	}
	return c
}

// parseExpr reads an expression mapping; depth counts enclosing logical
// operators. Problems are recorded on d.
func (d *Document) parseExpr(n *yaml.Node, what string, depth int) *Expr {
	d.budget--
	if d.budget == -1 {
		d.errorf(n, "%s: expression expands to more than %d values (aliases nested too deeply)", what, maxDecodedValues)
	}
	if d.budget < 0 {
		return nil
	}
	n = yamlmap.Deref(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expression must be a mapping with one operator", what)
		return nil
	}
	e := &Expr{node: n}
	var opKey, opVal, valueNode, pathNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "value":
			valueNode = v
			continue
		case "path":
			pathNode = v
			continue
		}
		if _, ok := operators[k.Value]; !ok {
			d.errorf(k, "%s: unknown operator %q", what, k.Value)
			continue
		}
		if opKey != nil {
			d.errorf(k, "%s: more than one operator (%s and %s)", what, opKey.Value, k.Value)
			continue
		}
		opKey, opVal = k, v
	}
	if opKey == nil {
		d.errorf(n, "%s: expression has no operator", what)
		return nil
	}
	e.Op = opKey.Value
	kind := operators[e.Op]
	if kind != opBinary && valueNode != nil {
		d.errorf(valueNode, "%s: operator %s does not take value", what, e.Op)
	}
	if kind != opHash && pathNode != nil {
		d.errorf(pathNode, "%s: operator %s does not take path", what, e.Op)
	}
	switch kind {
	case opLogical:
		if depth+1 > maxLogicalDepth {
			d.errorf(opKey, "%s: logical operators nested deeper than %d levels", what, maxLogicalDepth)
			return nil
		}
		v := yamlmap.Deref(opVal)
		var items []*yaml.Node
		switch {
		case v.Kind == yaml.SequenceNode:
			items = v.Content
		case v.Kind == yaml.MappingNode && e.Op == "not":
			items = []*yaml.Node{v}
		default:
			d.errorf(v, "%s: %s takes a list of expressions", what, e.Op)
			return nil
		}
		if len(items) == 0 {
			d.errorf(v, "%s: %s needs at least one expression", what, e.Op)
		}
		if e.Op == "not" && len(items) > 1 {
			d.errorf(v, "%s: not takes exactly one expression", what)
		}
		for _, it := range items {
			if sub := d.parseExpr(it, what, depth+1); sub != nil {
				e.Args = append(e.Args, sub)
			}
		}
	default:
		s, ok := d.scalar(opVal, e.Op)
		if !ok {
			return nil
		}
		e.Operand = s
		e.operandNodes = append(e.operandNodes, yamlmap.Deref(opVal))
		if kind == opBinary {
			if valueNode == nil {
				d.errorf(opKey, "%s: %s needs a value to compare", what, e.Op)
			} else if s, ok := d.scalar(valueNode, "value"); ok {
				e.Value = s
				e.operandNodes = append(e.operandNodes, yamlmap.Deref(valueNode))
			}
		}
		if kind == opHash {
			if pathNode == nil {
				d.errorf(opKey, "%s: %s needs a path", what, e.Op)
			} else if s, ok := d.scalar(pathNode, "path"); ok {
				e.Path = s
				e.operandNodes = append(e.operandNodes, yamlmap.Deref(pathNode))
			}
		}
		if e.Op == "patternMatches" && !strings.Contains(e.Operand, "{{") {
			if _, err := regexp.Compile(e.Operand); err != nil {
				d.errorf(opVal, "%s: patternMatches: invalid regular expression: %v", what, err)
			}
		}
	}
	return e
}

// evalEnv is what evaluating an expression needs from the runner.
type evalEnv struct {
	expand  func(string) (string, error)
	workDir string
	environ []string
}

// eval evaluates the expression. Logical operators short-circuit in written
// order, as documented.
//
// String comparisons ignore case, as AWS's operator page states (and its
// patternMatches example needs); the docs' claim that stringLessThan 'A'
// vs 'a' is true contradicts this and is not followed. Number comparisons
// with an operand that is not a number are false, not errors.
func (e *Expr) eval(env evalEnv) (bool, error) {
	switch e.Op {
	case "and":
		for _, a := range e.Args {
			ok, err := a.eval(env)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case "or":
		for _, a := range e.Args {
			ok, err := a.eval(env)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case "not":
		if len(e.Args) != 1 {
			return false, fmt.Errorf("not takes exactly one expression")
		}
		ok, err := e.Args[0].eval(env)
		return !ok, err
	}
	base, err := env.expand(e.Operand)
	if err != nil {
		return false, err
	}
	value, err := env.expand(e.Value)
	if err != nil {
		return false, err
	}
	switch e.Op {
	case "stringIsEmpty":
		return base == "", nil
	case "stringIsWhitespace":
		return base != "" && strings.TrimSpace(base) == "", nil
	case "stringEquals":
		return strings.EqualFold(value, base), nil
	case "stringLessThan":
		return strings.ToLower(value) < strings.ToLower(base), nil
	case "stringLessThanEquals":
		return strings.ToLower(value) <= strings.ToLower(base), nil
	case "stringGreaterThan":
		return strings.ToLower(value) > strings.ToLower(base), nil
	case "stringGreaterThanEquals":
		return strings.ToLower(value) >= strings.ToLower(base), nil
	case "patternMatches":
		re, err := regexp.Compile("(?i)" + base)
		if err != nil {
			return false, fmt.Errorf("patternMatches: invalid regular expression: %v", err)
		}
		return re.MatchString(value), nil
	case "numberEquals", "numberLessThan", "numberLessThanEquals", "numberGreaterThan", "numberGreaterThanEquals":
		a, okA := parseNumber(value)
		b, okB := parseNumber(base)
		if !okA || !okB {
			return false, nil
		}
		c := a.Cmp(b)
		switch e.Op {
		case "numberEquals":
			return c == 0, nil
		case "numberLessThan":
			return c < 0, nil
		case "numberLessThanEquals":
			return c <= 0, nil
		case "numberGreaterThan":
			return c > 0, nil
		default:
			return c >= 0, nil
		}
	case "binaryExists":
		return binaryExists(base, env), nil
	case "fileExists":
		fi, err := os.Stat(resolvePath(env.workDir, base))
		return err == nil && fi.Mode().IsRegular(), nil
	case "folderExists":
		fi, err := os.Stat(resolvePath(env.workDir, base))
		return err == nil && fi.IsDir(), nil
	case "fileMD5Equals", "fileSHA1Equals", "fileSHA256Equals", "fileSHA512Equals":
		p, err := env.expand(e.Path)
		if err != nil {
			return false, err
		}
		sum, ok := fileHash(e.Op, resolvePath(env.workDir, p))
		return ok && strings.EqualFold(sum, strings.TrimSpace(base)), nil
	}
	return false, fmt.Errorf("unknown operator %q", e.Op)
}

var numberText = regexp.MustCompile(`^[-+]?([0-9]+[.])?[0-9]+$`)

func parseNumber(s string) (*big.Float, bool) {
	s = strings.TrimSpace(s)
	if !numberText.MatchString(s) {
		return nil, false
	}
	f, _, err := big.ParseFloat(s, 10, 256, big.ToNearestEven)
	return f, err == nil
}

func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// binaryExists emulates bash's `type NAME`, which also accepts builtins;
// without bash it falls back to a PATH lookup.
func binaryExists(name string, env evalEnv) bool {
	if name == "" {
		return false
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command(bash, "-c", `type -- "$1" >/dev/null 2>&1`, "bash", name)
		cmd.Env = env.environ
		cmd.Dir = env.workDir
		return cmd.Run() == nil
	}
	_, err := exec.LookPath(name)
	return err == nil
}

func fileHash(op, path string) (string, bool) {
	var h hash.Hash
	switch op {
	case "fileMD5Equals":
		h = md5.New()
	case "fileSHA1Equals":
		h = sha1.New()
	case "fileSHA256Equals":
		h = sha256.New()
	default:
		h = sha512.New()
	}
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", false
	}
	return hex.EncodeToString(h.Sum(nil)), true
}
