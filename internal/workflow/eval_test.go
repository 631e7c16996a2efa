package workflow

import (
	"strings"
	"testing"
)

func testValues() *Values {
	return &Values{
		Parameters: map[string]any{"flag": true, "count": int64(3), "name": "web", "list": []any{"a", "b"}},
		StepOutputs: map[string]map[string]any{
			"Launch": {"instanceId": "i-1"},
			"Dist": {"distributedImages": []any{
				map[string]any{"amiId": "ami-1", "region": "us-east-1"},
				map[string]any{"amiId": "ami-2", "region": "eu-west-1"},
			}},
		},
		WorkflowOutputs: map[string]any{"ImageId": "ami-0"},
		System:          map[string]any{"platform": "Linux", "collectImageMetadata": true, "imageBuildNumber": int64(7)},
	}
}

func TestLookup(t *testing.T) {
	v := testValues()
	for _, tc := range []struct {
		path, want, err string
	}{
		{"$.parameters.name", "web", ""},
		{"$.parameters.count", "3", ""},
		{"$.parameters.list", `["a","b"]`, ""},
		{"$.parameters.list[1]", "b", ""},
		{"$.stepOutputs.Launch.instanceId", "i-1", ""},
		{"$.stepOutputs.Dist.distributedImages[1].amiId", "ami-2", ""},
		{"$.workflowOutputs.ImageId", "ami-0", ""},
		{"$.imagebuilder.platform", "Linux", ""},
		{"$.parameters.missing", "", `parameter "missing" has no value`},
		{"$.stepOutputs.Skipped.x", "", `step "Skipped" has not run`},
		{"$.stepOutputs.Launch.nothing", "", `no output "nothing"`},
		{"$.stepOutputs.Dist.distributedImages[5].amiId", "", "past the list"},
		{"$.stepOutputs.Dist.distributedImages.amiId", "", "field of a list"},
		{"$.imagebuilder.nope", "", "no value in this build"},
		{"$.other.x", "", "unknown root"},
		{"$.parameters", "", "must name a value"},
		{"parameters.x", "", "must start with"},
		{"$.parameters..x", "", "empty name"},
		{"$.parameters.list[x]", "", "not a list index"},
		{"$.parameters.list[0", "", "unclosed"},
		{"$.parameters.x.", "", "ends in a dot"},
	} {
		got, err := v.Lookup(tc.path)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Lookup(%q) error = %v, want one containing %q", tc.path, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("Lookup(%q): %v", tc.path, err)
		case tc.err == "" && Text(got) != tc.want:
			t.Errorf("Lookup(%q) = %s, want %s", tc.path, Text(got), tc.want)
		}
	}
}

