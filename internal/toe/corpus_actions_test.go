package toe

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"unicode/utf16"

	"github.com/kiln-build/kiln/internal/s3gw"
	"github.com/kiln-build/kiln/internal/toe/action"
)

// corpusRunWith is corpusRun with a hook to set up the Runner (S3
// endpoint, environment, reboot hook) before the run.
func corpusRunWith(t *testing.T, file string, params map[string]string, configure func(dir string, r *Runner)) (*Report, string) {
	t.Helper()
	dir := t.TempDir()
	all := map[string]string{"Dir": dir}
	for k, v := range params {
		all[k] = v
	}
	var console bytes.Buffer
	r := &Runner{Stdout: &console, LogDir: filepath.Join(dir, "logs"), WorkDir: dir, ExecutionID: "exec-1", StateDir: filepath.Join(dir, "state")}
	if configure != nil {
		configure(dir, r)
	}
	rep, err := r.Run(context.Background(), []DocumentSource{{Path: filepath.Join("testdata", "corpus", file)}}, nil, all)
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

// wantFailure checks a step's status and that its failure message names
// the reason.
func wantFailure(t *testing.T, rep *Report, phase, step, status, reason string) {
	t.Helper()
	s := wantStatus(t, rep, phase, step, status)
	if !strings.Contains(s.FailureMessage, reason) {
		t.Errorf("step %s/%s: failure message %q, want it to mention %q", phase, step, s.FailureMessage, reason)
	}
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Error(err)
		return
	}
	if got := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); got != want {
		t.Errorf("%s: mode %v, want %v", path, got, want)
	}
}

func utf16LE(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func utf16BE(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return b
}

func utf32LE(s string) []byte {
	var b []byte
	for _, r := range s {
		b = binary.LittleEndian.AppendUint32(b, uint32(r))
	}
	return b
}

// TestCorpusCoversEveryAction keeps the corpus honest: every Linux action
// module must run in at least one corpus document.
func TestCorpusCoversEveryAction(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*.yaml"))
	used := map[string][]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(f, data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, ph := range d.Phases {
			for _, st := range ph.Steps {
				used[st.Action] = append(used[st.Action], filepath.Base(f))
			}
		}
	}
	names := action.Names()
	if len(names) == 0 {
		t.Fatal("no action modules registered")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if len(used[name]) == 0 {
				t.Errorf("no corpus document uses action %s; add a step to testdata/corpus", name)
			}
		})
	}
}

