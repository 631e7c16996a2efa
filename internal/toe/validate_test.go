package toe

import (
	"fmt"
	"strings"
	"testing"
)

// TestValidateProblems has one row per class of problem Validate reports;
// each asserts the line the problem points at.
func TestValidateProblems(t *testing.T) {
	const head = "schemaVersion: 1.0\n"
	const phase = "phases:\n  - name: build\n    steps:\n"
	bash := func(name string) string {
		return "      - name: " + name + "\n        action: ExecuteBash\n        inputs:\n          commands: [echo]\n"
	}
	tests := []struct {
		name string
		doc  string
		line int
		want string
	}{
		{"unknown top-level key", head + "nmae: x\n" + phase + bash("A"), 2, `unknown key "nmae"`},
		{"missing schemaVersion", phase + bash("A"), 1, "missing schemaVersion"},
		{"unsupported schemaVersion", "schemaVersion: 2.0\n" + phase + bash("A"), 1, "schemaVersion"},
		{"missing phases", head + "name: x\n", 1, "missing phases"},
		{"empty phases", head + "phases: []\n", 2, "phases must not be empty"},
		{"phase without name", head + "phases:\n  - steps:\n" + bash("A"), 3, "phase has no name"},
		{"phase without steps", head + "phases:\n  - name: build\n", 3, "has no steps"},
		{"duplicate phase", head + phase + bash("A") + "  - name: build\n    steps:\n" + bash("B"), 9, `duplicate phase name "build"`},
		{"unknown phase key", head + "phases:\n  - name: build\n    stpes: []\n    steps:\n" + bash("A"), 4, `unknown key "stpes"`},
		{"step without name", head + phase + "      - action: ExecuteBash\n        inputs: {commands: [x]}\n", 5, "step has no name"},
		{"step without action", head + phase + "      - name: A\n", 5, "has no action"},
		{"duplicate step", head + phase + bash("A") + bash("A"), 9, `duplicate step name "A"`},
		{"unknown step key", head + phase + bash("A") + "        timeout: 5\n", 9, `unknown key "timeout"`},
		{"unknown action", head + phase + "      - name: A\n        action: ExecuteBahs\n", 6, `unknown action "ExecuteBahs"`},
		{"windows-only action", head + phase + "      - name: A\n        action: ExecutePowerShell\n        inputs: {commands: [x]}\n", 6, "not supported on Linux"},
		{"missing required input", head + phase + "      - name: A\n        action: ExecuteBash\n        inputs:\n          command: [x]\n", 8, "commands"},
		{"input of the wrong type", head + phase + "      - name: A\n        action: CreateFile\n        inputs:\n          - path: /tmp/x\n            overwrite: [1]\n", 9, "overwrite"},
		{"timeoutSeconds 0", head + phase + bash("A") + "        timeoutSeconds: 0\n", 9, "timeoutSeconds"},
		{"timeoutSeconds negative", head + phase + bash("A") + "        timeoutSeconds: -5\n", 9, "timeoutSeconds"},
		{"timeoutSeconds not a number", head + phase + bash("A") + "        timeoutSeconds: soon\n", 9, "integer"},
		{"maxAttempts 0", head + phase + bash("A") + "        maxAttempts: 0\n", 9, "maxAttempts"},
		{"onFailure unknown", head + phase + bash("A") + "        onFailure: Retry\n", 9, "onFailure"},
		{"ExecuteDocument timeout", head + phase + "      - name: A\n        action: ExecuteDocument\n        timeoutSeconds: 60\n        inputs: {document: x.yaml}\n", 5, "timeoutSeconds"},
		{"ExecuteDocument maxAttempts", head + phase + "      - name: A\n        action: ExecuteDocument\n        maxAttempts: 2\n        inputs: {document: x.yaml}\n", 5, "maxAttempts"},
		{"Reboot timeout", head + phase + "      - name: A\n        action: Reboot\n        timeoutSeconds: 60\n", 5, "timeoutSeconds"},
		{"bad parameter name", head + "parameters:\n  - ab:\n      type: string\n" + phase + bash("A"), 3, "3-128"},
		{"parameter type", head + "parameters:\n  - Abc:\n      type: integer\n" + phase + bash("A"), 4, `type "integer"`},
		{"parameter without type", head + "parameters:\n  - Abc:\n      default: x\n" + phase + bash("A"), 3, "has no type"},
		{"parameter not a one-key map", head + "parameters:\n  - Abc: {type: string}\n    Def: {type: string}\n" + phase + bash("A"), 3, "exactly one key"},
		{"allowedValues not a list", head + "parameters:\n  - Abc:\n      type: string\n      allowedValues: yes\n" + phase + bash("A"), 5, "allowedValues must be a non-empty list"},
		{"allowedValues empty", head + "parameters:\n  - Abc:\n      type: string\n      allowedValues: []\n" + phase + bash("A"), 5, "allowedValues must be a non-empty list"},
		{"allowedValues of a list", head + "parameters:\n  - Abc:\n      type: string\n      allowedValues: [[a]]\n" + phase + bash("A"), 5, "must be a string"},
		{"default outside allowedValues", head + "parameters:\n  - Abc:\n      type: string\n      default: maybe\n      allowedValues: ['no', 'yes']\n" + phase + bash("A"), 3, `parameter "Abc": default "maybe" is not one of its allowedValues [no, yes]`},
		{"constant without value", head + "constants:\n  - Abc:\n      type: string\n" + phase + bash("A"), 3, "has no value"},
		{"parameter and constant share a name", head + "parameters:\n  - Abc:\n      type: string\n      default: x\nconstants:\n  - Abc:\n      type: string\n      value: y\n" + phase + bash("A"), 7, "already declared"},
		{"undeclared variable", head + phase + "      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo {{ Missing }}\n", 9, "undeclared"},
		{"chain to unknown step", head + phase + "      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo '{{ build.Nope.outputs.stdout }}'\n", 9, `step "Nope"`},
		{"chain to unknown phase", head + phase + "      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo '{{ test.A.outputs.stdout }}'\n", 9, `phase "test"`},
		{"chain to a later step", head + phase + "      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo '{{ build.B.outputs.stdout }}'\n" + bash("B"), 9, "has not run yet"},
		{"unknown loop name", head + phase + "      - name: A\n        action: ExecuteBash\n        loop:\n          name: outer\n          forEach: [a]\n        inputs:\n          commands:\n            - echo '{{ inner.value }}'\n", 12, `loop "inner"`},
		{"unknown context key", head + phase + "      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo '{{ context:nope }}'\n", 9, "context key"},
		{"IMDS credentials", head + phase + "      - name: A\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo '{{ aws:imds:meta-data/iam/security-credentials/x }}'\n", 9, "credentials"},
		{"loop with for and forEach", head + phase + bash("A") + "        loop:\n          for: {start: 1, end: 2}\n          forEach: [a]\n", 10, "not both"},
		{"loop with neither", head + phase + bash("A") + "        loop:\n          name: x\n", 10, "for or forEach"},
		{"loop updateBy 0", head + phase + bash("A") + "        loop:\n          for: {start: 1, end: 2, updateBy: 0}\n", 10, "updateBy must not be 0"},
		{"loop never ends", head + phase + bash("A") + "        loop:\n          for:\n            start: 1\n            end: 5\n            updateBy: -1\n", 13, "never reaches"},
		{"loop delimiter", head + phase + bash("A") + "        loop:\n          forEach:\n            list: a|b\n            delimiter: '|'\n", 12, "delimiter"},
		{"duplicate loop name", head + phase + bash("A") + "        loop: {name: l, forEach: [a]}\n" + bash("B") + "        loop:\n          name: l\n          forEach: [a]\n", 15, `duplicate loop name "l"`},
		{"if with two operators", head + phase + bash("A") + "        if:\n          fileExists: /a\n          folderExists: /b\n", 11, "more than one operator"},
		{"if unknown operator", head + phase + bash("A") + "        if:\n          fileIsThere: /a\n", 10, `unknown operator "fileIsThere"`},
		{"if without value", head + phase + bash("A") + "        if:\n          stringEquals: a\n", 10, "needs a value"},
		{"if then", head + phase + bash("A") + "        if:\n          fileExists: /a\n          then: Run\n", 11, "then must be"},
		{"if nested too deep", head + phase + bash("A") + "        if:\n          not:\n            not:\n              not:\n                not:\n                  not:\n                    fileExists: /a\n", 14, "deeper than 4"},
		{"if bad regex", head + phase + bash("A") + "        if:\n          patternMatches: '('\n          value: x\n", 10, "regular expression"},
		{"Assert input problem", head + phase + "      - name: A\n        action: Assert\n        inputs:\n          stringEquals: a\n", 8, "value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("doc.yaml", []byte(tt.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			ps := d.Validate()
			for _, p := range ps {
				if strings.Contains(p.Message, tt.want) {
					if p.Line != tt.line {
						t.Errorf("%q at line %d, want line %d\n%s", p.Message, p.Line, tt.line, numbered(tt.doc))
					}
					if p.Column < 1 || p.Document != "doc.yaml" {
						t.Errorf("problem %+v lacks a column or document", p)
					}
					return
				}
			}
			t.Errorf("no problem mentioning %q; got %v\n%s", tt.want, ps, numbered(tt.doc))
		})
	}
}

