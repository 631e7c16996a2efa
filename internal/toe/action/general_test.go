package action

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testEnv returns an Env working in a fresh temp dir.
func testEnv(t *testing.T) (*Env, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	return &Env{Stdout: &out, Stderr: io.Discard, WorkDir: t.TempDir(), StateDir: t.TempDir()}, &out
}

func mustLookup(t *testing.T, name string) Module {
	t.Helper()
	m, ok := Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q) found nothing", name)
	}
	return m
}

func TestRegistry(t *testing.T) {
	want := []string{
		"AppendFile", "Assert", "CopyFile", "CopyFolder", "CreateFile", "CreateFolder", "CreateSymlink",
		"DeleteFile", "DeleteFolder", "ExecuteBash", "ExecuteBinary", "ExecuteDocument", "ListFiles",
		"MoveFile", "MoveFolder", "ReadFile", "Reboot", "S3Download", "S3Upload", "SetFileEncoding",
		"SetFileOwner", "SetFilePermissions", "SetFolderOwner", "SetFolderPermissions", "UpdateOS", "WebDownload",
	}
	if got := Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %v\nwant %v", got, want)
	}
	for _, n := range want {
		if m := mustLookup(t, n); m.Name() != n {
			t.Errorf("Lookup(%q).Name() = %q", n, m.Name())
		}
		if WindowsOnly(n) {
			t.Errorf("WindowsOnly(%q) = true", n)
		}
	}
	for _, n := range []string{"ExecutePowerShell", "SetRegistry", "InstallMSI", "UninstallMSI"} {
		if !WindowsOnly(n) {
			t.Errorf("WindowsOnly(%q) = false", n)
		}
		if _, ok := Lookup(n); ok {
			t.Errorf("Lookup(%q) found a Linux module", n)
		}
	}
	if _, ok := Lookup("executebash"); ok {
		t.Error("Lookup is case-insensitive; action names are case-sensitive")
	}
}

// problemPaths returns "path: message" strings for comparison.
func problemPaths(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Path)
	}
	return out
}

