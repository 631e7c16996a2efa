package toe

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusRun runs one document of testdata/corpus with Dir set to a fresh
// temporary folder, in which it also writes the log folder.
func corpusRun(t *testing.T, file string, phases []string, params map[string]string) (*Report, string) {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{"Dir": dir}
	for k, v := range params {
		all[k] = v
	}
	var console bytes.Buffer
	r := &Runner{Stdout: &console, LogDir: filepath.Join(dir, "logs"), WorkDir: dir, ExecutionID: "exec-1", StateDir: filepath.Join(dir, "state")}
	rep, err := r.Run(context.Background(), []DocumentSource{{Path: filepath.Join("testdata", "corpus", file)}}, phases, all)
	if err != nil {
		t.Fatalf("Run(%s): %v\nconsole:\n%s", file, err, console.String())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("console:\n%s", console.String())
		}
	})
	return rep, dir
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func wantStatus(t *testing.T, rep *Report, phase, step, status string) *StepReport {
	t.Helper()
	s := rep.Step(0, phase, step)
	if s == nil {
		t.Fatalf("no report for step %s/%s", phase, step)
	}
	if s.Status != status {
		t.Errorf("step %s/%s: status %q (%s), want %q", phase, step, s.Status, s.FailureMessage, status)
	}
	return s
}

func outputs(t *testing.T, s *StepReport) map[string]any {
	t.Helper()
	var l []map[string]any
	if err := json.Unmarshal([]byte(s.Outputs), &l); err != nil {
		t.Fatalf("outputs of %s: %v", s.Name, err)
	}
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

func TestCorpusBasics(t *testing.T) {
	rep, dir := corpusRun(t, "basics.yaml", []string{"validate", "build"}, nil)
	if rep.Status != StatusSuccess {
		t.Fatalf("status %q: %s", rep.Status, rep.FailureMessage)
	}
	fi, err := os.Stat(filepath.Join(dir, "conf"))
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("conf folder: %v, mode %v; want 0750 from unquoted permissions", err, fi.Mode().Perm())
	}
	fi, err = os.Stat(filepath.Join(dir, "conf", "app.conf"))
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("app.conf: %v, mode %v; want 0640 from an unquoted constant", err, fi.Mode().Perm())
	}
	conf := filepath.Join(dir, "conf", "app.conf")
	if got, want := readFile(t, filepath.Join(dir, "said.txt")), "hello from "+conf+"\n"; got != want {
		t.Errorf("said.txt = %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(dir, "read.txt")); got != "greeting=hello\n" {
		t.Errorf("read.txt = %q", got)
	}
	if exists(filepath.Join(dir, "test-ran")) {
		t.Error("phase test ran although not selected")
	}
	// Phases run in document order whatever --phases says.
	d := rep.Documents[0]
	if len(d.Phases) != 2 || d.Phases[0].Name != "build" || d.Phases[1].Name != "validate" {
		t.Errorf("phases %+v, want build then validate", d.Phases)
	}
	say := wantStatus(t, rep, "build", "Say", StatusSuccess)
	if got := outputs(t, say)["stdout"]; got != "hello from "+conf {
		t.Errorf("Say stdout %q", got)
	}
	if !strings.Contains(say.Inputs, `"commands":["echo \"hello from `+conf) {
		t.Errorf("Say inputs %s: want resolved inputs as a JSON list", say.Inputs)
	}
	if s := rep.Summary(); s.ExecutedStepCount != 6 || s.FailedStepCount != 0 || s.Status != StatusSuccess {
		t.Errorf("summary %+v", s)
	}

	// The log folder.
	entries, _ := os.ReadDir(filepath.Join(dir, "logs"))
	if len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), "TOE_") || !strings.HasSuffix(entries[0].Name(), "_UTC-0_exec-1") {
		t.Fatalf("log folder entries %v", entries)
	}
	logs := filepath.Join(dir, "logs", entries[0].Name())
	if rep.LogDir != logs {
		t.Errorf("LogDir %q, want %q", rep.LogDir, logs)
	}
	for _, f := range []string{"console.log", "application.log", "detailedoutput.json", "chaining.json", "document.yaml"} {
		if !exists(filepath.Join(logs, f)) {
			t.Errorf("log folder lacks %s", f)
		}
	}
	var detailed map[string]any
	if err := json.Unmarshal([]byte(readFile(t, filepath.Join(logs, "detailedoutput.json"))), &detailed); err != nil {
		t.Fatal(err)
	}
	if detailed["executionId"] != "exec-1" || detailed["status"] != "success" {
		t.Errorf("detailedoutput %v", detailed)
	}
	step := detailed["documents"].([]any)[0].(map[string]any)["phases"].([]any)[0].(map[string]any)["steps"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "status", "failureMessage", "timeoutSeconds", "onFailure", "maxAttempts", "action", "startTime", "endTime", "inputs", "outputs", "loop", "detailedOutput"} {
		if _, ok := step[k]; !ok {
			t.Errorf("detailedoutput step lacks %q", k)
		}
	}
	if step["timeoutSeconds"] != float64(7200) || step["onFailure"] != "Abort" {
		t.Errorf("step defaults %v", step)
	}
	if console := readFile(t, filepath.Join(logs, "console.log")); !strings.Contains(console, "CmdExecution: Stdout: hello from") {
		t.Errorf("console.log lacks command output:\n%s", console)
	}
	if ch := readFile(t, filepath.Join(logs, "chaining.json")); !strings.Contains(ch, "build.Say.outputs.stdout") {
		t.Errorf("chaining.json: %s", ch)
	}
}