func TestCorpusFiles(t *testing.T) {
	rep, dir := corpusRunWith(t, "files.yaml", nil, nil)
	if rep.Status != StatusSuccessWithIgnoredFailure {
		t.Fatalf("status %q: %s", rep.Status, rep.FailureMessage)
	}
	p := func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }

	t.Run("statuses", func(t *testing.T) {
		for _, s := range []struct{ phase, step string }{
			{"build", "Stage"}, {"build", "AppendSetting"}, {"build", "ListConfig"}, {"build", "ListAll"},
			{"build", "InstallEachConfig"}, {"build", "KeepDefault"}, {"build", "CopyRelease"},
			{"build", "MoveDocs"}, {"build", "MoveEnv"}, {"build", "ArchiveStage"}, {"build", "LinkCurrent"},
			{"build", "ReadCurrent"}, {"build", "Notes"}, {"build", "MoreNotes"}, {"build", "ReadNotes"},
			{"build", "Reencode"}, {"build", "ReadMotd"}, {"build", "Scratch"},
			{"validate", "ConfigListed"}, {"validate", "CurrentConfig"}, {"validate", "CleanDefaults"}, {"validate", "Cleanup"},
		} {
			wantStatus(t, rep, s.phase, s.step, StatusSuccess)
		}
		wantFailure(t, rep, "build", "AppendToMissing", StatusIgnoredFailure, "no such file")
		wantFailure(t, rep, "build", "NoClobber", StatusIgnoredFailure, "overwrite is false")
		wantFailure(t, rep, "build", "RelinkWithoutForce", StatusIgnoredFailure, "force is false")
		wantFailure(t, rep, "validate", "RemoveNonEmptyPolitely", StatusIgnoredFailure, "not empty")
		if s := rep.Summary(); s.IgnoredFailedStepCount != 4 || s.FailedStepCount != 0 {
			t.Errorf("summary %+v", s)
		}
	})

	t.Run("outputs", func(t *testing.T) {
		got := outputs(t, rep.Step(0, "build", "ListConfig"))["files"]
		if want := p("stage/app.conf") + "," + p("stage/app.env"); got != want {
			t.Errorf("ListConfig files %q, want %q", got, want)
		}
		got = outputs(t, rep.Step(0, "build", "ListAll"))["files"]
		if want := strings.Join([]string{p("stage/README.md"), p("stage/app.conf"), p("stage/app.env"), p("stage/lib/helper.sh")}, ","); got != want {
			t.Errorf("ListAll files %q, want %q", got, want)
		}
		if got := outputs(t, rep.Step(0, "build", "ReadCurrent"))["content"]; got != "port=8080\nworkers=4\n" {
			t.Errorf("ReadCurrent content %q", got)
		}
		if got := outputs(t, rep.Step(0, "build", "ReadNotes"))["content"]; got != "first\nzweite Zeile ü\n" {
			t.Errorf("ReadNotes content %q", got)
		}
		motd := rep.Step(0, "build", "ReadMotd")
		if got := outputs(t, motd)["content"]; got != "héllo €\n" {
			t.Errorf("ReadMotd content %q", got)
		}
		if !strings.Contains(motd.Output, "héllo €") {
			t.Errorf("printFileContent: step output %q lacks the content", motd.Output)
		}
		if l := rep.Step(0, "build", "InstallEachConfig").Loop; l == nil || l.Name != "conf" || l.Iterations != 2 {
			t.Errorf("InstallEachConfig loop %+v: want 2 iterations over the listed files", l)
		}
	})

	t.Run("tree", func(t *testing.T) {
		for rel, want := range map[string]string{
			"etc/app/app.conf":          "port=8080\nworkers=4\n", // NoClobber left it alone
			"etc/app/app.env":           "MODE=prod\n",
			"releases/v2/app.conf":      "port=8080\nworkers=4\n",
			"releases/v2/lib/helper.sh": "echo helper\n",
			"shared/lib/helper.sh":      "echo helper\n",
			"docs/README.md":            "# app\n",
			"current/app.conf":          "port=8080\nworkers=4\n",
		} {
			if !exists(p(rel)) {
				t.Errorf("%s missing", rel)
			} else if got := readFile(t, p(rel)); got != want {
				t.Errorf("%s = %q, want %q", rel, got, want)
			}
		}
		for _, rel := range []string{
			"stage", "archive", "tmp/empty", // moved away, force-deleted, deleted
			"etc/app/app.conf.default", "etc/app/app.env.default", // wildcard DeleteFile
			"releases/v2/README.md", "releases/v2/app.env", // moved out
		} {
			if _, err := os.Lstat(p(rel)); err == nil {
				t.Errorf("%s still exists", rel)
			}
		}
		wantMode(t, p("releases/v2/lib/helper.sh"), 0o755)
		wantMode(t, p("shared/lib/helper.sh"), 0o755)
		if link, err := os.Readlink(p("current")); err != nil || link != p("releases/v2") {
			t.Errorf("current -> %q (%v), want %q", link, err, p("releases/v2"))
		}
	})

	t.Run("encodings", func(t *testing.T) {
		for _, tt := range []struct {
			rel  string
			want []byte
		}{
			{"notes.txt", utf16LE("first\nzweite Zeile ü\n")},
			{"etc/app/environment", utf16BE("MODE=prod\n")},
			{"motd", utf32LE("héllo €\n")},
		} {
			got, err := os.ReadFile(p(tt.rel))
			if err != nil {
				t.Error(err)
				continue
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("%s bytes\n got % x\nwant % x", tt.rel, got, tt.want)
			}
		}
	})
}

func TestCorpusPermissions(t *testing.T) {
	rep, dir := corpusRunWith(t, "permissions.yaml", nil, nil)
	if rep.Status != StatusSuccessWithIgnoredFailure {
		t.Fatalf("status %q: %s", rep.Status, rep.FailureMessage)
	}
	for _, step := range []string{"Install", "LinkOutside", "Tree", "EtcOnly", "Files", "DropBox", "Sticky", "RunTool"} {
		wantStatus(t, rep, "build", step, StatusSuccess)
	}
	wantFailure(t, rep, "build", "MissingFile", StatusIgnoredFailure, "no such file")
	wantFailure(t, rep, "build", "FolderIsNotAFile", StatusIgnoredFailure, "SetFolderPermissions")

	tool := filepath.Join(dir, "opt", "tool")
	for _, tt := range []struct {
		rel  string
		want fs.FileMode
	}{
		{"", 0o755},
		{"bin", 0o755},
		{"bin/tool", 0o750},                   // from the ScriptMode parameter
		{"bin/helper", 0o755 | fs.ModeSetuid}, // 4755
		{"etc", 0o700},                        // recursive: false
		{"etc/tool.conf", 0o755},              // set by the recursive Tree step, kept by EtcOnly
		{"etc/secret.key", 0o400},             // unquoted 0400
		{"../../outside.txt", 0o600},          // the link in etc was not followed
		{"../../drop", 0o777 | fs.ModeSticky}, // 1777
	} {
		wantMode(t, filepath.Join(tool, filepath.FromSlash(tt.rel)), tt.want)
	}
	if fi, err := os.Lstat(filepath.Join(tool, "etc", "outside")); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("etc/outside: %v, %v; want the link kept", fi, err)
	}
	if got := outputs(t, rep.Step(0, "build", "RunTool"))["stdout"]; got != "tool ran" {
		t.Errorf("RunTool stdout %q", got)
	}
}

func TestCorpusOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SetFileOwner/SetFolderOwner need root to give files to uid 65534")
	}
	rep, dir := corpusRunWith(t, "ownership.yaml", nil, nil)
	if rep.Status != StatusSuccessWithIgnoredFailure {
		t.Fatalf("status %q: %s", rep.Status, rep.FailureMessage)
	}
	for _, step := range []string{"Layout", "LinkConf", "DataTree", "SpoolTopOnly", "ConfThroughLink", "GroupOnly"} {
		wantStatus(t, rep, "build", step, StatusSuccess)
	}
	wantFailure(t, rep, "build", "UnknownUser", StatusIgnoredFailure, "no such user")
	wantFailure(t, rep, "build", "FileIsNotAFolder", StatusIgnoredFailure, "not a folder")

	const nobody = 65534
	for _, tt := range []struct {
		rel      string
		uid, gid uint32
	}{
		{"data", nobody, nobody},
		{"data/state.db", nobody, nobody},
		{"data/cache", nobody, nobody},
		{"data/cache/blob", nobody, nobody},
		{"spool", nobody, nobody}, // group defaults to the owner's primary group
		{"spool/incoming", 0, 0},  // recursive: false
		{"spool/incoming/job", 0, 0},
		{"service.conf", nobody, nobody}, // changed through conf-link
		{"conf-link", 0, 0},              // the link itself is not
		{"shared.log", 0, nobody},
	} {
		fi, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(tt.rel)))
		if err != nil {
			t.Error(err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != tt.uid || st.Gid != tt.gid {
			t.Errorf("%s owned by %d:%d, want %d:%d", tt.rel, st.Uid, st.Gid, tt.uid, tt.gid)
		}
	}
}

// hitCounter counts requests per path for the download test's HTTP
// server.
type hitCounter struct {
	mu   sync.Mutex
	hits map[string]int
}

func (h *hitCounter) add(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hits == nil {
		h.hits = map[string]int{}
	}
	h.hits[path]++
	return h.hits[path]
}

func (h *hitCounter) get(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits[path]
}