// TestValidate checks each module's Validate: good inputs give no
// problems, bad ones give problems at the expected paths.
func TestValidate(t *testing.T) {
	list := func(items ...any) []any { return items }
	type m = map[string]any
	tests := []struct {
		action string
		inputs any
		paths  []string // nil means valid
	}{
		{"ExecuteBash", m{"commands": list("echo hi", "exit 0")}, nil},
		{"ExecuteBash", m{"commands": "{{ build.x.outputs.cmds }}"}, nil},
		{"ExecuteBash", m{}, []string{"commands"}},
		{"ExecuteBash", m{"commands": "echo"}, []string{"commands"}},
		{"ExecuteBash", m{"commands": list("ok", m{"a": 1})}, []string{"commands[1]"}},
		{"ExecuteBash", m{"commands": list("x"), "comands": 1}, []string{"comands"}},
		{"ExecuteBash", list(m{"commands": list("x")}), []string{""}},
		{"ExecuteBinary", m{"path": "/bin/true", "arguments": list("-a", 3)}, nil},
		{"ExecuteBinary", m{"arguments": list("x")}, []string{"path"}},
		{"ExecuteBinary", m{"path": ""}, []string{"path"}},
		{"ExecuteDocument", m{"document": "child.yaml", "phases": "build", "parameters": list(m{"name": "A", "value": "b"})}, nil},
		{"ExecuteDocument", m{"document": "c.yaml", "parameters": list(m{"name": "A"})}, []string{"parameters[0].value"}},
		{"ExecuteDocument", m{"document": "c.yaml", "parameters": m{"A": "b"}}, []string{"parameters"}},
		{"Assert", m{"stringEquals": "a", "value": "{{ x }}"}, nil},
		{"Assert", m{"and": list(m{"fileExists": "/x"}, m{"not": m{"binaryExists": "y"}})}, nil},
		{"Assert", m{"not": list(m{"folderExists": "/x"})}, nil},
		{"Assert", m{"fileSHA256Equals": "ab", "path": "/f"}, nil},
		{"Assert", m{"stringEquals": "a"}, []string{"value"}},
		{"Assert", m{"stringEquals": "a", "fileExists": "b", "value": "c"}, []string{""}},
		{"Assert", m{"value": "c"}, []string{""}},
		{"Assert", m{"fileExists": "/x", "then": "Skip"}, []string{"then"}},
		{"Assert", m{"and": list(m{"fileExists": "/x"}, "oops")}, []string{"and[1]"}},
		{"Assert", m{"and": list(m{"stringEquals": "a"})}, []string{"and[0].value"}},
		{"Assert", m{"not": m{"not": m{"not": m{"not": m{"not": m{"fileExists": "x"}}}}}}, []string{"not.not.not.not.not"}},
		{"Assert", m{"not": m{"not": m{"not": m{"not": m{"fileExists": "x"}}}}}, nil},
		{"Assert", "fileExists", []string{""}},
		{"Reboot", m{"delaySeconds": 5}, nil},
		{"Reboot", m{}, nil},
		{"Reboot", nil, nil},
		{"Reboot", m{"delaySeconds": "soon"}, []string{"delaySeconds"}},
		{"Reboot", m{"delaySeconds": -1}, []string{"delaySeconds"}},
		{"UpdateOS", nil, nil},
		{"UpdateOS", m{"include": list("htop"), "exclude": list("kernel*")}, nil},
		{"UpdateOS", m{"include": "htop"}, []string{"include"}},
		{"CreateFile", list(m{"path": "/a", "permissions": "0640", "owner": "root", "overwrite": "{{ o }}"}), nil},
		{"CreateFile", list(m{"path": "/a", "permissions": 755}), nil},
		{"CreateFile", list(m{"path": "/a", "permissions": "rwx"}), []string{"[0].permissions"}},
		{"CreateFile", list(m{"path": "/a", "encoding": "latin1"}), []string{"[0].encoding"}},
		{"CreateFile", list(m{"path": "/a"}, m{"content": "x"}), []string{"[1].path"}},
		{"CreateFile", list(m{"path": "/a", "overwrite": "maybe"}), []string{"[0].overwrite"}},
		{"CreateFile", m{"path": "/a"}, []string{""}},
		{"CreateFile", list(), []string{""}},
		{"CreateFile", list("x"), []string{"[0]"}},
		{"AppendFile", list(m{"path": "/a", "content": "x", "encoding": "UTF-16-LE"}), nil},
		{"ReadFile", list(m{"path": "/a", "printFileContent": true}), nil},
		{"ListFiles", list(m{"path": "/a", "fileNamePattern": "[", "recursive": true}), []string{"[0].fileNamePattern"}},
		{"CopyFile", list(m{"source": "/a/*", "destination": "/b/"}), nil},
		{"CopyFile", list(m{"source": "/a"}), []string{"[0].destination"}},
		{"MoveFolder", list(m{"source": "/a", "destination": "/b", "overwrite": false}), nil},
		{"CreateSymlink", list(m{"path": "/l"}), []string{"[0].target"}},
		{"DeleteFile", list(m{"path": "/a", "force": true}), nil},
		{"SetFileOwner", list(m{"path": "/a"}), []string{"[0].owner"}},
		{"SetFolderPermissions", list(m{"path": "/a", "permissions": "9"}), []string{"[0].permissions"}},
		{"SetFilePermissions", list(m{"path": "/a"}), []string{"[0].permissions"}},
		{"S3Download", list(m{"source": "s3://b/k", "destination": "/tmp/k", "expectedBucketOwner": 123456789012}), nil},
		{"S3Download", list(m{"source": "https://b/k", "destination": "/tmp/k"}), []string{"[0].source"}},
		{"S3Upload", list(m{"source": "/tmp/*", "destination": "s3://b/p/", "recurse": "true"}), nil},
		{"S3Upload", list(m{"source": "/tmp/*", "destination": "b/p/"}), []string{"[0].destination"}},
		{"WebDownload", list(m{"source": "https://example.com/a", "destination": "/tmp/a", "checksum": "ab", "algorithm": "sha256"}), nil},
		{"WebDownload", list(m{"source": "ftp://example.com/a", "destination": "/tmp/a"}), []string{"[0].source"}},
		{"WebDownload", list(m{"source": "https://example.com/a", "destination": "/tmp/a", "checksum": "ab"}), []string{"[0].algorithm"}},
		{"WebDownload", list(m{"source": "https://e.com/a", "destination": "/a", "checksum": "ab", "algorithm": "CRC32"}), []string{"[0].algorithm"}},
	}
	for _, tt := range tests {
		got := problemPaths(mustLookup(t, tt.action).Validate(tt.inputs))
		if !reflect.DeepEqual(got, tt.paths) {
			t.Errorf("%s.Validate(%#v) problem paths = %q, want %q (%v)", tt.action, tt.inputs, got, tt.paths, mustLookup(t, tt.action).Validate(tt.inputs))
		}
	}
}

