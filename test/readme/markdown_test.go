package readme

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestBlocks(t *testing.T) {
	doc := "# Title\n\n```sh\necho one\n```\n\n<!-- readme-test: skip: the test command -->\n\n```bash\ngo test ./...\n```\n" +
		"text\n<!-- readme-test: skip: only before the next fence -->\nprose in between\n```sh\necho two\n```\n" +
		"- item\n\n  ```ini\n  [a]\n  b = c\n  ```\n~~~~\n```\nnot a fence end\n~~~~\nsee `inline ``` code`\n"
	got, err := Blocks(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []Block{
		{Line: 3, Lang: "sh", Body: "echo one\n"},
		{Line: 9, Lang: "bash", Body: "go test ./...\n", Skip: "the test command"},
		{Line: 15, Lang: "sh", Body: "echo two\n"},
		{Line: 20, Lang: "ini", Body: "[a]\nb = c\n"},
		{Line: 24, Lang: "", Body: "```\nnot a fence end\n"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d blocks %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := Blocks("```sh\necho\n"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("an unclosed fence: err = %v, want one naming line 1", err)
	}
}

func TestStartsKiln(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{
		{"# start\nCGO_ENABLED=0 go build -o kiln ./cmd/kiln && ./kiln serve\n", true},
		{"mkdir -p parents && ./kiln serve --allow-import-dir ./parents\n", true},
		{"./kiln serve \\\n  --listen 127.0.0.1:9090\n", true},
		{"./kiln serve --allow-import-dir /srv &\n", false},
		{"./kiln serve\n./kiln ami list\n", false},
		{"./kiln logs --follow $IMG\n", false},
		{"", false},
	} {
		if got := StartsKiln(tc.body); got != tc.want {
			t.Errorf("StartsKiln(%q) = %v, want %v", tc.body, got, tc.want)
		}
	}
}

func TestSubstitute(t *testing.T) {
	body := "BASE=oci:./base:latest   # yours: any OCI image\nskopeo copy $BASE x\n" +
		"./kiln ami run $WEB   # interactive: Ctrl-C ends it\n# a comment # interactive\n"
	got, used, err := Substitute(body, map[string]string{"BASE": "oci:/tmp/it's:latest"}, 30)
	if err != nil {
		t.Fatal(err)
	}
	want := "BASE='oci:/tmp/it'\\''s:latest'\nskopeo copy $BASE x\n" +
		"{ timeout -s INT 30 ./kiln ami run $WEB </dev/null || [ $? -eq 124 ]; }\n# a comment # interactive\n"
	if got != want {
		t.Errorf("Substitute =\n%s\nwant\n%s", got, want)
	}
	if len(used) != 1 || used[0] != "BASE" {
		t.Errorf("used = %v, want [BASE]", used)
	}
	if _, _, err := Substitute("KEY=x # yours\n", nil, 30); err == nil || !strings.Contains(err.Error(), "KEY") {
		t.Errorf("an unknown # yours name: err = %v, want one naming KEY", err)
	}
}

func FuzzBlocks(f *testing.F) {
	for _, seed := range []string{"```sh\necho\n```\n", "<!-- readme-test: skip: x -->\n~~~\na\n~~~", "  ```ini\n  a\n  ```", "````\n```\n````", "```"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		blocks, err := Blocks(doc)
		if err != nil {
			return
		}
		for _, b := range blocks {
			if b.Line < 1 || b.Line > strings.Count(doc, "\n")+1 {
				t.Fatalf("block line %d outside the document", b.Line)
			}
			if b.Body != "" && !strings.HasSuffix(b.Body, "\n") {
				t.Fatalf("body %q does not end in a newline", b.Body)
			}
			StartsKiln(b.Body)
			Substitute(b.Body, map[string]string{}, 1)
		}
	})
}

// TestGuidesRunOrSayWhyNot holds every other Markdown guide in the
// repository to the README's rule: a guide with shell blocks is run, or
// says in a marker that it is not runnable, and why.
func TestGuidesRunOrSayWhyNot(t *testing.T) {
	root := kilntest.RepoRoot()
	// The guides run by a test of their own.
	run := map[string]bool{"README.md": true}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "kiln-data") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".md") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if run[rel] {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		blocks, err := Blocks(string(raw))
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		shell := 0
		for _, b := range blocks {
			if b.Shell() && b.Skip == "" {
				shell++
			}
		}
		if shell == 0 {
			return nil
		}
		if reason, ok := NotRunnable(string(raw)); !ok || reason == "" {
			t.Errorf("%s has %d shell blocks: run it from a test, or mark it <!-- readme-test: not runnable: REASON -->", rel, shell)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
