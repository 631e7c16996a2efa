package action

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// tree describes files under a root: "dir/" entries are folders,
// "name->target" entries are symlinks, others are files with content.
type tree map[string]string

func (tr tree) write(t *testing.T, root string) {
	t.Helper()
	keys := make([]string, 0, len(tr))
	for k := range tr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := filepath.Join(root, k)
		switch {
		case strings.HasSuffix(k, "/"):
			must(t, os.MkdirAll(p, 0o755))
		case strings.Contains(k, "->"):
			name, target, _ := strings.Cut(k, "->")
			must(t, os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755))
			must(t, os.Symlink(target, filepath.Join(root, name)))
		default:
			must(t, os.MkdirAll(filepath.Dir(p), 0o755))
			must(t, os.WriteFile(p, []byte(tr[k]), 0o644))
		}
	}
}

// readTree reads root back in tree's notation.
func readTree(t *testing.T, root string) tree {
	t.Helper()
	out := tree{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel+"->"+target] = ""
		case d.IsDir():
			out[rel+"/"] = ""
		default:
			b, _ := os.ReadFile(p)
			out[rel] = string(b)
		}
		return nil
	})
	must(t, err)
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ops builds a batch module's inputs from maps.
func ops(items ...map[string]any) []any {
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it
	}
	return out
}

type m = map[string]any