func bashInputs(lines ...string) map[string]any {
	cmds := make([]any, len(lines))
	for i, l := range lines {
		cmds[i] = l
	}
	return map[string]any{"commands": cmds}
}

func TestExecuteBash(t *testing.T) {
	tests := []struct {
		name       string
		commands   []string
		wantStdout string
		wantErr    string
		wantReboot bool
	}{
		{name: "output", commands: []string{"echo hello", "echo world >&2", "echo again"}, wantStdout: "hello\nagain"},
		{name: "one trailing newline trimmed", commands: []string{"printf 'a\\n\\n'"}, wantStdout: "a\n"},
		{name: "multi-line item", commands: []string{"for i in 1 2; do\n  echo $i\ndone"}, wantStdout: "1\n2"},
		{name: "no implicit -e", commands: []string{"false", "echo after"}, wantStdout: "after"},
		{name: "exit code", commands: []string{"echo partial", "echo boom >&2", "exit 3"}, wantStdout: "partial", wantErr: "exit code 3: boom"},
		{name: "reboot", commands: []string{"echo before", "exit 194"}, wantStdout: "before", wantReboot: true},
		{name: "workdir", commands: []string{`[ "$PWD" = "$EXPECT_DIR" ] && echo same`}, wantStdout: "same"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, streamed := testEnv(t)
			env.Environ = append(os.Environ(), "EXPECT_DIR="+env.WorkDir)
			res, err := mustLookup(t, "ExecuteBash").Run(context.Background(), env, bashInputs(tt.commands...))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Run: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Run error = %v, want it to contain %q", err, tt.wantErr)
			}
			if got := res.Outputs["stdout"]; got != tt.wantStdout {
				t.Errorf("stdout output = %q, want %q", got, tt.wantStdout)
			}
			if !strings.HasPrefix(streamed.String(), tt.wantStdout) {
				t.Errorf("streamed stdout = %q, want it to start with %q", streamed.String(), tt.wantStdout)
			}
			if res.Reboot != tt.wantReboot || res.ResumeAtNextStep {
				t.Errorf("Reboot = %v, ResumeAtNextStep = %v; want %v, false", res.Reboot, res.ResumeAtNextStep, tt.wantReboot)
			}
		})
	}
}

// TestExecuteBashKillsProcessGroup cancels a step whose script left a
// background child and checks that the child dies too.
func TestExecuteBashKillsProcessGroup(t *testing.T) {
	pr, pw := io.Pipe()
	env := &Env{Stdout: pw, Stderr: io.Discard, WorkDir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pids := make(chan int, 1)
	go func() {
		line, _ := bufio.NewReader(pr).ReadString('\n')
		pid, _ := strconv.Atoi(strings.TrimSpace(line))
		pids <- pid
		cancel()
		io.Copy(io.Discard, pr)
	}()
	_, err := mustLookup(t, "ExecuteBash").Run(ctx, env, bashInputs("sleep 100 &", "echo $!", "sleep 100"))
	pw.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", err)
	}
	pid := <-pids
	if pid <= 0 {
		t.Fatal("did not read the background child's pid")
	}
	// The child was SIGKILLed with its group; wait (without a time limit
	// of our own) until init has reaped it or it is a zombie.
	for !gone(pid) {
		time.Sleep(10 * time.Millisecond)
	}
}

