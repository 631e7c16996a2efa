package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func init() {
	register(executeBash)
	register(executeBinary)
	register(executeDocument)
	register(assertModule{})
}

// executeBash runs its commands as one bash script.
//
// The items are joined with newlines into a file (AWSTOE documents an
// input.sh) and run as `bash FILE`, without -e or pipefail: AWS's own
// examples carry their own `set -e` and exit handling, which only makes
// sense if none is implied. A file rather than `bash -c` because Linux
// caps a single argument at 128 KiB and real scripts embed large here
// documents.
var executeBash = &singleModule{
	name:   "ExecuteBash",
	schema: schema{{name: "commands", kind: kindStrings, required: true}},
	run: func(ctx context.Context, env *Env, in values) (Result, error) {
		dir, err := os.MkdirTemp("", "kiln-toe-bash-")
		if err != nil {
			return Result{}, err
		}
		defer os.RemoveAll(dir)
		script := filepath.Join(dir, "input.sh")
		body := strings.Join(in.strs("commands"), "\n") + "\n"
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			return Result{}, err
		}
		res, err := runProcess(ctx, env, []string{"bash", script})
		out := Result{Outputs: map[string]any{"stdout": res.stdout}}
		if err != nil {
			return out, fmt.Errorf("commands failed: %w", err)
		}
		out.Reboot = res.exitCode == rebootExitCode
		return out, nil
	},
}

// executeBinary runs one program with arguments as argv, no shell. A bare
// name is looked up in the step's PATH (AWS samples use `path:
// ansible-playbook`), not kiln's own, the way a shell in that
// environment would find it.
var executeBinary = &singleModule{
	name: "ExecuteBinary",
	schema: schema{
		{name: "path", kind: kindString, required: true},
		{name: "arguments", kind: kindStrings},
	},
	run: func(ctx context.Context, env *Env, in values) (Result, error) {
		path := in.str("path")
		if strings.ContainsRune(path, '/') {
			path = env.abs(path)
		} else {
			found, err := lookPathInEnv(env, path)
			if err != nil {
				return Result{}, err
			}
			path = found
		}
		argv := append([]string{path}, in.strs("arguments")...)
		res, err := runProcess(ctx, env, argv)
		out := Result{Outputs: map[string]any{"stdout": res.stdout}}
		if err != nil {
			return out, fmt.Errorf("%s failed: %w", in.str("path"), err)
		}
		out.Reboot = res.exitCode == rebootExitCode
		return out, nil
	},
}

// executeDocument runs another component document through the engine.
// The document path is passed as written: the engine knows where the
// calling document came from and resolves relative paths, s3:// and ARNs.
// document-s3-bucket-owner is accepted but Env.RunDocument has no place
// for it yet, so it is not enforced.
var executeDocument = &singleModule{
	name: "ExecuteDocument",
	schema: schema{
		{name: "document", kind: kindString, required: true},
		{name: "document-s3-bucket-owner", kind: kindString},
		{name: "phases", kind: kindString},
		{name: "parameters", kind: kindParams},
	},
	// As awstoe's documented output records them:
	// {"document":…,"document-s3-bucket-owner":"","phases":"","parameters":null}.
	recorded: map[string]any{"document-s3-bucket-owner": "", "phases": "", "parameters": nil},
	run: func(ctx context.Context, env *Env, in values) (Result, error) {
		if env.RunDocument == nil {
			return Result{}, errors.New("nested documents are not supported here")
		}
		var params map[string]string
		if list, ok := in["parameters"].([]any); ok {
			params = make(map[string]string, len(list))
			for _, item := range list {
				p := values(item.(map[string]any))
				params[p.str("name")] = p.str("value")
			}
		}
		phases := strings.Join(strings.Fields(strings.ReplaceAll(in.str("phases"), ",", " ")), ",")
		if err := env.RunDocument(ctx, in.str("document"), phases, params); err != nil {
			return Result{}, fmt.Errorf("document %s: %w", in.str("document"), err)
		}
		return Result{}, nil
	},
}

// assertModule fails the step when its condition is false. Its inputs
// are one expression in the grammar of a step's `if`, without then/else;
// Validate checks the shape here and Run asks the engine (Env.Evaluate),
// which owns the evaluation rules.
type assertModule struct{}

func (assertModule) Name() string { return "Assert" }

func (assertModule) Validate(inputs any) []Problem {
	m, ok := inputs.(map[string]any)
	if !ok {
		return []Problem{{Message: "must be a map holding one condition, got " + describe(inputs)}}
	}
	return checkCondition("", m, 1)
}

