package toe

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sharedCorpus is the team's folder of real component documents
// (../shared/toe-corpus next to the repository or its worktree), or ""
// when it is absent. Nothing of it is committed: several documents carry
// licences that do not allow it.
func sharedCorpus() string {
	for _, dir := range []string{"../../../shared/toe-corpus", "../../../../shared/toe-corpus"} {
		if _, err := os.Stat(filepath.Join(dir, "SOURCES.md")); err == nil {
			return dir
		}
	}
	return ""
}

// corpusVerdicts reads SOURCES.md's table: file name → "valid" or
// "invalid", as judged against AWS's documentation (Windows-only documents
// are invalid for Linux validation).
func corpusVerdicts(t *testing.T, dir string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "|")
		if len(cells) < 9 || !strings.HasPrefix(sc.Text(), "| ") {
			continue
		}
		name, verdict := strings.TrimSpace(cells[1]), strings.TrimSpace(cells[7])
		if verdict == "valid" || verdict == "invalid" {
			out[name] = verdict
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSharedCorpusValidates validates every document of the shared corpus
// for Linux and compares with its verdict: a valid document must validate,
// an invalid one must not. It skips when ../shared is absent.
func TestSharedCorpusValidates(t *testing.T) {
	dir := sharedCorpus()
	if dir == "" {
		t.Skip("no ../shared/toe-corpus")
	}
	verdicts := corpusVerdicts(t, dir)
	if len(verdicts) == 0 {
		t.Fatal("SOURCES.md lists no verdicts")
	}
	validated := 0
	for name, verdict := range verdicts {
		src, err := os.ReadFile(filepath.Join(dir, "docs", name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		d, err := Parse(name, src)
		var probs []Problem
		if err == nil {
			probs = d.Validate()
		}
		ok := err == nil && len(probs) == 0
		if ok {
			validated++
		}
		switch {
		case verdict == "valid" && !ok:
			t.Errorf("%s is valid for AWS but kiln refuses it: %v %v", name, err, probs)
		case verdict == "invalid" && ok:
			t.Errorf("%s is invalid for AWS but kiln accepts it", name)
		}
	}
	t.Logf("%d of %d corpus documents validate", validated, len(verdicts))
}

// TestSharedCorpusExecuteDocumentInputs runs the shared corpus's
// reconstruction of the AWSTOE guide's ExecuteDocument output example and
// compares the recorded inputs with the documented ones: ExecuteDocument
// records its defaults (document-s3-bucket-owner, phases, parameters)
// when the step leaves them out, the nested ExecuteBash step only what it
// was given. It skips when ../shared is absent.
func TestSharedCorpusExecuteDocumentInputs(t *testing.T) {
	dir := sharedCorpus()
	if dir == "" {
		t.Skip("no ../shared/toe-corpus")
	}
	work := t.TempDir()
	for _, f := range []string{"main.yaml", "Sample-1.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, "runs", "executedocument", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(work, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &Runner{Stdout: io.Discard, WorkDir: work, ExecutionID: "exec-1"}
	rep, err := r.Run(context.Background(), []DocumentSource{{Path: filepath.Join(work, "main.yaml")}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	step := wantStatus(t, rep, "build", "ExecuteNestedDocument", StatusSuccess)
	// As the guide prints them (the key order is encoding/json's).
	want := `[{"document":"Sample-1.yaml","document-s3-bucket-owner":"","phases":"","parameters":null}]`
	var got, documented any
	if err := json.Unmarshal([]byte(step.Inputs), &got); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(want), &documented)
	if !reflect.DeepEqual(got, documented) {
		t.Errorf("ExecuteDocument inputs\n got %s\nwant %s", step.Inputs, want)
	}
	if len(step.DetailedOutput) != 1 {
		t.Fatalf("detailedOutput: %+v", step.DetailedOutput)
	}
	nested := step.DetailedOutput[0].Step(0, "build", "ExecuteBashStep")
	if nested == nil || nested.Inputs != `[{"commands":["echo \"Hello World!\""]}]` || nested.Outputs != `[{"stdout":"Hello World!"}]` {
		t.Errorf("nested step: %+v", nested)
	}
}
