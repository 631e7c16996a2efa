package ami

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

func TestLaunchableBy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		launchable []string
		account    string
		want       bool
	}{
		{"owner", nil, "111111111111", true},
		{"stranger", nil, "222222222222", false},
		{"named account", []string{"222222222222"}, "222222222222", true},
		{"other named account", []string{"333333333333"}, "222222222222", false},
		{"public", []string{"all"}, "222222222222", true},
		{"empty account is nobody", nil, "", false},
	} {
		a := AMI{AccountID: "111111111111", Launchable: tc.launchable}
		if got := a.LaunchableBy(tc.account); got != tc.want {
			t.Errorf("%s: LaunchableBy(%q) = %v, want %v", tc.name, tc.account, got, tc.want)
		}
	}
}

func TestIDsAndDiskPaths(t *testing.T) {
	t.Parallel()
	id := regexp.MustCompile(`^ami-[0-9a-f]{17}$`)
	seen := map[string]bool{}
	for range 100 {
		n := NewID()
		if !id.MatchString(n) || seen[n] {
			t.Fatalf("NewID() = %q (seen before: %v)", n, seen[n])
		}
		seen[n] = true
	}
	if got := DiskPath("sha256:abc"); got != filepath.Join("disks", "sha256-abc.raw") {
		t.Errorf("DiskPath = %q", got)
	}
}

// TestExport: raw is the disk as stored; qcow2, vmdk, vhdx and vhd are
// converted copies removed at release; any other format is refused before
// the AMI is looked up.
func TestExport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	os.MkdirAll(filepath.Join(dir, "disks"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "disks", "d.raw"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(tx store.Tx) error {
		return Put(ctx, tx, "us-east-1", AMI{ImageID: "ami-00000000000000001", AccountID: "111111111111", Disk: "disks/d.raw"}, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &Catalogue{Store: st, Home: "us-east-1", DataDir: dir}
	if _, _, err := c.Export(ctx, "111111111111", "ami-00000000000000001", "vdi"); !errors.Is(err, ErrFormat) {
		t.Errorf("vdi: %v, want ErrFormat", err)
	}
	if _, _, err := c.Export(ctx, "222222222222", "ami-00000000000000001", "raw"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a stranger's export: %v, want ErrNotFound", err)
	}
	path, release, err := c.Export(ctx, "111111111111", "ami-00000000000000001", "")
	if err != nil || path != filepath.Join(dir, "disks", "d.raw") {
		t.Fatalf("raw export: %q %v", path, err)
	}
	release()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Log("no qemu-img: qcow2 export not checked")
		return
	}
	for _, tc := range []struct{ format, qemuFormat string }{
		{"qcow2", "qcow2"}, {"vmdk", "vmdk"}, {"vhdx", "vhdx"}, {"vhd", "vpc"},
	} {
		path, release, err = c.Export(ctx, "111111111111", "ami-00000000000000001", tc.format)
		if err != nil {
			t.Fatalf("%s export: %v", tc.format, err)
		}
		out, err := exec.Command("qemu-img", "info", "--output", "json", "-f", tc.qemuFormat, path).Output()
		var info struct {
			Format      string `json:"format"`
			VirtualSize int64  `json:"virtual-size"`
		}
		if err != nil || json.Unmarshal(out, &info) != nil || info.Format != tc.qemuFormat || info.VirtualSize != 1<<20 {
			t.Errorf("%s export: qemu-img info: %v %s", tc.format, err, out)
		}
		release()
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the converted %s copy outlived release: %v", tc.format, err)
		}
	}
}
