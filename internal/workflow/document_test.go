package workflow

import (
	"strings"
	"testing"
	"time"
)

const sample = `name: sample
description: a sample build workflow
schemaVersion: 1.0
parameters:
  - name: waitForActionAtEnd
    type: boolean
    default: true
  - name: extraTypes
    type: stringList
    default: [t3.micro, t3.small]
  - name: retries
    type: integer
steps:
  - name: LaunchBuildInstance
    action: LaunchInstance
    onFailure: Abort
    inputs:
      waitFor: ssmAgent
      instanceTypesOverride.$: $.parameters.extraTypes
  - name: ApplyBuildComponents
    action: ExecuteComponents
    timeoutSeconds: 3600
    inputs:
      instanceId.$: $.stepOutputs.LaunchBuildInstance.instanceId
  - name: WaitForApproval
    action: WaitForAction
    onFailure: Continue
    rollbackEnabled: false
    if:
      and:
        - booleanEquals: true
          value: $.parameters.waitForActionAtEnd
        - not:
            stringEquals: Windows
            value: $.imagebuilder.platform
    inputs:
      payload: "image {{ $.imagebuilder.imageName }} is ready"
  - name: CreateOutputAMI
    action: CreateImage
    timeoutSeconds: 259200
    inputs:
      instanceId.$: $.stepOutputs.LaunchBuildInstance.instanceId
outputs:
  - name: ImageId
    value: $.stepOutputs.CreateOutputAMI.imageId
`

func TestParseSample(t *testing.T) {
	d, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if ps := d.Validate(StageBuild); len(ps) > 0 {
		t.Fatalf("unexpected problems: %v", ps)
	}
	if d.Name != "sample" || d.SchemaVersion != "1.0" || len(d.Steps) != 4 || len(d.Outputs) != 1 {
		t.Fatalf("document = %+v", d)
	}
	params := map[string]Parameter{}
	for _, p := range d.Parameters {
		params[p.Name] = p
	}
	if p := params["waitForActionAtEnd"]; p.Type != "boolean" || !p.HasDefault || strings.Join(p.Default, ",") != "true" {
		t.Errorf("boolean parameter = %+v", p)
	}
	if p := params["extraTypes"]; strings.Join(p.Default, ",") != "t3.micro,t3.small" {
		t.Errorf("stringList parameter = %+v", p)
	}
	if p := params["retries"]; p.HasDefault {
		t.Errorf("parameter without default = %+v", p)
	}
	launch, apply, wait, create := d.Steps[0], d.Steps[1], d.Steps[2], d.Steps[3]
	if launch.Timeout != 75*time.Minute || launch.OnFailure != "Abort" || launch.Line != 14 {
		t.Errorf("launch step = %+v", launch)
	}
	if apply.Timeout != time.Hour || apply.OnFailure != "Abort" {
		t.Errorf("apply step = %+v", apply)
	}
	if wait.OnFailure != "Continue" || wait.RollbackEnabled != "false" || wait.If == nil || wait.If.Op != "and" || len(wait.If.Children) != 2 {
		t.Errorf("wait step = %+v", wait)
	} else if not := wait.If.Children[1]; not.Op != "not" || not.Children[0].Op != "stringEquals" || not.Children[0].Operand != "Windows" {
		t.Errorf("not condition = %+v", not)
	}
	if create.Timeout != 72*time.Hour {
		t.Errorf("create timeout = %v", create.Timeout)
	}
	if got := launch.Inputs["waitFor"]; got != "ssmAgent" {
		t.Errorf("launch inputs = %v", launch.Inputs)
	}
}