// TestFileModules runs each file module in a temp dir holding before,
// then compares the dir with after (nil: unchanged) and the error.
func TestFileModules(t *testing.T) {
	base := tree{"a.txt": "A", "b.txt": "B", "c.log": "C", "d/": "", "d/x.txt": "X", "d/e/": "", "d/e/y.txt": "Y"}
	with := func(extra tree, drop ...string) tree {
		out := tree{}
		for k, v := range base {
			out[k] = v
		}
		for _, d := range drop {
			delete(out, d)
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name    string
		action  string
		inputs  []any
		after   tree
		outputs map[string]any
		wantErr string
	}{
		{name: "append", action: "AppendFile", inputs: ops(m{"path": "a.txt", "content": "++"}), after: with(tree{"a.txt": "A++"})},
		{name: "append utf16", action: "AppendFile", inputs: ops(m{"path": "a.txt", "content": "é", "encoding": "utf16-BE"}), after: with(tree{"a.txt": "A\x00\xe9"})},
		{name: "append missing file", action: "AppendFile", inputs: ops(m{"path": "zz", "content": "x"}), wantErr: "no such file"},

		{name: "copy file", action: "CopyFile", inputs: ops(m{"source": "a.txt", "destination": "new/dir/a2.txt"}), after: with(tree{"new/": "", "new/dir/": "", "new/dir/a2.txt": "A"})},
		{name: "copy into folder", action: "CopyFile", inputs: ops(m{"source": "a.txt", "destination": "d/"}), after: with(tree{"d/a.txt": "A"})},
		{name: "copy wildcard", action: "CopyFile", inputs: ops(m{"source": "*.txt", "destination": "out/"}), after: with(tree{"out/": "", "out/a.txt": "A", "out/b.txt": "B"})},
		{name: "copy wildcard needs folder", action: "CopyFile", inputs: ops(m{"source": "*.txt", "destination": "out"}), wantErr: "end the destination with /"},
		{name: "copy overwrite", action: "CopyFile", inputs: ops(m{"source": "a.txt", "destination": "b.txt"}), after: with(tree{"b.txt": "A"})},
		{name: "copy no overwrite", action: "CopyFile", inputs: ops(m{"source": "a.txt", "destination": "b.txt", "overwrite": false}), wantErr: "overwrite is false"},
		{name: "copy onto folder", action: "CopyFile", inputs: ops(m{"source": "a.txt", "destination": "d"}), wantErr: "is a folder"},
		{name: "copy missing source", action: "CopyFile", inputs: ops(m{"source": "nope", "destination": "x"}), wantErr: "no such file"},
		{name: "copy folder as file", action: "CopyFile", inputs: ops(m{"source": "d", "destination": "x"}), wantErr: "CopyFolder"},
		{name: "copy no match", action: "CopyFile", inputs: ops(m{"source": "*.none", "destination": "x/"}), wantErr: "no files match"},
		{name: "copy wildcard in folder", action: "CopyFile", inputs: ops(m{"source": "*/x.txt", "destination": "x/"}), wantErr: "last path segment"},
		{name: "first op fails stops", action: "CopyFile", inputs: ops(m{"source": "a.txt", "destination": "one"}, m{"source": "nope", "destination": "two"}, m{"source": "a.txt", "destination": "three"}), wantErr: "operation 2 of 3"},

		{name: "copy folder as name", action: "CopyFolder", inputs: ops(m{"source": "d", "destination": "d2"}), after: with(tree{"d2/": "", "d2/x.txt": "X", "d2/e/": "", "d2/e/y.txt": "Y"})},
		{name: "copy folder into", action: "CopyFolder", inputs: ops(m{"source": "d/e", "destination": "z/"}), after: with(tree{"z/": "", "z/e/": "", "z/e/y.txt": "Y"})},
		{name: "copy folder merge", action: "CopyFolder", inputs: ops(m{"source": "d/e", "destination": "d"}), after: with(tree{"d/y.txt": "Y"})},
		{name: "copy folder no overwrite", action: "CopyFolder", inputs: ops(m{"source": "d/e", "destination": "d", "overwrite": false}), wantErr: "overwrite is false"},
		{name: "copy folder into itself", action: "CopyFolder", inputs: ops(m{"source": "d", "destination": "d/e/"}), wantErr: "into itself"},
		{name: "copy file as folder", action: "CopyFolder", inputs: ops(m{"source": "a.txt", "destination": "q"}), wantErr: "not a folder"},

		{name: "create file", action: "CreateFile", inputs: ops(m{"path": "n/f.conf", "content": "mode=prod\n"}), after: with(tree{"n/": "", "n/f.conf": "mode=prod\n"})},
		{name: "create file empty", action: "CreateFile", inputs: ops(m{"path": "marker"}), after: with(tree{"marker": ""})},
		{name: "create file overwrite", action: "CreateFile", inputs: ops(m{"path": "a.txt", "content": "new"}), after: with(tree{"a.txt": "new"})},
		{name: "create file utf32", action: "CreateFile", inputs: ops(m{"path": "u", "content": "A", "encoding": "utf32"}), after: with(tree{"u": "A\x00\x00\x00"})},
		{name: "create file no overwrite", action: "CreateFile", inputs: ops(m{"path": "a.txt", "overwrite": "false"}), wantErr: "overwrite is false"},
		{name: "create file unknown owner", action: "CreateFile", inputs: ops(m{"path": "o", "owner": "no-such-user-kiln"}), wantErr: "no such user"},

		{name: "create folder", action: "CreateFolder", inputs: ops(m{"path": "p/q/r"}), after: with(tree{"p/": "", "p/q/": "", "p/q/r/": ""})},
		{name: "create folder exists keeps contents", action: "CreateFolder", inputs: ops(m{"path": "d"}), after: base},
		{name: "create folder no overwrite", action: "CreateFolder", inputs: ops(m{"path": "d", "overwrite": false}), wantErr: "overwrite is false"},
		{name: "create folder over file", action: "CreateFolder", inputs: ops(m{"path": "a.txt"}), wantErr: "not a folder"},

		{name: "delete file", action: "DeleteFile", inputs: ops(m{"path": "a.txt"}), after: with(nil, "a.txt")},
		{name: "delete wildcard", action: "DeleteFile", inputs: ops(m{"path": "*", "force": true}), after: tree{"d/": "", "d/x.txt": "X", "d/e/": "", "d/e/y.txt": "Y"}},
		{name: "delete missing file", action: "DeleteFile", inputs: ops(m{"path": "nope"}), after: base},
		{name: "delete file is folder", action: "DeleteFile", inputs: ops(m{"path": "d"}), wantErr: "DeleteFolder"},

		{name: "delete folder forced", action: "DeleteFolder", inputs: ops(m{"path": "d", "force": true}), after: with(nil, "d/", "d/x.txt", "d/e/", "d/e/y.txt")},
		{name: "delete folder not empty", action: "DeleteFolder", inputs: ops(m{"path": "d"}), wantErr: "not empty"},
		{name: "delete folder missing", action: "DeleteFolder", inputs: ops(m{"path": "gone"}), after: base},
		{name: "delete folder is file", action: "DeleteFolder", inputs: ops(m{"path": "a.txt"}), wantErr: "not a folder"},

		{name: "move file", action: "MoveFile", inputs: ops(m{"source": "a.txt", "destination": "m/a.txt"}), after: with(tree{"m/": "", "m/a.txt": "A"}, "a.txt")},
		{name: "move wildcard", action: "MoveFile", inputs: ops(m{"source": "*.txt", "destination": "d/"}), after: with(tree{"d/a.txt": "A", "d/b.txt": "B"}, "a.txt", "b.txt")},
		{name: "move no overwrite", action: "MoveFile", inputs: ops(m{"source": "a.txt", "destination": "b.txt", "overwrite": false}), wantErr: "overwrite is false"},

		{name: "move folder", action: "MoveFolder", inputs: ops(m{"source": "d/e", "destination": "top/e2"}), after: with(tree{"top/": "", "top/e2/": "", "top/e2/y.txt": "Y"}, "d/e/", "d/e/y.txt")},
		{name: "move folder merge", action: "MoveFolder", inputs: ops(m{"source": "d/e", "destination": "d"}), after: with(tree{"d/y.txt": "Y"}, "d/e/", "d/e/y.txt")},
		{name: "move folder into itself", action: "MoveFolder", inputs: ops(m{"source": "d", "destination": "d/e/"}), wantErr: "into itself"},

		{name: "list", action: "ListFiles", inputs: ops(m{"path": "."}), after: base, outputs: m{"files": "@/a.txt,@/b.txt,@/c.log"}},
		{name: "list pattern recursive", action: "ListFiles", inputs: ops(m{"path": ".", "fileNamePattern": "*.txt", "recursive": true}), after: base, outputs: m{"files": "@/a.txt,@/b.txt,@/d/e/y.txt,@/d/x.txt"}},
		{name: "list two ops", action: "ListFiles", inputs: ops(m{"path": "d"}, m{"path": "d/e"}), after: base, outputs: m{"files": "@/d/x.txt\n@/d/e/y.txt"}},
		{name: "list missing", action: "ListFiles", inputs: ops(m{"path": "zz"}), wantErr: "no such file"},

		{name: "read", action: "ReadFile", inputs: ops(m{"path": "d/x.txt"}), after: base, outputs: m{"content": "X"}},
		{name: "read missing", action: "ReadFile", inputs: ops(m{"path": "zz"}), wantErr: "no such file"},

		{name: "symlink", action: "CreateSymlink", inputs: ops(m{"path": "links/l", "target": "a.txt"}), after: with(tree{"links/": "", "links/l->@/a.txt": ""})},
		{name: "symlink missing target", action: "CreateSymlink", inputs: ops(m{"path": "l", "target": "nope"}), wantErr: "target"},
		{name: "symlink over file", action: "CreateSymlink", inputs: ops(m{"path": "b.txt", "target": "a.txt", "force": true}), wantErr: "not a symbolic link"},

		{name: "set encoding", action: "SetFileEncoding", inputs: ops(m{"path": "a.txt", "encoding": "utf-16-le"}), after: with(tree{"a.txt": "A\x00"})},
		{name: "set encoding missing", action: "SetFileEncoding", inputs: ops(m{"path": "zz"}), wantErr: "no such file"},

		{name: "file permissions missing", action: "SetFilePermissions", inputs: ops(m{"path": "zz", "permissions": "0600"}), wantErr: "no such file"},
		{name: "file permissions on folder", action: "SetFilePermissions", inputs: ops(m{"path": "d", "permissions": "0600"}), wantErr: "SetFolderPermissions"},
		{name: "folder permissions missing", action: "SetFolderPermissions", inputs: ops(m{"path": "zz", "permissions": "0700"}), wantErr: "no such file"},
		{name: "file owner missing user", action: "SetFileOwner", inputs: ops(m{"path": "a.txt", "owner": "no-such-user-kiln"}), wantErr: "no such user"},
		{name: "file owner missing file", action: "SetFileOwner", inputs: ops(m{"path": "zz", "owner": "root"}), wantErr: "no such file"},
		{name: "folder owner on file", action: "SetFolderOwner", inputs: ops(m{"path": "a.txt", "owner": "root"}), wantErr: "not a folder"},
		{name: "folder owner missing group", action: "SetFolderOwner", inputs: ops(m{"path": "d", "owner": "root", "group": "no-such-group-kiln"}), wantErr: "no such group"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, _ := testEnv(t)
			root := env.WorkDir
			base.write(t, root)
			res, err := mustLookup(t, tt.action).Run(context.Background(), env, tt.inputs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			want := tree{}
			for k, v := range tt.after {
				want[strings.ReplaceAll(k, "@", root)] = v
			}
			if got := readTree(t, root); !reflect.DeepEqual(got, want) {
				t.Errorf("tree after =\n%v\nwant\n%v", got, want)
			}
			var wantOut map[string]any
			for k, v := range tt.outputs {
				if wantOut == nil {
					wantOut = map[string]any{}
				}
				wantOut[k] = strings.ReplaceAll(v.(string), "@", root)
			}
			if !reflect.DeepEqual(res.Outputs, wantOut) {
				t.Errorf("outputs = %q, want %q", res.Outputs, wantOut)
			}
		})
	}
}

func mode(t *testing.T, p string) uint32 {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Lstat(p, &st))
	return st.Mode & 0o7777
}