func (a assertModule) Run(ctx context.Context, env *Env, inputs any) (Result, error) {
	if ps := a.Validate(inputs); len(ps) > 0 {
		return Result{}, problemsError(ps)
	}
	if env.Evaluate == nil {
		return Result{}, errors.New("no condition evaluator configured for Assert")
	}
	expr := inputs.(map[string]any)
	ok, err := env.Evaluate(ctx, expr)
	if err != nil {
		return Result{}, fmt.Errorf("assertion could not be evaluated: %w", err)
	}
	if !ok {
		return Result{}, fmt.Errorf("assertion failed: %s", describeCondition(expr))
	}
	return Result{}, nil
}

// Condition operators and the extra key each one takes.
var (
	unaryOperators = map[string]bool{
		"stringIsEmpty": true, "stringIsWhitespace": true,
		"binaryExists": true, "fileExists": true, "folderExists": true,
	}
	valueOperators = map[string]bool{
		"stringEquals": true, "stringLessThan": true, "stringLessThanEquals": true,
		"stringGreaterThan": true, "stringGreaterThanEquals": true, "patternMatches": true,
		"numberEquals": true, "numberLessThan": true, "numberLessThanEquals": true,
		"numberGreaterThan": true, "numberGreaterThanEquals": true,
	}
	pathOperators = map[string]bool{
		"fileMD5Equals": true, "fileSHA1Equals": true, "fileSHA256Equals": true, "fileSHA512Equals": true,
	}
	logicalOperators = map[string]bool{"and": true, "or": true, "not": true}
)

// maxLogicalDepth is how deeply and/or/not may nest (AWS's current docs).
const maxLogicalDepth = 4

// checkCondition checks one expression map: exactly one operator, the
// operand keys it needs and nothing else. depth counts logical levels.
func checkCondition(path string, m map[string]any, depth int) []Problem {
	var ops []string
	for k := range m {
		if unaryOperators[k] || valueOperators[k] || pathOperators[k] || logicalOperators[k] {
			ops = append(ops, k)
		}
	}
	sort.Strings(ops)
	switch len(ops) {
	case 0:
		return []Problem{{Path: path, Message: "needs one comparison or logical operator (stringEquals, fileExists, and, ...)"}}
	case 1:
	default:
		return []Problem{{Path: path, Message: "has more than one operator: " + strings.Join(ops, ", ")}}
	}
	op := ops[0]
	var ps []Problem
	allowed := map[string]bool{op: true}
	switch {
	case valueOperators[op]:
		allowed["value"] = true
		if _, ok := m["value"]; !ok {
			ps = append(ps, Problem{Path: joinPath(path, "value"), Message: "is required by " + op})
		}
	case pathOperators[op]:
		allowed["path"] = true
		if _, ok := m["path"]; !ok {
			ps = append(ps, Problem{Path: joinPath(path, "path"), Message: "is required by " + op})
		}
	}
	var extra []string
	for k := range m {
		if !allowed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		ps = append(ps, Problem{Path: joinPath(path, k), Message: "is not allowed with " + op})
	}
	opPath := joinPath(path, op)
	operand := m[op]
	if !logicalOperators[op] {
		if !isScalar(operand) || operand == nil {
			ps = append(ps, Problem{Path: opPath, Message: "must be a string or number, got " + describe(operand)})
		}
		if v, ok := m["value"]; ok && valueOperators[op] && (!isScalar(v) || v == nil) {
			ps = append(ps, Problem{Path: joinPath(path, "value"), Message: "must be a string or number, got " + describe(v)})
		}
		return ps
	}
	if depth > maxLogicalDepth {
		return append(ps, Problem{Path: opPath, Message: fmt.Sprintf("logical operators nest deeper than %d levels", maxLogicalDepth)})
	}
	// not takes one expression, as a map or a one-item list (both appear
	// in AWS's docs); and/or take a list.
	if op == "not" {
		if list, ok := operand.([]any); ok {
			if len(list) != 1 {
				return append(ps, Problem{Path: opPath, Message: "must hold exactly one expression"})
			}
			operand = list[0]
			opPath += "[0]"
		}
		sub, ok := operand.(map[string]any)
		if !ok {
			return append(ps, Problem{Path: opPath, Message: "must be an expression map, got " + describe(operand)})
		}
		return append(ps, checkCondition(opPath, sub, depth+1)...)
	}
	list, ok := operand.([]any)
	if !ok || len(list) == 0 {
		return append(ps, Problem{Path: opPath, Message: "must be a non-empty list of expressions"})
	}
	for i, item := range list {
		itemPath := fmt.Sprintf("%s[%d]", opPath, i)
		sub, ok := item.(map[string]any)
		if !ok {
			ps = append(ps, Problem{Path: itemPath, Message: "must be an expression map, got " + describe(item)})
			continue
		}
		ps = append(ps, checkCondition(itemPath, sub, depth+1)...)
	}
	return ps
}

// describeCondition renders a condition for a failure message.
func describeCondition(m map[string]any) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v := m[k]
		if isScalar(v) {
			parts = append(parts, fmt.Sprintf("%s: %q", k, scalarText(v)))
		} else {
			parts = append(parts, k+": ...")
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