// TestValidateProblems checks that each mistake is found at its line.
func TestValidateProblems(t *testing.T) {
	head := "schemaVersion: 1.0\nsteps:\n"
	launch := "  - name: Launch\n    action: LaunchInstance\n    inputs:\n      waitFor: ssmAgent\n"
	tests := []struct {
		name  string
		stage Stage
		doc   string
		line  int
		want  string
	}{
		{"no schemaVersion", StageBuild, "steps:\n" + launch, 1, "schemaVersion is required"},
		{"bad schemaVersion", StageBuild, "schemaVersion: 2.0\nsteps:\n" + launch, 1, `schemaVersion "2.0" is not supported`},
		{"no steps", StageBuild, "schemaVersion: 1.0\n", 1, "steps is required"},
		{"empty steps", StageBuild, "schemaVersion: 1.0\nsteps: []\n", 2, "at least one step"},
		{"unknown top key", StageBuild, head + launch + "phases: []\n", 7, `unknown key "phases"`},
		{"unknown action", StageBuild, head + "  - name: Boom\n    action: ExplodeInstance\n", 4, `unknown action "ExplodeInstance"`},
		{"missing action", StageBuild, head + "  - name: Boom\n", 3, `step "Boom" needs an action`},
		{"bad step name", StageBuild, head + "  - name: a-b\n    action: WaitForSSMAgent\n", 3, "3-128 letters"},
		{"duplicate step", StageBuild, head + launch + launch, 7, `step name "Launch" is used twice`},
		{"unknown step key", StageBuild, head + "  - name: Wait\n    action: WaitForSSMAgent\n    retries: 3\n", 5, `unknown key "retries"`},
		{"timeout over max", StageBuild, head + "  - name: Wait\n    action: WaitForSSMAgent\n    timeoutSeconds: 10801\n", 5, "exceeds the WaitForSSMAgent action's maximum of 10800 seconds"},
		{"timeout zero", StageBuild, head + "  - name: Wait\n    action: WaitForSSMAgent\n    timeoutSeconds: 0\n", 5, "at least 1"},
		{"bad onFailure", StageBuild, head + "  - name: Wait\n    action: WaitForSSMAgent\n    onFailure: Retry\n", 5, "must be Abort or Continue"},
		{"required input", StageBuild, head + "  - name: Launch\n    action: LaunchInstance\n    inputs:\n      healthCheck: RUNNING\n", 6, `needs the input "waitFor"`},
		{"required inputs absent", StageBuild, head + "  - name: Run\n    action: RunCommand\n", 3, "needs inputs: documentName"},
		{"bad waitFor", StageBuild, head + "  - name: Launch\n    action: LaunchInstance\n    inputs:\n      waitFor: sshd\n", 6, "waitFor must be ssmAgent"},
		{"dynamic input not a path", StageBuild, head + launch + "  - name: Apply\n    action: ExecuteComponents\n    inputs:\n      instanceId.$: i-123\n", 10, "must be a JSONPath"},
		{"later step output", StageBuild, head + "  - name: Apply\n    action: ExecuteComponents\n    inputs:\n      instanceId.$: $.stepOutputs.Launch.instanceId\n" + launch, 6, `"Launch", which does not run before this point`},
		{"undeclared parameter", StageBuild, head + launch + "  - name: Wait\n    action: WaitForSSMAgent\n    if:\n      booleanEquals: true\n      value: $.parameters.missing\n", 11, `parameter "missing", which the document does not declare`},
		{"unknown system variable", StageBuild, head + launch + "  - name: Wait\n    action: WaitForAction\n    inputs:\n      payload: \"{{ $.imagebuilder.nope }}\"\n", 10, `unknown system variable "nope"`},
		{"condition without value", StageBuild, head + launch + "  - name: Wait\n    action: WaitForSSMAgent\n    if:\n      booleanEquals: true\n", 10, "needs a value"},
		{"condition two operators", StageBuild, head + launch + "  - name: Wait\n    action: WaitForSSMAgent\n    if:\n      booleanEquals: true\n      stringEquals: x\n      value: y\n", 11, "has one operator"},
		{"condition bad number", StageBuild, head + launch + "  - name: Wait\n    action: WaitForSSMAgent\n    if:\n      numberGreaterThan: many\n      value: $.imagebuilder.imageBuildNumber\n", 10, "compares with a number"},
		{"and needs list", StageBuild, head + launch + "  - name: Wait\n    action: WaitForSSMAgent\n    if:\n      and: true\n", 10, "and takes a list"},
		{"stage restriction", StageBuild, head + "  - name: Ship\n    action: DistributeImage\n", 3, "cannot run in a BUILD workflow (only DISTRIBUTION)"},
		{"test-only action", StageDistribution, head + launch + "  - name: Scan\n    action: CollectImageScanFindings\n", 7, "only TEST"},
		{"mixed distribution", StageDistribution, head + "  - name: Ship\n    action: DistributeImage\n  - name: ShipC\n    action: DistributeContainerImage\n", 3, "cannot be combined with DistributeContainerImage"},
		{"parameter type", StageBuild, "schemaVersion: 1.0\nparameters:\n  - name: p\n    type: float\nsteps:\n" + launch, 4, `parameter type "float"`},
		{"parameter default type", StageBuild, "schemaVersion: 1.0\nparameters:\n  - name: p\n    type: integer\n    default: ten\nsteps:\n" + launch, 5, "not an integer"},
		{"duplicate parameter", StageBuild, "schemaVersion: 1.0\nparameters:\n  - name: p\n    type: string\n  - name: p\n    type: string\nsteps:\n" + launch, 5, `parameter "p" is declared twice`},
		{"output to unknown step", StageBuild, head + launch + "outputs:\n  - name: Out\n    value: $.stepOutputs.Nope.imageId\n", 9, `step "Nope", which the document does not have`},
		{"duplicate key", StageBuild, head + "  - name: Wait\n    name: Again\n    action: WaitForSSMAgent\n", 4, `duplicate key "name"`},
		{"too many steps", StageBuild, head + strings.Repeat("  - name: Wait\n    action: WaitForSSMAgent\n", 16), 33, "at most 15 steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			ps := d.Validate(tt.stage)
			for _, p := range ps {
				if strings.Contains(p.Message, tt.want) {
					if p.Line != tt.line {
						t.Errorf("%q reported at line %d, want %d", tt.want, p.Line, tt.line)
					}
					return
				}
			}
			t.Errorf("no problem containing %q; got %v", tt.want, ps)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		doc  string
		line int
		want string
	}{
		{"", 1, "empty"},
		{"- a\n- b\n", 1, "must be a mapping"},
		{"schemaVersion: 1.0\nsteps:\n  - name: [unclosed\n", 2, "invalid YAML"},
		{"a: b\n\tc: d\n", 2, "invalid YAML"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.doc))
		p, ok := err.(Problem)
		if !ok {
			t.Errorf("Parse(%q) = %v, want a Problem", tt.doc, err)
			continue
		}
		if p.Line != tt.line || !strings.Contains(p.Message, tt.want) {
			t.Errorf("Parse(%q) = %v, want line %d containing %q", tt.doc, p, tt.line, tt.want)
		}
	}
}