func TestResolveInputs(t *testing.T) {
	v := testValues()
	got, err := v.ResolveInputs(map[string]any{
		"instanceId.$": "$.stepOutputs.Launch.instanceId",
		"payload":      "build {{ $.imagebuilder.imageBuildNumber }} of {{$.parameters.name}}",
		"nested":       map[string]any{"list": []any{"{{ $.workflowOutputs.ImageId }}", 5}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got["instanceId"] != "i-1" || got["payload"] != "build 7 of web" {
		t.Errorf("resolved %v", got)
	}
	if Text(got["nested"]) != `{"list":["ami-0",5]}` {
		t.Errorf("nested = %s", Text(got["nested"]))
	}
	for _, bad := range []map[string]any{
		{"x.$": "$.stepOutputs.Nope.x"},
		{"x.$": 5},
		{"x": "{{ $.parameters.nope }}"},
	} {
		if _, err := v.ResolveInputs(bad); err == nil {
			t.Errorf("ResolveInputs(%v) succeeded", bad)
		}
	}
}

func TestConditionEval(t *testing.T) {
	v := testValues()
	cmp := func(op, operand, value string) Condition { return Condition{Op: op, Operand: operand, Value: value} }
	for _, tc := range []struct {
		name string
		c    Condition
		want bool
		err  bool
	}{
		{"booleanEquals true", cmp("booleanEquals", "true", "$.parameters.flag"), true, false},
		{"booleanEquals false", cmp("booleanEquals", "false", "$.parameters.flag"), false, false},
		{"booleanEquals system", cmp("booleanEquals", "true", "$.imagebuilder.collectImageMetadata"), true, false},
		{"booleanEquals not a bool", cmp("booleanEquals", "true", "$.parameters.name"), false, true},
		{"stringEquals", cmp("stringEquals", "Linux", "$.imagebuilder.platform"), true, false},
		{"stringEquals number as text", cmp("stringEquals", "3", "$.parameters.count"), true, false},
		{"numberEquals", cmp("numberEquals", "3", "$.parameters.count"), true, false},
		{"numberGreaterThan", cmp("numberGreaterThan", "2", "$.parameters.count"), true, false},
		{"numberGreaterThan equal", cmp("numberGreaterThan", "3", "$.parameters.count"), false, false},
		{"numberGreaterThanEquals", cmp("numberGreaterThanEquals", "3", "$.parameters.count"), true, false},
		{"numberLessThan", cmp("numberLessThan", "3.5", "$.parameters.count"), true, false},
		{"numberLessThanEquals", cmp("numberLessThanEquals", "2", "$.parameters.count"), false, false},
		{"number not a number", cmp("numberEquals", "3", "$.parameters.name"), false, true},
		{"missing reference", cmp("stringEquals", "x", "$.stepOutputs.Nope.x"), false, true},
		{"and", Condition{Op: "and", Children: []Condition{cmp("booleanEquals", "true", "$.parameters.flag"), cmp("stringEquals", "web", "$.parameters.name")}}, true, false},
		{"and false", Condition{Op: "and", Children: []Condition{cmp("booleanEquals", "false", "$.parameters.flag"), cmp("stringEquals", "web", "$.parameters.name")}}, false, false},
		{"or", Condition{Op: "or", Children: []Condition{cmp("booleanEquals", "false", "$.parameters.flag"), cmp("stringEquals", "web", "$.parameters.name")}}, true, false},
		{"not", Condition{Op: "not", Children: []Condition{cmp("stringEquals", "Windows", "$.imagebuilder.platform")}}, true, false},
	} {
		got, err := tc.c.Eval(v)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: Eval = %v, %v; want %v (error %v)", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestParameterValues(t *testing.T) {
	d, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.ParameterValues(map[string][]string{"retries": {"4"}})
	if err != nil {
		t.Fatal(err)
	}
	if got["waitForActionAtEnd"] != true || got["retries"] != int64(4) || Text(got["extraTypes"]) != `["t3.micro","t3.small"]` {
		t.Errorf("ParameterValues = %v", got)
	}
	for _, given := range []map[string][]string{
		{},                    // retries has no default
		{"retries": {"four"}}, // not an integer
		{"retries": {"1"}, "waitForActionAtEnd": {"yes"}},
		{"retries": {"1", "2"}},
	} {
		if _, err := d.ParameterValues(given); err == nil {
			t.Errorf("ParameterValues(%v) succeeded", given)
		}
	}
}

func TestRunSysPrepRefused(t *testing.T) {
	d, err := Parse([]byte("schemaVersion: 1.0\nsteps:\n  - name: Prep\n    action: RunSysPrep\n"))
	if err != nil {
		t.Fatal(err)
	}
	ps := d.Validate(StageBuild)
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "Windows") || ps[0].Line != 3 {
		t.Errorf("problems = %v", ps)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"$.parameters.x", "$.stepOutputs.A.b[0].c", "$.a[1][2]", "$.", "$..", "$.a[", "$.a[-1]", "$.a.b."} {
		f.Add(s)
	}
	v := testValues()
	f.Fuzz(func(t *testing.T, path string) {
		root, elems, err := parsePath(path)
		if err != nil {
			return
		}
		if root == "" || len(elems) > maxPathElems+1 {
			t.Fatalf("parsePath(%q) = %q, %d elements", path, root, len(elems))
		}
		v.Lookup(path) // must not panic
	})
}
