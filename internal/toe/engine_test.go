package toe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kiln-build/kiln/internal/toe/action"
)

// fakeModule is an action for engine tests: it outputs its "out" input,
// fails when "fail" is true and records every call.
type fakeModule struct {
	mu    sync.Mutex
	calls []fakeCall
	run   func(ctx context.Context, env *action.Env, in map[string]any) (action.Result, error)
}

type fakeCall struct {
	inputs      any
	hasDeadline bool
}

func (f *fakeModule) Name() string { return "Fake" }

func (f *fakeModule) Validate(inputs any) []action.Problem {
	m, ok := inputs.(map[string]any)
	if !ok {
		return []action.Problem{{Message: "must be a map"}}
	}
	if v, ok := m["fail"]; ok {
		if _, ok := v.(bool); !ok {
			return []action.Problem{{Path: "fail", Message: "must be a boolean"}}
		}
	}
	return nil
}

func (f *fakeModule) Run(ctx context.Context, env *action.Env, inputs any) (action.Result, error) {
	_, dl := ctx.Deadline()
	f.mu.Lock()
	f.calls = append(f.calls, fakeCall{inputs, dl})
	f.mu.Unlock()
	in := inputs.(map[string]any)
	if f.run != nil {
		return f.run(ctx, env, in)
	}
	fmt.Fprintln(env.Stdout, "fake says", in["out"])
	if in["fail"] == true {
		return action.Result{}, errors.New("fake failure")
	}
	return action.Result{Outputs: map[string]any{"out": in["out"]}}, nil
}

// withFake installs the fake next to the real modules for one test.
func withFake(t *testing.T, f *fakeModule) {
	t.Helper()
	old := modules
	modules = func(name string) (action.Module, bool) {
		if name == "Fake" {
			return f, true
		}
		return old(name)
	}
	t.Cleanup(func() { modules = old })
}

func runDoc(t *testing.T, r *Runner, doc string, phases []string, params map[string]string) (*Report, error) {
	t.Helper()
	if r.Stdout == nil {
		r.Stdout = &bytes.Buffer{}
	}
	return r.Run(context.Background(), []DocumentSource{{Path: "inline.yaml", Data: []byte(doc)}}, phases, params)
}

