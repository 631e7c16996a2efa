package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/s3gw"
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
	// Remote documents are read from loopback only: a closed port.
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	tests := [][]string{
		{},
		{"frobnicate"},
		{"run"},
		{"run", "--documents", "x.yaml", "--parameters", "novalue"},
		{"run", "--documents", "x.yaml", "--report", "html=x"},
		{"run", "--documents", "s3://bucket/doc.yaml", "--s3-endpoint", "http://127.0.0.1:1", "--s3-path-style"},
		{"run", "--documents", "arn:aws:imagebuilder:us-east-1:000000000000:component/x/1.0.0/1", "--endpoint", "http://127.0.0.1:1"},
		{"run", "--documents", "arn:aws:imagebuilder:us-east-1:000000000000:image-recipe/x/1.0.0"},
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

// TestToeRunAwstoeFlags: awstoe's documented run flags are accepted. The
// log folder goes to S3 through --s3-endpoint (here the Versity S3
// gateway); the CloudWatch flags are accepted and the run says they are
// not shipped; --version prints and exits.
func TestToeRunAwstoeFlags(t *testing.T) {
	srv := s3gw.Start(t)
	srv.CreateBucket("toe-logs")
	home := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", srv.Access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Secret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	dir := t.TempDir()
	doc := writeToeFile(t, dir, "good.yaml", toeGoodDoc)
	s3 := []string{"--s3-endpoint", srv.URL, "--s3-region", "us-east-1", "--s3-path-style"}
	cw := []string{"--cw-log-group", "g", "--cw-log-stream", "s", "--cw-log-region", "us-east-1", "--cw-ignore-failures"}
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string   // substring of stdout
		stderr     []string // substrings of stderr
		wantPrefix string   // key prefix of the uploaded log folder, "" for none
	}{
		{name: "version", args: []string{"--version"}, stdout: "kiln toe"},
		{name: "version short", args: []string{"-v"}, stdout: "awstoe-compatible"},
		{name: "s3 long flags", args: append([]string{"-d", doc, "-p", "build", "-i", "s3-long", "--log-s3-bucket-name", "toe-logs",
			"--log-s3-key-prefix", "runs", "--log-s3-bucket-owner", s3gw.Owner}, s3...),
			stdout: `"status": "success"`, stderr: []string{"logs uploaded to s3://toe-logs/runs/TOE_"}, wantPrefix: "runs/TOE_"},
		{name: "s3 short flags", args: append([]string{"-d", doc, "-p", "build", "-i", "s3-short", "-b", "toe-logs", "-k", "short/"}, s3...),
			stdout: `"status": "success"`, wantPrefix: "short/TOE_"},
		{name: "s3 owner mismatch fails the run", args: append([]string{"-d", doc, "-p", "build", "-i", "s3-owner", "-b", "toe-logs",
			"--log-s3-bucket-owner", "999999999999"}, s3...), code: 1, stderr: []string{"uploading the logs to s3://toe-logs/", "AccessDenied"}},
		{name: "cloudwatch", args: append([]string{"-d", doc, "-p", "build", "-i", "cw"}, cw...),
			stdout: `"status": "success"`, stderr: []string{"CloudWatch Logs streaming", `--cw-log-group "g"`, "not shipped"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			args := append([]string{"run", "-l", work, "--cwd", work}, tc.args...)
			code, out, errOut := runToe(args...)
			if code != tc.code || !strings.Contains(out, tc.stdout) {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if tc.wantPrefix == "" {
				return
			}
			var found []string
			for _, k := range srv.Keys("toe-logs") {
				if strings.HasPrefix(k, tc.wantPrefix) {
					found = append(found, k)
				}
			}
			if !slices.ContainsFunc(found, func(k string) bool { return strings.HasSuffix(k, "/detailedoutput.json") }) ||
				!slices.ContainsFunc(found, func(k string) bool { return strings.HasSuffix(k, "/console.log") }) {
				t.Errorf("uploaded under %s: %v", tc.wantPrefix, found)
			}
		})
	}
}

// TestToeRunConfigLogDestinations: a --config file's logS3BucketName and
// cwLogGroup are honoured like the flags instead of refused.
func TestToeRunConfigLogDestinations(t *testing.T) {
	dir := t.TempDir()
	doc := writeToeFile(t, dir, "good.yaml", toeGoodDoc)
	cfg := writeToeFile(t, dir, "config.json", `{"documents": [{"path": "`+doc+`"}], "phases": "build", "cwLogGroup": "grp", "logDirectory": "`+dir+`"}`)
	code, out, errOut := runToe("run", "--config", cfg, "--cwd", t.TempDir())
	if code != 0 || !strings.Contains(errOut, `--cw-log-group "grp"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}