func TestCorpusControlFlow(t *testing.T) {
	rep, dir := corpusRun(t, "control.yaml", nil, nil)
	if rep.Status != StatusSuccess {
		t.Fatalf("status %q: %s", rep.Status, rep.FailureMessage)
	}
	wantStatus(t, rep, "build", "RunsWhenTrue", StatusSuccess)
	wantStatus(t, rep, "build", "SkippedByDefault", StatusSkipped)
	wantStatus(t, rep, "build", "ThenSkip", StatusSkipped)
	wantStatus(t, rep, "build", "ElseExecute", StatusSuccess)
	for file, want := range map[string]bool{"when-true": true, "should-not-exist": false, "then-skip-ran": false, "else-ran": true} {
		if exists(filepath.Join(dir, file)) != want {
			t.Errorf("%s exists = %v, want %v", file, !want, want)
		}
	}
	count := wantStatus(t, rep, "build", "Count", StatusSuccess)
	if got := outputs(t, count)["stdout"]; got != "0:1\n1:3\n2:5" {
		t.Errorf("Count stdout %q", got)
	}
	if count.Loop == nil || count.Loop.Name != "up" || count.Loop.Iterations != 3 {
		t.Errorf("Count loop %+v", count.Loop)
	}
	if got := outputs(t, wantStatus(t, rep, "build", "Down", StatusSuccess))["stdout"]; got != "3\n2\n1" {
		t.Errorf("Down stdout %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "each-0")); got != "one" {
		t.Errorf("each-0 %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "each-1")); got != "3\n2\n1" {
		t.Errorf("each-1 %q", got)
	}
	if got := outputs(t, wantStatus(t, rep, "build", "NoLoopVars", StatusSuccess))["stdout"]; got != "{{ loop.value }} {{ .Go.Template }}" {
		t.Errorf("NoLoopVars stdout %q: placeholders outside a loop must stay", got)
	}
	if got := readFile(t, filepath.Join(dir, "report.txt")); got != "count=0:1\n1:3\n2:5\nsplit=apple\nbanana\ncherry\n" {
		t.Errorf("report.txt %q", got)
	}
}

func TestCorpusFailures(t *testing.T) {
	rep, dir := corpusRun(t, "failure.yaml", nil, nil)
	if rep.Status != StatusFailed || rep.Succeeded() {
		t.Fatalf("status %q, want failed", rep.Status)
	}
	ign := wantStatus(t, rep, "build", "Ignored", StatusIgnoredFailure)
	if !strings.Contains(ign.FailureMessage, "exit code 3") {
		t.Errorf("Ignored message %q", ign.FailureMessage)
	}
	if got := outputs(t, ign)["stdout"]; got != "about to fail" {
		t.Errorf("failed step keeps its stdout: %q", got)
	}
	wantStatus(t, rep, "build", "Retried", StatusSuccess)
	if got := strings.TrimSpace(readFile(t, filepath.Join(dir, "count"))); got != "3" {
		t.Errorf("Retried ran %s times, want 3", got)
	}
	cont := wantStatus(t, rep, "build", "Continued", StatusFailed)
	if !strings.Contains(cont.FailureMessage, "broken") || !strings.Contains(cont.Output, "broken") {
		t.Errorf("Continued: message %q output %q", cont.FailureMessage, cont.Output)
	}
	wantStatus(t, rep, "build", "AfterContinue", StatusSuccess)
	wantStatus(t, rep, "build", "Aborted", StatusFailed)
	if rep.Step(0, "build", "NeverRuns") != nil || len(rep.Documents[0].Phases) != 1 {
		t.Error("steps after an Abort ran")
	}
	for _, f := range []string{"aborted-ran", "never", "never-validate"} {
		if exists(filepath.Join(dir, f)) {
			t.Errorf("%s exists", f)
		}
	}
	s := rep.Summary()
	if s.FailedStepCount != 2 || s.IgnoredFailedStepCount != 1 || s.ExecutedStepCount != 4 {
		t.Errorf("summary %+v", s)
	}
	if !strings.Contains(rep.FailureMessage, "Continued") {
		t.Errorf("run failure message %q should name the first failed step", rep.FailureMessage)
	}

	var junit bytes.Buffer
	if err := rep.WriteJUnit(&junit); err != nil {
		t.Fatal(err)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(junit.Bytes(), &suites); err != nil {
		t.Fatalf("junit: %v\n%s", err, junit.String())
	}
	if suites.Tests != 5 || suites.Failures != 2 || len(suites.Suites) != 1 || suites.Suites[0].Name != "corpus-failure/build" {
		t.Fatalf("junit %+v", suites)
	}
	if f := suites.Suites[0].Cases[2].Failure; f == nil || !strings.Contains(f.Text, "broken") {
		t.Errorf("junit failure of Continued %+v", f)
	}
}

func TestCorpusTimeout(t *testing.T) {
	rep, _ := corpusRun(t, "timeout.yaml", nil, nil)
	slow := wantStatus(t, rep, "build", "Slow", StatusFailed)
	if !strings.Contains(slow.FailureMessage, "step timed out after 1 seconds") {
		t.Errorf("Slow message %q", slow.FailureMessage)
	}
	loop := wantStatus(t, rep, "build", "SlowLoop", StatusIgnoredFailure)
	if !strings.Contains(loop.FailureMessage, "loop timed out") || !strings.Contains(loop.FailureMessage, "iteration 0") {
		t.Errorf("SlowLoop message %q", loop.FailureMessage)
	}
}

func TestCorpusReboot(t *testing.T) {
	rep, dir := corpusRun(t, "reboot.yaml", nil, nil)
	if rep.Status != StatusSuccess {
		t.Fatalf("status %q: %s", rep.Status, rep.FailureMessage)
	}
	if got := outputs(t, rep.Step(0, "build", "NeedsReboot"))["stdout"]; got != "resumed" {
		t.Errorf("exit 194 must re-run the step: stdout %q", got)
	}
	if !exists(filepath.Join(dir, "after-reboot")) {
		t.Error("the step after Reboot did not run")
	}
	if !exists(filepath.Join(dir, "state", "reboot-exec-1.json")) {
		t.Error("no reboot state written")
	}
}

func TestCorpusNestedDocuments(t *testing.T) {
	rep, dir := corpusRun(t, "parent.yaml", nil, nil)
	if rep.Status != StatusSuccessWithIgnoredFailure {
		t.Fatalf("status %q: %s", rep.Status, rep.FailureMessage)
	}
	for _, f := range []string{"child-0", "child-1"} {
		if got := readFile(t, filepath.Join(dir, f)); got != "child\n" {
			t.Errorf("%s = %q", f, got)
		}
		if exists(filepath.Join(dir, f+".test")) {
			t.Errorf("phase test of the child ran")
		}
	}
	ch := wantStatus(t, rep, "build", "Children", StatusSuccess)
	if ch.TimeoutSeconds != -1 || len(ch.DetailedOutput) != 2 || ch.DetailedOutput[0].Status != StatusSuccess {
		t.Errorf("Children report: timeout %d, detailed %+v", ch.TimeoutSeconds, ch.DetailedOutput)
	}
	if ch.DetailedOutput[0].ExecutionID == ch.DetailedOutput[1].ExecutionID {
		t.Error("nested runs share an execution id")
	}
	if !strings.Contains(ch.Outputs, `executedStepCount`) {
		t.Errorf("Children outputs %s: want the child run summary", ch.Outputs)
	}
	cyc := wantStatus(t, rep, "build", "Cycle", StatusIgnoredFailure)
	if !strings.Contains(cyc.FailureMessage, "cycle") {
		t.Errorf("Cycle message %q", cyc.FailureMessage)
	}
}

func TestCorpusEnvironmentAndSecrets(t *testing.T) {
	t.Setenv("KILN_CORPUS_VAR", "from-env")
	rep, dir := corpusRun(t, "environment.yaml", nil, nil)
	if got := readFile(t, filepath.Join(dir, "env.txt")); got != "from-env exec-1 build/Values linux\n" {
		t.Errorf("env.txt %q", got)
	}
	secret := wantStatus(t, rep, "build", "Secret", StatusSuccess)
	if strings.Contains(secret.Outputs, "top-secret") || strings.Contains(secret.Output, "top-secret") {
		t.Errorf("disableLogging step leaked its output: %s %q", secret.Outputs, secret.Output)
	}
	console := readFile(t, filepath.Join(rep.LogDir, "console.log"))
	if strings.Contains(console, "top-secret") {
		t.Error("console.log holds a disableLogging step's output")
	}
}

// TestCorpusValid checks every corpus document validates cleanly.
func TestCorpusValid(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no corpus")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(f, data)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, p := range d.Validate() {
			t.Errorf("%v", p)
		}
	}
}