func TestStepTimeoutsReachModules(t *testing.T) {
	f := &fakeModule{}
	withFake(t, f)
	doc := `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Default
        action: Fake
        inputs: {out: a}
      - name: Unlimited
        action: Fake
        timeoutSeconds: -1
        inputs: {out: b}
`
	rep, err := runDoc(t, &Runner{}, doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Succeeded() || len(f.calls) != 2 {
		t.Fatalf("status %s, %d calls", rep.Status, len(f.calls))
	}
	if !f.calls[0].hasDeadline || f.calls[1].hasDeadline {
		t.Errorf("deadlines %v %v: want one for the default 7200 s and none for -1", f.calls[0].hasDeadline, f.calls[1].hasDeadline)
	}
	if got := rep.Step(0, "build", "Unlimited").TimeoutSeconds; got != -1 {
		t.Errorf("reported timeout %d", got)
	}
}

func TestMaxAttemptsRetriesWholeLoop(t *testing.T) {
	f := &fakeModule{}
	withFake(t, f)
	doc := `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Loop
        action: Fake
        maxAttempts: 2
        onFailure: Continue
        loop:
          forEach: [a, b, c]
        inputs:
          out: '{{ loop.value }}'
          fail: true
`
	rep, err := runDoc(t, &Runner{}, doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each attempt stops at the first failing iteration.
	if len(f.calls) != 2 {
		t.Errorf("%d calls, want 2 (one per attempt, loop left at the first failure)", len(f.calls))
	}
	s := rep.Step(0, "build", "Loop")
	if s.Status != StatusFailed || !strings.Contains(s.FailureMessage, "loop iteration 0: fake failure") {
		t.Errorf("step %s: %s", s.Status, s.FailureMessage)
	}
}

func TestMissingParameterFailsRun(t *testing.T) {
	doc := "schemaVersion: 1.0\nparameters:\n  - Need:\n      type: string\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs: {commands: ['echo {{ Need }}']}\n"
	if _, err := runDoc(t, &Runner{}, doc, nil, nil); err == nil || !strings.Contains(err.Error(), "Need") {
		t.Errorf("err = %v, want the missing parameter named", err)
	}
	rep, err := runDoc(t, &Runner{}, doc, nil, map[string]string{"Need": "x", "Other": "ignored"})
	if err != nil || !rep.Succeeded() {
		t.Fatalf("%v %+v", err, rep)
	}
	if got := outputs(t, rep.Step(0, "build", "A"))["stdout"]; got != "x" {
		t.Errorf("stdout %q", got)
	}
}

// TestParameterAllowedValues: allowedValues is accepted, its default and a
// value given from the list run, and a value outside it fails the run
// naming the parameter before any step runs.
func TestParameterAllowedValues(t *testing.T) {
	doc := "schemaVersion: 1.0\nparameters:\n  - Pcr:\n      type: string\n      default: 'no'\n      description: d\n      allowedValues: ['no', 'yes']\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs: {commands: ['echo {{ Pcr }}']}\n"
	tests := []struct {
		name   string
		params map[string]string
		stdout string // "" when the run must fail
	}{
		{"default", nil, "no"},
		{"allowed value", map[string]string{"Pcr": "yes"}, "yes"},
		{"value outside the list", map[string]string{"Pcr": "maybe"}, ""},
		{"case matters", map[string]string{"Pcr": "YES"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := runDoc(t, &Runner{}, doc, nil, tc.params)
			if tc.stdout == "" {
				if err == nil || !strings.Contains(err.Error(), "parameter Pcr") || !strings.Contains(err.Error(), "allowedValues") {
					t.Fatalf("err = %v, want the parameter and its allowedValues named", err)
				}
				return
			}
			if err != nil || !rep.Succeeded() {
				t.Fatalf("%v %+v", err, rep)
			}
			if got := outputs(t, rep.Step(0, "build", "A"))["stdout"]; got != tc.stdout {
				t.Errorf("stdout %q, want %q", got, tc.stdout)
			}
		})
	}
}

func TestInvalidDocumentStopsRun(t *testing.T) {
	doc := "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: Nope\n"
	var out bytes.Buffer
	_, err := runDoc(t, &Runner{Stdout: &out}, doc, nil, nil)
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Line != 6 {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "inline.yaml:6:17: step \"A\": unknown action") {
		t.Errorf("console %q", out.String())
	}
}

func TestSeveralDocumentsAndPerDocumentParameters(t *testing.T) {
	f := &fakeModule{}
	withFake(t, f)
	doc := func(name string) []byte {
		return []byte("name: " + name + "\nschemaVersion: 1.0\nparameters:\n  - Val:\n      type: string\n      default: d\nphases:\n  - name: test\n    steps:\n      - name: S\n        action: Fake\n        inputs: {out: '" + name + "={{ Val }}'}\n  - name: build\n    steps:\n      - name: S\n        action: Fake\n        inputs: {out: '" + name + "-build'}\n")
	}
	r := &Runner{Stdout: &bytes.Buffer{}}
	rep, err := r.Run(context.Background(), []DocumentSource{
		{Path: "one.yaml", Data: doc("one"), Parameters: map[string]string{"Val": "mine"}},
		{Path: "two.yaml", Data: doc("two")},
	}, []string{"test"}, map[string]string{"Val": "all"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.calls {
		got = append(got, c.inputs.(map[string]any)["out"].(string))
	}
	if strings.Join(got, " ") != "one=mine two=all" {
		t.Errorf("calls %v", got)
	}
	if len(rep.Documents) != 2 || rep.Documents[1].Name != "two" {
		t.Errorf("documents %+v", rep.Documents)
	}
}

func TestFailedDocumentStopsLaterDocuments(t *testing.T) {
	f := &fakeModule{}
	withFake(t, f)
	bad := "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: S\n        action: Fake\n        inputs: {fail: true}\n"
	good := "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: S\n        action: Fake\n        inputs: {out: x}\n"
	rep, err := (&Runner{}).Run(context.Background(), []DocumentSource{{Path: "bad", Data: []byte(bad)}, {Path: "good", Data: []byte(good)}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != StatusFailed || len(rep.Documents) != 1 || len(f.calls) != 1 {
		t.Errorf("status %s, %d documents, %d calls", rep.Status, len(rep.Documents), len(f.calls))
	}
	if !strings.HasPrefix(rep.FailureMessage, "Document bad failed: Phase build failed: Step S failed: fake failure") {
		t.Errorf("message %q", rep.FailureMessage)
	}
}

func TestRebootHookAndLimit(t *testing.T) {
	f := &fakeModule{run: func(ctx context.Context, env *action.Env, in map[string]any) (action.Result, error) {
		return action.Result{Reboot: true}, nil
	}}
	withFake(t, f)
	var reqs []RebootRequest
	r := &Runner{MaxReboots: 3, Reboot: func(ctx context.Context, req RebootRequest) error {
		reqs = append(reqs, req)
		return nil
	}}
	doc := "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Forever\n        action: Fake\n        inputs: {}\n"
	rep, err := runDoc(t, r, doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Step(0, "build", "Forever")
	if s.Status != StatusFailed || !strings.Contains(s.FailureMessage, "more than 3 times") {
		t.Errorf("step %s: %s", s.Status, s.FailureMessage)
	}
	if len(reqs) != 3 || reqs[0].Step != "Forever" || reqs[0].ResumeAtNextStep {
		t.Errorf("reboot requests %+v", reqs)
	}
}

func TestBlockedAction(t *testing.T) {
	dir := t.TempDir()
	doc := "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: R\n        action: Reboot\n        onFailure: Continue\n      - name: After\n        action: CreateFolder\n        inputs: [{path: '" + dir + "/after'}]\n"
	rep, err := runDoc(t, &Runner{Blocked: []string{"Reboot"}}, doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := rep.Step(0, "build", "R"); s.Status != StatusFailed || !strings.Contains(s.FailureMessage, "blocked") {
		t.Errorf("R %s %s", s.Status, s.FailureMessage)
	}
	if !exists(filepath.Join(dir, "after")) {
		t.Error("step after a Continue failure did not run")
	}
}

func TestAssertUsesEngineGrammar(t *testing.T) {
	doc := `schemaVersion: 1.0
parameters:
  - Version:
      type: string
      default: "17.0.2"
phases:
  - name: test
    steps:
      - name: Major
        action: ExecuteBash
        inputs:
          commands: ["echo '{{ Version }}' | cut -d. -f1"]
      - name: AtLeast17
        action: Assert
        inputs:
          numberGreaterThanEquals: 17
          value: '{{ test.Major.outputs.stdout }}'
      - name: Both
        action: Assert
        inputs:
          and:
            - stringEquals: '17.0.2'
              value: '{{ Version }}'
            - not: [{stringIsEmpty: '{{ Version }}'}]
      - name: Fails
        action: Assert
        onFailure: Ignore
        inputs:
          numberLessThan: 17
          value: '{{ test.Major.outputs.stdout }}'
`
	rep, err := runDoc(t, &Runner{}, doc, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, rep, "test", "AtLeast17", StatusSuccess)
	wantStatus(t, rep, "test", "Both", StatusSuccess)
	wantStatus(t, rep, "test", "Fails", StatusIgnoredFailure)
	if rep.Status != StatusSuccessWithIgnoredFailure {
		t.Errorf("run status %s", rep.Status)
	}
}

func TestUnknownPhasesRunNothing(t *testing.T) {
	doc := "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs: {commands: [exit 1]}\n"
	rep, err := runDoc(t, &Runner{}, doc, []string{"nope"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Succeeded() || rep.Summary().ExecutedStepCount != 0 {
		t.Errorf("%+v", rep.Summary())
	}
}

func TestNestingDepthLimit(t *testing.T) {
	dir := t.TempDir()
	// d0 calls d1 calls ... d4: five documents, one more than allowed.
	for i := 0; i < 5; i++ {
		body := fmt.Sprintf("schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Next\n        action: ExecuteDocument\n        inputs: {document: d%d.yaml}\n", i+1)
		if i == 4 {
			body = "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Leaf\n        action: ExecuteBash\n        inputs: {commands: [echo leaf]}\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("d%d.yaml", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &Runner{WorkDir: dir}
	rep, err := r.Run(context.Background(), []DocumentSource{{Path: filepath.Join(dir, "d1.yaml")}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Succeeded() {
		t.Errorf("4 documents deep must run: %s", rep.FailureMessage)
	}
	rep, err = r.Run(context.Background(), []DocumentSource{{Path: filepath.Join(dir, "d0.yaml")}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Succeeded() || !strings.Contains(rep.FailureMessage, "at most 3 levels") {
		t.Errorf("5 documents deep: %s %s", rep.Status, rep.FailureMessage)
	}
}

func TestProgressOutput(t *testing.T) {
	var term bytes.Buffer
	doc := "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs: {commands: [echo noisy]}\n"
	if _, err := runDoc(t, &Runner{Stdout: &term, Progress: true}, doc, nil, nil); err != nil {
		t.Fatal(err)
	}
	out := term.String()
	if strings.Contains(out, "noisy") || !strings.Contains(out, "\r\x1b[K✓ Step build/A success") {
		t.Errorf("progress output %q", out)
	}
}