func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Lstat(p, &st))
	return st.Uid, st.Gid
}

func TestPermissionsAndOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	env, _ := testEnv(t)
	root := env.WorkDir
	tree{"f": "x", "d/": "", "d/g": "y", "d/s/": "", "d/s/h": "z"}.write(t, root)
	run := func(action string, inputs ...map[string]any) {
		t.Helper()
		if _, err := mustLookup(t, action).Run(context.Background(), env, ops(inputs...)); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
	}
	run("SetFilePermissions", m{"path": "f", "permissions": "0600"})
	if got := mode(t, filepath.Join(root, "f")); got != 0o600 {
		t.Errorf("f mode = %o, want 600", got)
	}
	run("SetFilePermissions", m{"path": "f", "permissions": "4751"})
	if got := mode(t, filepath.Join(root, "f")); got != 0o4751 {
		t.Errorf("f mode = %o, want 4751", got)
	}
	run("SetFolderPermissions", m{"path": "d", "permissions": "750"})
	for _, p := range []string{"d", "d/g", "d/s", "d/s/h"} {
		if got := mode(t, filepath.Join(root, p)); got != 0o750 {
			t.Errorf("%s mode = %o, want 750", p, got)
		}
	}
	run("SetFolderPermissions", m{"path": "d", "permissions": "0700", "recursive": false})
	if got := mode(t, filepath.Join(root, "d/g")); got != 0o750 {
		t.Errorf("non-recursive changed d/g to %o", got)
	}
	run("CreateFile", m{"path": "c", "permissions": "0640", "owner": "1234", "group": "4321"})
	if got := mode(t, filepath.Join(root, "c")); got != 0o640 {
		t.Errorf("c mode = %o, want 640", got)
	}
	if u, g := owner(t, filepath.Join(root, "c")); u != 1234 || g != 4321 {
		t.Errorf("c owner = %d:%d, want 1234:4321", u, g)
	}
	run("CreateFolder", m{"path": "nd", "permissions": "1777", "owner": "daemon"})
	if got := mode(t, filepath.Join(root, "nd")); got != 0o1777 {
		t.Errorf("nd mode = %o, want 1777", got)
	}
	run("SetFileOwner", m{"path": "f", "owner": "daemon"})
	if u, g := owner(t, filepath.Join(root, "f")); u != 1 || g != 1 {
		t.Errorf("f owner = %d:%d, want daemon's 1:1", u, g)
	}
	run("SetFolderOwner", m{"path": "d", "owner": "1000", "group": "root"})
	for _, p := range []string{"d", "d/g", "d/s/h"} {
		if u, g := owner(t, filepath.Join(root, p)); u != 1000 || g != 0 {
			t.Errorf("%s owner = %d:%d, want 1000:0", p, u, g)
		}
	}
}

