package elfdeps

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []Lib
		wantErr string
	}{
		{
			name: "glibc",
			out: "\tlinux-vdso.so.1 (0x00007ffd3a1f2000)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e1c000000)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x00007f0e1c3f0000)\n",
			want: []Lib{{Name: "libc.so.6", Path: "/lib/x86_64-linux-gnu/libc.so.6"}},
		},
		{
			name: "musl lists its loader as libc",
			out:  "\t/lib/ld-musl-x86_64.so.1 (0x7f1)\n\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f1)\n",
			want: []Lib{{Name: "libc.musl-x86_64.so.1", Path: "/lib/ld-musl-x86_64.so.1"}},
		},
		{
			name: "two libraries, no addresses",
			out:  "libpthread.so.0 => /lib/libpthread.so.0\nlibc.so.6 => /usr/lib/../lib/libc.so.6 (0x1)\n",
			want: []Lib{{Name: "libpthread.so.0", Path: "/lib/libpthread.so.0"}, {Name: "libc.so.6", Path: "/usr/lib/libc.so.6"}},
		},
		{name: "static", out: "\tstatically linked\n"},
		{name: "empty", out: ""},
		{name: "not found", out: "\tlibfoo.so.1 => not found\n", wantErr: "libfoo.so.1 is not found"},
		{name: "relative path", out: "libc.so.6 => lib/libc.so.6 (0x1)\n", wantErr: "no absolute path"},
		{name: "name with a slash", out: "../libc.so.6 => /lib/libc.so.6 (0x1)\n", wantErr: "bad library name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseList([]byte(tt.out))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseList(f *testing.F) {
	f.Add([]byte("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0e1c000000)\n"))
	f.Add([]byte("libfoo.so => not found\n"))
	f.Add([]byte(" =>  (\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		libs, err := ParseList(b)
		if err != nil {
			return
		}
		for _, l := range libs {
			// Whatever is accepted is safe to stage: a plain file name
			// and an absolute host path.
			if l.Name == "" || strings.ContainsAny(l.Name, "/\x00") || l.Name == "." || l.Name == ".." {
				t.Fatalf("accepted name %q", l.Name)
			}
			if !filepath.IsAbs(l.Path) {
				t.Fatalf("accepted path %q", l.Path)
			}
		}
	})
}

// TestStagedLoaderRunsInAnEmptyRoot stages a dynamically linked host
// program's loader and libraries into a root that has nothing else, and
// runs the program there through Argv: the way kiln's runner starts in an
// image without a C library.
func TestStagedLoaderRunsInAnEmptyRoot(t *testing.T) {
	exe, err := exec.LookPath("echo")
	if err != nil {
		t.Skip("no echo on PATH")
	}
	d, err := Resolve(context.Background(), exe)
	if err != nil {
		t.Fatal(err)
	}
	if d == nil {
		t.Skipf("%s is statically linked here", exe)
	}
	if len(d.Libs) == 0 {
		t.Fatalf("%s: no libraries resolved: %+v", exe, d)
	}
	root := t.TempDir()
	if err := d.Stage(filepath.Join(root, ".kiln", LibDir)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".kiln", "prog"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	argv := d.Argv("/.kiln/lib", "/.kiln/prog", "hello", "from", "an", "empty", "root")
	if os.Geteuid() != 0 {
		t.Skip("chroot needs root")
	}
	cmd := exec.Command(filepath.Join(root, argv[0][1:]), argv[1:]...)
	cmd.Path = argv[0]
	cmd.Env = []string{}
	cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "hello from an empty root" {
		t.Errorf("output %q", got)
	}
}

func TestStaticHasNoDeps(t *testing.T) {
	for _, exe := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if i, err := Interp(exe); err == nil {
			if i != "" {
				t.Skipf("%s is dynamic here", exe)
			}
			d, err := Resolve(context.Background(), exe)
			if err != nil || d != nil {
				t.Fatalf("Resolve(%s) = %+v, %v; want nil, nil", exe, d, err)
			}
			if got := d.Argv("/.kiln/lib", "/.kiln/kiln", "toe"); !reflect.DeepEqual(got, []string{"/.kiln/kiln", "toe"}) {
				t.Errorf("Argv = %v", got)
			}
			return
		}
	}
	t.Skip("no busybox")
}