// TestAliasBomb checks that nested aliases cannot make validation do
// unbounded work.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	doc := "schemaVersion: 1.0\nsteps:\n  - name: Wait\n    action: WaitForAction\n    inputs:\n      payload: *a8\n"
	d, err := Parse([]byte(b.String() + doc))
	if err != nil {
		return // rejected outright is fine too
	}
	if len(d.Validate(StageBuild)) == 0 {
		t.Fatal("an alias bomb validated cleanly")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("schemaVersion: 1.0\nsteps:\n  - name: Launch\n    action: LaunchInstance\n    inputs:\n      waitFor: ssmAgent\n")
	f.Add("schemaVersion: 1.0\nsteps:\n  - name: W\n    action: WaitForSSMAgent\n    if:\n      or:\n        - not: [{booleanEquals: true, value: x}]\n")
	f.Add("a: &x [*x]\n")
	f.Fuzz(func(t *testing.T, doc string) {
		d, err := Parse([]byte(doc))
		if err != nil {
			if _, ok := err.(Problem); !ok {
				t.Fatalf("Parse error %T is not a Problem", err)
			}
			return
		}
		for _, s := range []Stage{StageBuild, StageTest, StageDistribution} {
			for _, p := range d.Validate(s) {
				if p.Line < 0 || p.Message == "" {
					t.Fatalf("bad problem %+v", p)
				}
			}
		}
	})
}