func numbered(doc string) string {
	var b strings.Builder
	for i, l := range strings.Split(doc, "\n") {
		fmt.Fprintf(&b, "%3d %s\n", i+1, l)
	}
	return b.String()
}

// TestValidateListsEveryProblem checks Validate does not stop at the first
// problem.
func TestValidateListsEveryProblem(t *testing.T) {
	doc := `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: A
        action: Nope
      - name: A
        action: ExecuteBash
        timeoutSeconds: 0
        inputs:
          commands: ['{{ Undeclared }}']
`
	d, err := Parse("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	ps := d.Validate()
	if len(ps) != 4 {
		t.Fatalf("got %d problems, want 4: %v", len(ps), ps)
	}
	if got := ps[0].String(); !strings.HasPrefix(got, "x.yaml:6:17: ") {
		t.Errorf("String() = %q, want name:line:col: prefix", got)
	}
}

func TestParseSyntaxError(t *testing.T) {
	tests := []struct {
		doc  string
		line int
	}{
		{"schemaVersion: 1.0\nphases: x\n  steps: y\n", 3},
		{"a: [1,\n", 1},
		{"- just\n- a list\n", 1},
		{"", 1},
	}
	for _, tt := range tests {
		_, err := Parse("bad.yaml", []byte(tt.doc))
		var p Problem
		if err == nil {
			t.Errorf("Parse(%q) succeeded", tt.doc)
			continue
		}
		p, ok := err.(Problem)
		if !ok || p.Line != tt.line || p.Column < 1 {
			t.Errorf("Parse(%q) = %v, want a Problem at line %d", tt.doc, err, tt.line)
		}
	}
}

func TestParseKeepsSourceText(t *testing.T) {
	doc := `name: text
schemaVersion: 1
parameters:
  - Hosts:
      type: string
      default: 127.0.0.1,amazon.com
      description: unquoted
  - Count:
      type: string
      default: 1
constants:
  - Version:
      type: string
      value: 1.10
phases:
  - name: test
    steps:
      - name: A
        action: CreateFolder
        inputs:
          - path: /tmp/x
            permissions: 0755
            owner: 1000
`
	d, err := Parse("t.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if ps := d.Validate(); len(ps) > 0 {
		t.Fatal(ps)
	}
	if d.Parameters[0].Default != "127.0.0.1,amazon.com" || d.Parameters[1].Default != "1" || d.Constants[0].Value != "1.10" {
		t.Errorf("variables %+v %+v", d.Parameters, d.Constants)
	}
	in := d.Phases[0].Steps[0].Inputs.([]any)[0].(map[string]any)
	if in["permissions"] != "0755" || in["owner"] != 1000 {
		t.Errorf("inputs %#v: permissions must keep their text", in)
	}
	if d.ComponentType() != "TEST" || d.SchemaVersion != "1" {
		t.Errorf("ComponentType %q, SchemaVersion %q", d.ComponentType(), d.SchemaVersion)
	}
	if len(d.Warnings()) != 0 {
		t.Errorf("warnings %v", d.Warnings())
	}
}

func TestComponentType(t *testing.T) {
	for doc, want := range map[string]string{
		"phases: [{name: test, steps: []}]":                              "TEST",
		"phases: [{name: build, steps: []}]":                             "BUILD",
		"phases: [{name: build, steps: []}, {name: test, steps: []}]":    "BUILD",
		"phases: [{name: validate, steps: []}, {name: test, steps: []}]": "BUILD",
	} {
		d, err := Parse("x", []byte("schemaVersion: 1.0\n"+doc))
		if err != nil {
			t.Fatal(err)
		}
		if got := d.ComponentType(); got != want {
			t.Errorf("%s: %s, want %s", doc, got, want)
		}
	}
}

func TestWarnings(t *testing.T) {
	doc := "schemaVersion: 1.0\nparameters:\n  - Need:\n      type: string\nphases:\n  - name: verify\n    steps:\n      - name: a.b\n        action: ExecuteBash\n        inputs: {commands: [x]}\n"
	d, err := Parse("w", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if ps := d.Validate(); len(ps) > 0 {
		t.Fatalf("warnings must not be problems: %v", ps)
	}
	if w := d.Warnings(); len(w) != 3 {
		t.Errorf("warnings %v, want 3 (no well-known phase, parameter without default, dotted step name)", w)
	}
}
