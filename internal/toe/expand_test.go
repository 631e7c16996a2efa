package toe

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "B": "{{ A }}"}
	resolve := func(expr string) (string, bool, error) {
		v, ok := vars[expr]
		return v, ok, nil
	}
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"{{A}}", "alpha"},
		{"{{ A }}", "alpha"},
		{"x{{A }}y{{ A}}z", "xalphayalphaz"},
		{"{{ B }}", "{{ A }}"}, // single pass: values are not expanded again
		{"{{ .Name }} {{ A }}", "{{ .Name }} alpha"},
		{"{{ unknown }}", "{{ unknown }}"},
		{"{{ A", "{{ A"},
		{"}} {{ A }} {{", "}} alpha {{"},
		{"{{{{ A }}", "{{alpha"},
		{"{{\n A\n}}", "alpha"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in, resolve)
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in   string
		want ref
	}{
		{"Param_1-x", ref{kind: refVariable, name: "Param_1-x"}},
		{"loop.index", ref{kind: refLoop, name: "loop", field: "index"}},
		{"pkgs.value", ref{kind: refLoop, name: "pkgs", field: "value"}},
		{"build.Step.outputs.stdout", ref{kind: refChain, phase: "build", step: "Step", io: "outputs", key: "stdout"}},
		{"build.Letters only.inputs[2].path", ref{kind: refChain, phase: "build", step: "Letters only", io: "inputs", index: 2, key: "path"}},
		{"env:HOME", ref{kind: refEnv, name: "HOME"}},
		{"context:region", ref{kind: refContext, name: "region"}},
		{"aws:ssm:/a/b", ref{kind: refSSM, name: "/a/b"}},
		{"aws:imds:meta-data/instance-id", ref{kind: refIMDS, name: "meta-data/instance-id"}},
		{".Name", ref{}},
		{"json .", ref{}},
		{"a.b", ref{}},
	}
	for _, tt := range tests {
		if got := parseRef(tt.in); got != tt.want {
			t.Errorf("parseRef(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestConditions(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		expr string
		want bool
	}{
		{"stringIsEmpty: ''", true},
		{"stringIsEmpty: ' '", false},
		{"stringIsWhitespace: ' \t'", true},
		{"stringIsWhitespace: ''", false},
		{"{stringEquals: Hello, value: hello}", true},
		{"{stringEquals: Hello, value: ' hello'}", false},
		{"{stringLessThan: b, value: A}", true},
		{"{stringLessThanEquals: a, value: A}", true},
		{"{stringGreaterThan: a, value: B}", true},
		{"{stringGreaterThanEquals: b, value: a}", false},
		{"{patternMatches: '^[a-z]+$', value: ThisIsValue}", true},
		{"{patternMatches: '^[0-9]+$', value: x1}", false},
		{"{numberEquals: 1.0, value: '1'}", true},
		{"{numberLessThan: 2, value: 1}", true},
		{"{numberLessThan: 2, value: two}", false},
		{"{numberLessThanEquals: 100000000000000000001, value: 100000000000000000000}", true},
		{"{numberGreaterThan: -1.5, value: '-1.25'}", true},
		{"{numberGreaterThanEquals: 3, value: 2}", false},
		{"binaryExists: echo", true},
		{"binaryExists: no-such-binary-kiln", false},
		{"fileExists: f", true},
		{"fileExists: .", false},
		{"folderExists: .", true},
		{"folderExists: f", false},
		{"{fileMD5Equals: 900150983CD24FB0D6963F7D28E17F72, path: f}", true},
		{"{fileSHA1Equals: a9993e364706816aba3e25717850c26c9cd0d89d, path: f}", true},
		{"{fileSHA256Equals: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad, path: f}", true},
		{"{fileSHA512Equals: 00, path: f}", false},
		{"{fileSHA256Equals: 00, path: missing}", false},
		{"{and: [{fileExists: f}, {folderExists: .}]}", true},
		{"{and: [{fileExists: missing}, {patternMatches: '(', value: x}]}", false}, // short circuit
		{"{or: [{fileExists: missing}, {folderExists: .}]}", true},
		{"{not: {fileExists: f}}", false},
		{"{not: [{fileExists: missing}]}", true},
	}
	for _, tt := range tests {
		expr := tt.expr
		if !strings.HasPrefix(expr, "{") {
			expr = "{" + expr + "}"
		}
		doc := "schemaVersion: 1.0\nphases:\n  - name: b\n    steps:\n      - name: s\n        action: ExecuteBash\n        if: " + expr + "\n        inputs: {commands: [x]}\n"
		d, err := Parse("c", []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		st := d.Phases[0].Steps[0]
		if st.If == nil {
			t.Errorf("%s: not parsed: %v", tt.expr, d.problems)
			continue
		}
		got, err := st.If.Expr.eval(evalEnv{expand: noExpand, workDir: dir, environ: os.Environ()})
		if err != nil || got != tt.want {
			t.Errorf("%s = %v, %v; want %v", tt.expr, got, err, tt.want)
		}
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "{{ A }}", "x{{A}}y{{", "{{{{}}}}", "}}{{", "{{ build.s.outputs[1].k }}", "{{ loop.value }}{{ .X }}", "é{{ A }}ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Expand(s, func(expr string) (string, bool, error) {
			if strings.Contains(expr, "{{") {
				t.Fatalf("expression %q contains an opening brace pair", expr)
			}
			parseRef(expr)
			if expr == "A" {
				return "[a]", true, nil
			}
			return "", false, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Nothing is resolved in text without placeholders, and unknown
		// placeholders survive: replacing the known one back restores s.
		if !strings.Contains(s, "{{") && got != s {
			t.Fatalf("Expand(%q) = %q", s, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Expand(%q) produced invalid UTF-8 %q", s, got)
		}
		unknown, _ := Expand(s, func(string) (string, bool, error) { return "", false, nil })
		if unknown != s {
			t.Fatalf("with nothing known, Expand(%q) = %q", s, unknown)
		}
	})
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("schemaVersion: 1.0\nphases: [{name: b, steps: [{name: s, action: ExecuteBash, if: {not: [{and: [{fileExists: a}]}]}, loop: {for: {start: 1, end: 3}}}]}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("- 1\n"))
	f.Add([]byte(aliasBomb))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(Problem); !ok {
				t.Fatalf("Parse error %T is not a Problem", err)
			}
			return
		}
		for _, p := range d.Validate() {
			if p.Line < 0 || p.Column < 0 || p.Message == "" {
				t.Fatalf("bad problem %+v", p)
			}
		}
		d.ComponentType()
		d.Warnings()
	})
}

// aliasBomb expands to 10^9 values if aliases are followed naively.
const aliasBomb = `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: s
        action: ExecuteBash
        inputs:
          a: &a ["x","x","x","x","x","x","x","x","x","x"]
          b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
          c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
          d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
          e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
          f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
          g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
          h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
          i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
`

func TestAliasBomb(t *testing.T) {
	d, err := Parse("bomb.yaml", []byte(aliasBomb))
	if err != nil {
		t.Fatal(err)
	}
	ps := d.Validate()
	if len(ps) == 0 || !strings.Contains(ps[0].Message, "more than") {
		t.Errorf("problems %v", ps)
	}
}
