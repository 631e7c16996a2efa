package guest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func tarOf(t testing.TB, files map[string]string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755})
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o640, Size: int64(len(body))})
		tw.Write([]byte(body))
	}
	tw.WriteHeader(&tar.Header{Name: "app/link", Typeflag: tar.TypeSymlink, Linkname: "hello.txt"})
	tw.Close()
	return b.Bytes()
}

func TestCopyOrExtract(t *testing.T) {
	plain := tarOf(t, map[string]string{"app/hello.txt": "hi\n"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	var zs bytes.Buffer
	zsw, _ := zstd.NewWriter(&zs)
	zsw.Write(plain)
	zsw.Close()
	tests := []struct {
		name    string
		data    []byte
		extract bool
	}{
		{"plain tar", plain, true},
		{"gzip", gz.Bytes(), true},
		{"zstd", zs.Bytes(), true},
		{"not an archive", []byte("just text\n"), false},
		{"gzip of text", func() []byte {
			var b bytes.Buffer
			w := gzip.NewWriter(&b)
			w.Write([]byte("text"))
			w.Close()
			return b.Bytes()
		}(), false},
	}
	if bz, err := exec.LookPath("bzip2"); err == nil {
		cmd := exec.Command(bz, "-c")
		cmd.Stdin = bytes.NewReader(plain)
		if out, err := cmd.Output(); err == nil {
			tests = append(tests, struct {
				name    string
				data    []byte
				extract bool
			}{"bzip2", out, true})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "in.archive")
			os.WriteFile(src, tt.data, 0o644)
			dest := filepath.Join(dir, "out") + "/"
			if err := CopyOrExtract(CopyRequest{Sources: []string{src}, Dest: dest, Extract: true}); err != nil {
				t.Fatal(err)
			}
			if !tt.extract {
				got, err := os.ReadFile(filepath.Join(dest, "in.archive"))
				if err != nil || !bytes.Equal(got, tt.data) {
					t.Fatalf("not copied as a file: %v", err)
				}
				return
			}
			got, err := os.ReadFile(filepath.Join(dest, "app/link"))
			if err != nil || string(got) != "hi\n" {
				t.Fatalf("app/link = %q, %v", got, err)
			}
			fi, _ := os.Stat(filepath.Join(dest, "app/hello.txt"))
			if fi.Mode().Perm() != 0o640 {
				t.Errorf("mode %v, want 0640", fi.Mode())
			}
		})
	}
}

func TestExtractRefusesEscape(t *testing.T) {
	for _, name := range []string{"../x", "a/../../x"} {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		tw.Write([]byte("x"))
		tw.Close()
		dir := t.TempDir()
		src := filepath.Join(dir, "evil.tar")
		os.WriteFile(src, b.Bytes(), 0o644)
		if err := CopyOrExtract(CopyRequest{Sources: []string{src}, Dest: filepath.Join(dir, "out"), Extract: true}); err == nil {
			t.Errorf("%s: extracted", name)
		}
	}
	// A symlink out of the destination is not followed.
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "/"})
	tw.WriteHeader(&tar.Header{Name: "up/escaped", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	dir := t.TempDir()
	src := filepath.Join(dir, "evil.tar")
	os.WriteFile(src, b.Bytes(), 0o644)
	CopyOrExtract(CopyRequest{Sources: []string{src}, Dest: filepath.Join(dir, "out"), Extract: true})
	if _, err := os.Stat("/escaped"); err == nil {
		t.Fatal("a symlink led the archive out of its destination")
	}
}

// FuzzExtract checks that no archive makes extraction panic or write
// outside its destination.
func FuzzExtract(f *testing.F) {
	f.Add(tarOf(f, map[string]string{"app/a": "1"}))
	f.Add([]byte("plain"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in")
		os.WriteFile(src, data, 0o644)
		out := filepath.Join(dir, "out", "d")
		CopyOrExtract(CopyRequest{Sources: []string{src}, Dest: out + "/", Extract: true})
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() != "in" && e.Name() != "out" {
				t.Fatalf("wrote %s outside the destination", e.Name())
			}
		}
	})
}