// gone reports whether pid no longer runs (absent or a zombie).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

func TestExecuteBinary(t *testing.T) {
	env, _ := testEnv(t)
	m := mustLookup(t, "ExecuteBinary")
	res, err := m.Run(context.Background(), env, map[string]any{"path": "printf", "arguments": []any{"%s-%s\n", "a b", 7}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["stdout"] != "a b-7" {
		t.Errorf("stdout = %q, want %q", res.Outputs["stdout"], "a b-7")
	}
	script := filepath.Join(env.WorkDir, "reboot.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nexit 194\n"), 0o755)
	res, err = m.Run(context.Background(), env, map[string]any{"path": "./reboot.sh"})
	if err != nil || !res.Reboot {
		t.Errorf("exit 194: Reboot = %v, err = %v; want true, nil", res.Reboot, err)
	}
	if _, err := m.Run(context.Background(), env, map[string]any{"path": "false"}); err == nil || !strings.Contains(err.Error(), "exit code 1") {
		t.Errorf("false: err = %v, want exit code 1", err)
	}
	if _, err := m.Run(context.Background(), env, map[string]any{"path": "/no/such/binary"}); err == nil {
		t.Error("missing binary: no error")
	}
}

func TestExecuteDocument(t *testing.T) {
	env, _ := testEnv(t)
	type call struct {
		path, phases string
		params       map[string]string
	}
	var calls []call
	env.RunDocument = func(_ context.Context, path, phases string, params map[string]string) error {
		calls = append(calls, call{path, phases, params})
		if path == "bad.yaml" {
			return errors.New("step X failed")
		}
		return nil
	}
	m := mustLookup(t, "ExecuteDocument")
	_, err := m.Run(context.Background(), env, map[string]any{
		"document": "child.yaml", "phases": "build, validate",
		"parameters": []any{map[string]any{"name": "A", "value": "1"}, map[string]any{"name": "B", "value": 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []call{{"child.yaml", "build,validate", map[string]string{"A": "1", "B": "2"}}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("RunDocument calls = %+v, want %+v", calls, want)
	}
	if _, err := m.Run(context.Background(), env, map[string]any{"document": "bad.yaml"}); err == nil || !strings.Contains(err.Error(), "step X failed") {
		t.Errorf("failing child: err = %v", err)
	}
	env.RunDocument = nil
	if _, err := m.Run(context.Background(), env, map[string]any{"document": "x.yaml"}); err == nil {
		t.Error("no RunDocument: no error")
	}
}

func TestAssert(t *testing.T) {
	env, _ := testEnv(t)
	var seen map[string]any
	env.Evaluate = func(_ context.Context, expr map[string]any) (bool, error) {
		seen = expr
		switch expr["value"] {
		case "yes":
			return true, nil
		case "no":
			return false, nil
		}
		return false, errors.New("bad number")
	}
	m := mustLookup(t, "Assert")
	tests := []struct {
		value, wantErr string
	}{
		{"yes", ""},
		{"no", "assertion failed"},
		{"???", "bad number"},
	}
	for _, tt := range tests {
		in := map[string]any{"stringEquals": "yes", "value": tt.value}
		_, err := m.Run(context.Background(), env, in)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("value %q: err = %v, want %q", tt.value, err, tt.wantErr)
		}
		if !reflect.DeepEqual(seen, in) {
			t.Errorf("Evaluate got %v, want %v", seen, in)
		}
	}
	if _, err := m.Run(context.Background(), env, map[string]any{"value": "x"}); err == nil {
		t.Error("invalid expression ran")
	}
}
