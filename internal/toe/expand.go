package toe

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Expand replaces each `{{ expr }}` placeholder in s. resolve receives the
// trimmed expression and says whether it knows it; placeholders it does not
// know are left exactly as written, so text such as a Go template's
// `{{ .Name }}` inside a command survives (AWSTOE documents no escape for a
// literal `{{`). Substitution is a single pass: resolved values are not
// expanded again.
func Expand(s string, resolve func(expr string) (value string, ok bool, err error)) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.Index(s[i+2:], "}}")
		if j < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j += i + 2
		// The innermost opening before the first closing starts the
		// placeholder, so "{{{{ A }}" keeps "{{" and resolves A.
		k := strings.LastIndex(s[:j], "{{")
		b.WriteString(s[:k])
		v, ok, err := resolve(strings.TrimSpace(s[k+2 : j]))
		if err != nil {
			return "", err
		}
		if ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[k : j+2])
		}
		s = s[j+2:]
	}
}

// references lists the trimmed expressions of every placeholder in s.
func references(s string) []string {
	var refs []string
	_, _ = Expand(s, func(expr string) (string, bool, error) {
		refs = append(refs, expr)
		return "", false, nil
	})
	return refs
}

type refKind int

const (
	refUnknown refKind = iota // not a reference shape: left as written
	refVariable
	refLoop
	refChain
	refEnv
	refContext
	refSSM
	refIMDS
)

// ref is one parsed placeholder expression.
type ref struct {
	kind  refKind
	name  string // variable, loop, env, context, ssm or imds name
	field string // loop: "index" or "value"

	phase, step, io string // chaining: io is "inputs" or "outputs"
	index           int
	key             string
}

var (
	variableRef = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	loopRef     = regexp.MustCompile(`^([^.{}\[\]]+)\.(index|value)$`)
	chainRef    = regexp.MustCompile(`^([^.{}\[\]]+)\.([^.{}\[\]]+)\.(inputs|outputs)(?:\[(\d+)\])?\.([A-Za-z0-9_-]+)$`)
)

// contextKeys are the names {{ context:key }} accepts.
var contextKeys = []string{"executionId", "accountId", "region", "osPlatform", "osName", "osVersion", "date", "dateTime", "uuid", "hostname", "phase", "step"}

func parseRef(expr string) ref {
	switch {
	case strings.HasPrefix(expr, "env:"):
		return ref{kind: refEnv, name: expr[len("env:"):]}
	case strings.HasPrefix(expr, "context:"):
		return ref{kind: refContext, name: strings.TrimSpace(expr[len("context:"):])}
	case strings.HasPrefix(expr, "aws:ssm:"):
		return ref{kind: refSSM, name: expr[len("aws:ssm:"):]}
	case strings.HasPrefix(expr, "aws:imds:"):
		return ref{kind: refIMDS, name: expr[len("aws:imds:"):]}
	case variableRef.MatchString(expr):
		return ref{kind: refVariable, name: expr}
	}
	if m := loopRef.FindStringSubmatch(expr); m != nil {
		return ref{kind: refLoop, name: strings.TrimSpace(m[1]), field: m[2]}
	}
	if m := chainRef.FindStringSubmatch(expr); m != nil {
		r := ref{kind: refChain, phase: strings.TrimSpace(m[1]), step: strings.TrimSpace(m[2]), io: m[3], key: m[5]}
		if m[4] != "" {
			r.index, _ = strconv.Atoi(m[4])
		}
		return r
	}
	return ref{kind: refUnknown}
}

// stringify renders an input or output value for substitution: strings as
// they are, scalars in their usual text, lists and maps as JSON.
func stringify(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool, int, int64, float64, uint64:
		return fmt.Sprint(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// expandValue expands every string inside a decoded YAML value.
func expandValue(v any, expand func(string) (string, error)) (any, error) {
	switch v := v.(type) {
	case string:
		return expand(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			e, err := expandValue(x, expand)
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			e, err := expandValue(x, expand)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	}
	return v, nil
}

// asList is the inputs/outputs list shape detailedoutput.json and chaining
// use: a map becomes a one-element list.
func asList(v any) []map[string]any {
	switch v := v.(type) {
	case nil:
		return nil
	case map[string]any:
		return []map[string]any{v}
	case []any:
		out := make([]map[string]any, 0, len(v))
		for _, x := range v {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			} else {
				out = append(out, map[string]any{"value": x})
			}
		}
		return out
	}
	return []map[string]any{{"value": v}}
}
