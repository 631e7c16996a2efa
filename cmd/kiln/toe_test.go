package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const toeGoodDoc = `name: cli-good
schemaVersion: 1.0
parameters:
  - Word:
      type: string
      default: default-word
phases:
  - name: build
    steps:
      - name: Write
        action: ExecuteBash
        inputs:
          commands:
            - echo '{{ Word }}' > word.txt
            - echo wrote
  - name: test
    steps:
      - name: Check
        action: Assert
        inputs:
          stringEquals: '{{ Word }}'
          value: '{{ build.Write.inputs.commands }}'
`

const toeFailingDoc = `schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Boom
        action: ExecuteBash
        inputs:
          commands: ["echo boom >&2", "exit 2"]
`

func writeToeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runToe(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := toeMain(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestToeValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeToeFile(t, dir, "good.yaml", toeGoodDoc)
	bad := writeToeFile(t, dir, "bad.yaml", "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: Nope\n        timeoutSeconds: 0\n")
	if code, out, errOut := runToe("validate", "--documents", good); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("good: %d %q %q", code, out, errOut)
	}
	code, _, errOut := runToe("validate", "-d", good+","+bad)
	if code != 1 {
		t.Errorf("bad: exit %d", code)
	}
	for _, want := range []string{bad + ":6:17: step \"A\": unknown action", bad + ":7:25: timeoutSeconds"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	syntax := writeToeFile(t, dir, "syntax.yaml", "a: b\n  c: d\n")
	if code, _, errOut := runToe("validate", "--documents", syntax); code != 1 || !strings.Contains(errOut, syntax+":2:1: invalid YAML") {
		t.Errorf("syntax: %d %q", code, errOut)
	}
	if code, _, _ := runToe("validate"); code != 0 {
		t.Errorf("no documents: exit %d, want 0 like awstoe", code)
	}
}

func TestToeRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := writeToeFile(t, dir, "good.yaml", toeGoodDoc)
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(dir, "junit.xml")
	code, out, errOut := runToe("run", "--documents", doc, "--phases", "build", "--parameters", "Word=hello,Unused=x",
		"--execution-id", "cli-1", "--log-directory", dir, "--cwd", work, "--report", "junit="+junit)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(work, "word.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("word.txt %q %v", b, err)
	}
	if !strings.Contains(out, "CmdExecution: Stdout: wrote") {
		t.Errorf("console output missing from stdout:\n%s", out)
	}
	i := strings.LastIndex(out, "{\n")
	var summary map[string]any
	if i < 0 || json.Unmarshal([]byte(out[i:]), &summary) != nil {
		t.Fatalf("no JSON summary at the end of stdout:\n%s", out)
	}
	if summary["executedStepCount"] != float64(1) || summary["status"] != "success" || summary["executionId"] != "cli-1" {
		t.Errorf("summary %v", summary)
	}
	if !strings.Contains(out, `"executedStepCount": 1`) {
		t.Error(`stdout must contain "executedStepCount": 1 (scripts grep for it)`)
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "TOE_*_UTC-0_cli-1", "detailedoutput.json"))
	if len(logs) != 1 {
		t.Errorf("log folder not found in %s", dir)
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), `<testcase name="Write"`) {
		t.Errorf("junit %s %v", b, err)
	}
}

func TestToeRunFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	doc := writeToeFile(t, dir, "fail.yaml", toeFailingDoc)
	junit := filepath.Join(dir, "j.xml")
	code, out, _ := runToe("run", "-d", doc, "-l", dir, "--report", "junit="+junit)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(out, `"failedStepCount": 1`) {
		t.Errorf("summary:\n%s", out)
	}
	if b, _ := os.ReadFile(junit); !strings.Contains(string(b), "<failure") || !strings.Contains(string(b), "boom") {
		t.Errorf("junit %s", b)
	}
}

func TestToeRunConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	dir := t.TempDir()
	doc := writeToeFile(t, dir, "good.yaml", toeGoodDoc)
	cfg := writeToeFile(t, dir, "config.json", `{
  "documents": [{"path": "`+doc+`", "parameters": [{"name": "Word", "value": ["from-config"]}]}],
  "phases": "build",
  "executonId": "cfg-1",
  "logDirectory": "`+dir+`"
}`)
	work := t.TempDir()
	code, out, errOut := runToe("run", "--config", cfg, "--cwd", work)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(work, "word.txt")); string(b) != "from-config\n" {
		t.Errorf("word.txt %q", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "TOE_*_cfg-1")); len(m) != 1 {
		t.Errorf("log folder for executonId not found")
	}
	if code, _, errOut := runToe("run", "--config", cfg, "--documents", doc); code != 1 || !strings.Contains(errOut, "not both") {
		t.Errorf("documents in both places: %d %q", code, errOut)
	}
}

func TestToeUsageErrors(t *testing.T) {
	t.Chdir(t.TempDir()) // a run without --log-directory logs to the working directory
	tests := [][]string{
		{},
		{"frobnicate"},
		{"run"},
		{"run", "--documents", "x.yaml", "--parameters", "novalue"},
		{"run", "--documents", "x.yaml", "--report", "html=x"},
		{"run", "--documents", "s3://bucket/doc.yaml"},
		{"run", "--documents", "missing.yaml"},
		{"run", "--no-such-flag"},
		{"validate", "--os-platforms", "windows"},
	}
	for _, args := range tests {
		if code, _, errOut := runToe(args...); code != 1 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
}

func TestParseParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"", map[string]string{}, false},
		{"a=1,b=x=y", map[string]string{"a": "1", "b": "x=y"}, false},
		{`[{"name":"a","value":"1,2"},{"name":"b","value":["v"]}]`, map[string]string{"a": "1,2", "b": "v"}, false},
		{`{"a":"1"}`, map[string]string{"a": "1"}, false},
		{"a=", nil, true},
		{"=1", nil, true},
		{"a", nil, true},
		{`[{"name":"a","value":["1","2"]}]`, nil, true},
	}
	for _, tt := range tests {
		got, err := parseParameters(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("parseParameters(%q) = %v, %v", tt.in, got, err)
		}
	}
}