func TestReadFilePrintsAndDecodes(t *testing.T) {
	env, out := testEnv(t)
	p := filepath.Join(env.WorkDir, "u16")
	must(t, os.WriteFile(p, []byte("\xff\xfeh\x00i\x00"), 0o644))
	res, err := mustLookup(t, "ReadFile").Run(context.Background(), env, ops(m{"path": p, "encoding": "UTF16", "printFileContent": true}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outputs["content"] != "hi" || out.String() != "hi\n" {
		t.Errorf("content = %q, printed %q; want hi", res.Outputs["content"], out.String())
	}
}

func TestParsePermissions(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"0755", 0o755, true}, {"755", 0o755, true}, {"0777", 0o777, true}, {"0o640", 0o640, true},
		{"4755", 0o4755, true}, {"00644", 0o644, true}, {"7", 0o7, true},
		{"", 0, false}, {"rwx", 0, false}, {"0888", 0, false}, {"17777", 0, false}, {"-1", 0, false},
	}
	for _, tt := range tests {
		got, err := parsePermissions(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parsePermissions(%q) = %o, %v; want %o, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParsePermissions(f *testing.F) {
	for _, s := range []string{"0755", "755", "0o1777", "", "9", "077777"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		mode, err := parsePermissions(s)
		if err == nil && mode > 0o7777 {
			t.Errorf("parsePermissions(%q) = %o, beyond 7777", s, mode)
		}
	})
}
