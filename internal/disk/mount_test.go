package disk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mounted reports whether dir is a mount point now.
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// loopBackedBy reports whether a loop device is still attached to file.
func loopBackedBy(t *testing.T, file string) bool {
	t.Helper()
	devs, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, d := range devs {
		if b, err := os.ReadFile(d); err == nil && strings.TrimSpace(string(b)) == file {
			return true
		}
	}
	return false
}

func TestMountRoot(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mkfs.ext4")
	defer func(n int) { unmountRetries = n }(unmountRetries)
	unmountRetries = 2
	ctx := context.Background()
	tree := makeTree(t)
	disk := filepath.Join(t.TempDir(), "disk.raw")
	if _, err := MakeRaw(ctx, tree, disk, Layout{Size: 32 << 20, Label: "kiln-root"}); err != nil {
		t.Fatal(err)
	}
	// A bare filesystem image (what a partition extracted with dd looks like).
	bare := filepath.Join(t.TempDir(), "bare.ext4")
	if err := os.WriteFile(bare, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(bare, 16<<20); err != nil {
		t.Fatal(err)
	}
	run(t, "mkfs.ext4", "-q", "-F", "-d", tree, bare)

	errFn := errors.New("fn failed")
	tests := []struct {
		name    string
		disk    string
		fn      func(dir string) error
		panics  bool
		wantErr error
	}{
		{name: "gpt disk", disk: disk, fn: func(dir string) error {
			if _, err := os.Stat(filepath.Join(dir, "etc/hostname")); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err == nil {
				return errors.New("mount is writable")
			}
			return nil
		}},
		{name: "bare filesystem", disk: bare, fn: func(dir string) error {
			_, err := os.Stat(filepath.Join(dir, "bin/tool"))
			return err
		}},
		{name: "fn error is returned", disk: disk, fn: func(string) error { return errFn }, wantErr: errFn},
		{name: "fn panics", disk: disk, fn: func(string) error { panic("boom") }, panics: true},
		{name: "fn leaves a file open", disk: disk, fn: func(dir string) error {
			f, err := os.Open(filepath.Join(dir, "etc/hostname"))
			if err != nil {
				return err
			}
			t.Cleanup(func() { f.Close() })
			return nil
		}, wantErr: errBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dir string
			var err error
			func() {
				defer func() {
					if r := recover(); (r != nil) != tt.panics {
						t.Errorf("recovered %v, want panic %v", r, tt.panics)
					}
				}()
				err = MountRoot(ctx, tt.disk, func(d string) error {
					dir = d
					if !mounted(t, d) {
						t.Errorf("%s is not a mount point inside fn", d)
					}
					return tt.fn(d)
				})
			}()
			switch {
			case tt.wantErr == errBusy:
				if err == nil || !strings.Contains(err.Error(), "busy") {
					t.Errorf("MountRoot = %v, want an unmount error", err)
				}
			case !errors.Is(err, tt.wantErr):
				t.Errorf("MountRoot = %v, want %v", err, tt.wantErr)
			}
			if dir == "" {
				t.Fatal("fn was not called")
			}
			if mounted(t, dir) {
				t.Errorf("%s still mounted", dir)
			}
			if tt.wantErr != errBusy {
				if loopBackedBy(t, tt.disk) {
					t.Errorf("a loop device still holds %s", tt.disk)
				}
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("mount point %s left behind", dir)
				}
			}
		})
	}
}

// errBusy marks the case where fn keeps the filesystem busy.
var errBusy = errors.New("busy")

func TestMountRootRefuses(t *testing.T) {
	dir := t.TempDir()
	zeros := filepath.Join(dir, "zeros")
	if err := os.WriteFile(zeros, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	called := false
	err := MountRoot(context.Background(), zeros, func(string) error { called = true; return nil })
	if err == nil || called {
		t.Fatalf("MountRoot of a disk of zeros = %v (fn called %v)", err, called)
	}
	if err := MountRoot(context.Background(), filepath.Join(dir, "missing"), nil); err == nil {
		t.Fatal("MountRoot of a missing file succeeded")
	}
}

func TestRootPartition(t *testing.T) {
	linux := "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
	esp := "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	tests := []struct {
		name  string
		parts []Partition
		want  int
	}{
		{"linux beats a bigger ESP", []Partition{{Number: 1, Type: esp, Size: 100}, {Number: 2, Type: linux, Size: 10}}, 2},
		{"largest linux", []Partition{{Number: 1, Type: linux, Size: 10}, {Number: 2, Type: linux, Size: 20}}, 2},
		{"x86-64 root type", []Partition{{Number: 1, Type: esp, Size: 100}, {Number: 3, Type: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", Size: 10}}, 3},
		{"mbr 83", []Partition{{Number: 1, Type: "0x0c", Size: 100}, {Number: 2, Type: "0x83", Size: 10}}, 2},
		{"else largest", []Partition{{Number: 1, Type: esp, Size: 10}, {Number: 2, Type: "0x07", Size: 20}}, 2},
		{"none", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := rootPartition(tt.parts)
			if got := map[bool]int{true: p.Number, false: 0}[ok]; got != tt.want {
				t.Errorf("rootPartition = %d, want %d", got, tt.want)
			}
		})
	}
}
