package disk

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMakeRaw(t *testing.T) {
	requireRoot(t) // the tree has a uid-1000 file and a device node
	requireTools(t, "mkfs.ext4", "e2fsck", "debugfs")
	tree := makeTree(t)
	if err := os.Chmod(tree, 0o750); err != nil { // an unusual top directory mode must survive
		t.Fatal(err)
	}
	want := snapshotTree(t, tree)

	tests := []struct {
		name     string
		layout   Layout
		diskSize int64  // expected file size
		wantErr  string // substring; "" for success
	}{
		{name: "64MiB", layout: Layout{Size: 64 << 20, Label: "kiln-root"}, diskSize: 64 << 20},
		{name: "rounded up to MiB", layout: Layout{Size: 20<<20 + 1, Label: "r"}, diskSize: 21 << 20},
		{name: "default label", layout: Layout{Size: 32 << 20}, diskSize: 32 << 20},
		{name: "2GiB sparse", layout: Layout{Size: 2 << 30, Label: "kiln-root"}, diskSize: 2 << 30},
		{name: "zero size", layout: Layout{Size: 0}, wantErr: "must be positive"},
		{name: "label too long", layout: Layout{Size: 64 << 20, Label: "a-label-of-seventeen"}, wantErr: "at most 16 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "disk.raw")
			info, err := MakeRaw(context.Background(), tree, out, tt.layout)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MakeRaw error %v, want one containing %q", err, tt.wantErr)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("failed MakeRaw left %s behind", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if st.Size() != tt.diskSize {
				t.Errorf("disk is %d bytes, want %d", st.Size(), tt.diskSize)
			}
			if a := allocated(t, out); a > 32<<20 {
				t.Errorf("disk allocates %d bytes: not sparse", a)
			}
			wantPart := Partition{
				Number: 1, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", UUID: info.PartUUID,
				Offset: 1 << 20, Size: tt.diskSize - 1<<20 - 33*512, Name: cmpOr(tt.layout.Label, "root"),
			}
			if info.PartitionOffset != wantPart.Offset || info.PartitionSize != wantPart.Size {
				t.Errorf("Info %+v, want partition at %d size %d", info, wantPart.Offset, wantPart.Size)
			}
			checkTable(t, out, wantPart)
			checkSfdisk(t, out, wantPart)

			fsPath := fmt.Sprintf("%s?offset=%d", out, info.PartitionOffset)
			run(t, "e2fsck", "-fn", fsPath) // exits non-zero on any inconsistency
			sb := run(t, "dumpe2fs", "-h", fsPath)
			for _, line := range []string{
				"Filesystem volume name:   " + cmpOr(tt.layout.Label, "root"),
				"Filesystem UUID:          " + info.FSUUID,
			} {
				if !strings.Contains(sb, line+"\n") {
					t.Errorf("dumpe2fs -h lacks %q", line)
				}
			}

			err = MountRoot(context.Background(), out, func(dir string) error {
				compareTrees(t, want, snapshotTree(t, dir, "lost+found"))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMakeRawTreeTooBig(t *testing.T) {
	requireTools(t, "mkfs.ext4")
	tree := t.TempDir()
	big := make([]byte, 6<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	for i := range 2 {
		if err := os.WriteFile(filepath.Join(tree, fmt.Sprint("f", i)), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, size := range []int64{8 << 20, 12 << 20} { // below the data alone; below data plus metadata
		out := filepath.Join(t.TempDir(), "disk.raw")
		_, err := MakeRaw(context.Background(), tree, out, Layout{Size: size})
		if err == nil || !strings.Contains(err.Error(), "disk") {
			t.Errorf("size %d MiB: MakeRaw error %v, want one saying the tree does not fit", size>>20, err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("size %d MiB: failed MakeRaw left %s behind", size>>20, out)
		}
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkTable reads the disk's table back with ReadPartitions, and again with the
// primary GPT destroyed, which must fall back to the backup.
func checkTable(t *testing.T, disk string, want Partition) {
	t.Helper()
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	parts, err := ReadPartitions(f, st.Size())
	if err != nil || len(parts) != 1 || parts[0] != want {
		t.Fatalf("ReadPartitions = %+v, %v; want [%+v]", parts, err, want)
	}
	hdr := make([]byte, 512)
	if _, err := f.ReadAt(hdr, 512); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, 512), 512); err != nil {
		t.Fatal(err)
	}
	parts, err = ReadPartitions(f, st.Size())
	if err != nil || len(parts) != 1 || parts[0] != want {
		t.Errorf("from the backup GPT: ReadPartitions = %+v, %v; want [%+v]", parts, err, want)
	}
	if _, err := f.WriteAt(hdr, 512); err != nil {
		t.Fatal(err)
	}
}

// sfdiskTable is the part of `sfdisk --json` output compared.
type sfdiskTable struct {
	PartitionTable struct {
		Label      string `json:"label"`
		FirstLBA   int64  `json:"firstlba"`
		LastLBA    int64  `json:"lastlba"`
		SectorSize int64  `json:"sectorsize"`
		Partitions []struct {
			Node  string `json:"node"`
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// checkSfdisk has util-linux read the table: it agrees with ours, and `sfdisk --verify`
// (which checks the CRCs and the backup) finds nothing wrong.
func checkSfdisk(t *testing.T, disk string, want Partition) {
	t.Helper()
	if _, err := exec.LookPath("sfdisk"); err != nil {
		t.Log("sfdisk missing (Debian package fdisk): table not cross-checked")
		return
	}
	var tab sfdiskTable
	if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", disk)), &tab); err != nil {
		t.Fatal(err)
	}
	pt := tab.PartitionTable
	if pt.Label != "gpt" || len(pt.Partitions) != 1 {
		t.Fatalf("sfdisk sees %+v", pt)
	}
	p := pt.Partitions[0]
	if p.Start*512 != want.Offset || p.Size*512 != want.Size || p.Type != want.Type ||
		!strings.EqualFold(p.UUID, want.UUID) || p.Name != want.Name {
		t.Errorf("sfdisk sees %+v, want %+v", p, want)
	}
	if v := run(t, "sfdisk", "--verify", disk); !strings.Contains(v, "No errors detected") {
		t.Errorf("sfdisk --verify: %s", v)
	}
}