func TestCorpusDownloads(t *testing.T) {
	// The gateway's credentials for the SDK's default chain (a real
	// S3-compatible server, see internal/s3gw). Keep any local AWS config
	// out of the way.
	cfg := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", s3gw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3gw.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(cfg, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(cfg, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	const bucket = "corpus-artifacts"
	s3 := s3gw.Start(t)
	s3.Put(bucket, "tools/install.sh", []byte("#!/bin/sh\nmkdir -p \"$1\"\necho 1.2.3 > \"$1/VERSION\"\necho \"installed to $1\"\n"))
	s3.Put(bucket, "tools/README.txt", []byte("read me\n"))
	s3.Put(bucket, "config/app.yaml", []byte("app: true\n"))
	s3.Put(bucket, "config/nested/db.yaml", []byte("db: true\n"))
	s3.Put(bucket, "config/logs/", nil)

	agent := []byte("agent package 1.2.3\n")
	bundle := []byte("bundle contents\n")
	agentSum := sha256.Sum256(agent)
	bundleSum := md5.Sum(bundle)
	var hits hitCounter
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.add(r.URL.Path)
		switch r.URL.Path {
		case "/pkg/agent-1.2.3.rpm":
			w.Write(agent)
		case "/pkg/bundle.tar":
			if r.URL.Query().Get("version") != "7" {
				http.Error(w, "want version=7", http.StatusBadRequest)
				return
			}
			w.Write(bundle)
		case "/pkg/tampered.rpm":
			w.Write([]byte("agent package 1.2.3 with a surprise\n"))
		case "/flaky/license.txt":
			if n == 1 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("MIT\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer web.Close()

	rep, dir := corpusRunWith(t, "downloads.yaml", map[string]string{
		"Bucket":      bucket,
		"BaseURL":     web.URL,
		"AgentSHA256": hex.EncodeToString(agentSum[:]),
		"BundleMD5":   hex.EncodeToString(bundleSum[:]),
	}, func(_ string, r *Runner) {
		r.S3 = action.S3Options{Endpoint: s3.URL, Region: "us-east-1", UsePathStyle: true}
	})
	p := func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }

	if rep.Status != StatusFailed {
		t.Errorf("status %q, want failed from the Continue step", rep.Status)
	}
	for _, s := range []struct{ phase, step string }{
		{"build", "Downloads"}, {"build", "FetchTools"}, {"build", "RunInstaller"}, {"build", "FetchAgent"},
		{"build", "FetchAgentAgain"}, {"build", "FlakyMirror"},
		{"validate", "AgentVerified"}, {"validate", "Report"}, {"validate", "ShipReport"},
	} {
		wantStatus(t, rep, s.phase, s.step, StatusSuccess)
	}
	wantFailure(t, rep, "build", "KeepLocalCopy", StatusIgnoredFailure, `"overwrite" property`)
	wantFailure(t, rep, "build", "NoParentFolder", StatusIgnoredFailure, "does not exist")
	wantFailure(t, rep, "build", "TamperedMirror", StatusFailed, "checksum mismatch")
	wantFailure(t, rep, "build", "MissingPackage", StatusIgnoredFailure, "404")
	if s := rep.Summary(); s.FailedStepCount != 1 || s.IgnoredFailedStepCount != 3 {
		t.Errorf("summary %+v", s)
	}

	t.Run("S3Download", func(t *testing.T) {
		for rel, want := range map[string]string{
			"downloads/README.txt":            "read me\n",
			"downloads/config/app.yaml":       "app: true\n",
			"downloads/config/nested/db.yaml": "db: true\n",
			"installed/VERSION":               "1.2.3\n",
		} {
			if !exists(p(rel)) {
				t.Errorf("%s missing", rel)
			} else if got := readFile(t, p(rel)); got != want {
				t.Errorf("%s = %q, want %q", rel, got, want)
			}
		}
		if fi, err := os.Stat(p("downloads/config/logs")); err != nil || !fi.IsDir() {
			t.Errorf("folder marker config/logs/ not created as a folder: %v", err)
		}
		if exists(p("not-created")) {
			t.Error("S3Download created a missing parent folder")
		}
		if got := outputs(t, rep.Step(0, "build", "RunInstaller"))["stdout"]; got != "installed to "+p("installed") {
			t.Errorf("RunInstaller stdout %q", got)
		}
	})

	t.Run("WebDownload", func(t *testing.T) {
		got := outputs(t, rep.Step(0, "build", "FetchAgent"))["destination"]
		if want := p("web/agent-1.2.3.rpm") + "\n" + p("web/nested/bundle.tar"); got != want {
			t.Errorf("FetchAgent destination %q, want %q", got, want)
		}
		if got := outputs(t, rep.Step(0, "build", "FetchAgentAgain"))["destination"]; got != p("web/agent-1.2.3.rpm") {
			t.Errorf("FetchAgentAgain destination %q", got)
		}
		if n := hits.get("/pkg/agent-1.2.3.rpm"); n != 1 {
			t.Errorf("agent fetched %d times; a file matching the checksum must not be downloaded again", n)
		}
		if got := readFile(t, p("web/nested/bundle.tar")); got != string(bundle) {
			t.Errorf("bundle.tar = %q", got)
		}
		if n := hits.get("/flaky/license.txt"); n != 2 {
			t.Errorf("flaky source requested %d times, want one retry after 503", n)
		}
		if got := readFile(t, p("web/license.txt")); got != "MIT\n" {
			t.Errorf("license.txt = %q", got)
		}
		entries, _ := os.ReadDir(p("web"))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if strings.Join(names, " ") != "agent-1.2.3.rpm license.txt nested" {
			t.Errorf("web/ holds %v: a checksum mismatch or 404 must leave nothing behind", names)
		}
	})

	t.Run("S3Upload", func(t *testing.T) {
		want := map[string]string{
			"reports/summary.txt":          "installed to " + p("installed") + "\n" + p("web/agent-1.2.3.rpm") + "\n" + p("web/nested/bundle.tar") + "\n",
			"backup/config/app.yaml":       "app: true\n",
			"backup/config/nested/db.yaml": "db: true\n",
			"web/agent-1.2.3.rpm":          string(agent),
			"web/license.txt":              "MIT\n",
			"agents/current.rpm":           string(agent),
		}
		for key, content := range want {
			got, ok := s3.Get(bucket, key)
			if !ok {
				t.Errorf("s3://%s/%s not uploaded", bucket, key)
			} else if string(got) != content {
				t.Errorf("s3://%s/%s = %q, want %q", bucket, key, got, content)
			}
		}
		if _, ok := s3.Get(bucket, "web/nested/bundle.tar"); ok {
			t.Error("S3Upload without recurse uploaded a subfolder")
		}
	})
}

// stub writes an executable shell script.
func stub(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestCorpusSystem(t *testing.T) {
	// The steps' PATH holds only stand-ins and sh, so UpdateOS can find no
	// real package manager whatever the host has installed.
	tools := t.TempDir()
	calls := filepath.Join(tools, "calls.log")
	record := `printf '%s %s [%s]\n' "${0##*/}" "$*" "$DEBIAN_FRONTEND" >> "$KILN_CORPUS_CALLS"` + "\n"
	stub(t, filepath.Join(tools, "apt-get"), record)
	stub(t, filepath.Join(tools, "apt-mark"), record+`[ "$1" = showhold ] && echo already-held`+"\nexit 0\n")
	stub(t, filepath.Join(tools, "kiln-corpus-tool"), `echo "kiln-corpus-tool 1.0 $1"`+"\n")
	if err := os.Symlink("/bin/sh", filepath.Join(tools, "sh")); err != nil {
		t.Fatal(err)
	}
	var reboots []RebootRequest
	rep, dir := corpusRunWith(t, "system.yaml", nil, func(_ string, r *Runner) {
		r.Environ = []string{"PATH=" + tools, "KILN_CORPUS_CALLS=" + calls}
		r.Reboot = func(_ context.Context, req RebootRequest) error {
			reboots = append(reboots, req)
			return nil
		}
	})
	if rep.Status != StatusSuccessWithIgnoredFailure {
		t.Fatalf("status %q: %s", rep.Status, rep.FailureMessage)
	}
	for _, step := range []string{"PatchEverything", "PatchSelected", "PatchAllButKernel", "Greet", "Argv", "ToolOnPath", "SaveGreeting", "NeedsReboot"} {
		wantStatus(t, rep, "build", step, StatusSuccess)
	}

	t.Run("UpdateOS", func(t *testing.T) {
		const upgrade = "apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
		want := strings.Join([]string{
			// PatchEverything
			"apt-get update [noninteractive]",
			upgrade + "--with-new-pkgs upgrade [noninteractive]",
			// PatchSelected: include minus exclude, only upgrades
			"apt-get update [noninteractive]",
			upgrade + "install --only-upgrade openssl libssl3 [noninteractive]",
			// PatchAllButKernel: hold what is not held yet, release it after
			"apt-get update [noninteractive]",
			"apt-mark showhold [noninteractive]",
			"apt-mark hold linux-image-amd64 [noninteractive]",
			upgrade + "--with-new-pkgs upgrade [noninteractive]",
			"apt-mark unhold linux-image-amd64 [noninteractive]",
		}, "\n") + "\n"
		if got := readFile(t, calls); got != want {
			t.Errorf("package manager calls:\n%s\nwant:\n%s", got, want)
		}
	})

	t.Run("ExecuteBinary", func(t *testing.T) {
		for step, want := range map[string]string{
			"Greet":       "hello from " + dir,
			"Argv":        "3|two words|*|$HOME|",
			"ToolOnPath":  "kiln-corpus-tool 1.0 --version",
			"NeedsReboot": "resumed",
		} {
			if got := outputs(t, rep.Step(0, "build", step))["stdout"]; got != want {
				t.Errorf("%s stdout %q, want %q", step, got, want)
			}
		}
		if got := readFile(t, filepath.Join(dir, "greeting.txt")); got != "hello from "+dir {
			t.Errorf("greeting.txt %q: want Greet's stdout chained in", got)
		}
		broken := rep.Step(0, "build", "Broken")
		wantFailure(t, rep, "build", "Broken", StatusIgnoredFailure, "exit code 7: disk full")
		if got := outputs(t, broken)["stdout"]; got != "partial" {
			t.Errorf("Broken keeps its stdout: %q", got)
		}
	})

	t.Run("reboot", func(t *testing.T) {
		if len(reboots) != 1 {
			t.Fatalf("reboot requests %+v, want one from NeedsReboot", reboots)
		}
		if r := reboots[0]; r.Step != "NeedsReboot" || r.Phase != "build" || r.ResumeAtNextStep {
			t.Errorf("reboot request %+v: want build/NeedsReboot, re-running the step", r)
		}
		if !exists(filepath.Join(dir, "rebooted")) || !exists(filepath.Join(dir, "state", "reboot-exec-1.json")) {
			t.Error("exit 194 left no marker or no reboot state")
		}
	})
}
