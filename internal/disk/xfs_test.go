package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// xfsSuperblock is a minimal XFS superblock: magic, UUID, version, label
// and the v5 feature words.
func xfsSuperblock(version uint16, uuid [16]byte, label string, roCompat, incompat uint32) []byte {
	sb := make([]byte, 512)
	copy(sb, "XFSB")
	copy(sb[32:], uuid[:])
	binary.BigEndian.PutUint16(sb[100:], version)
	copy(sb[108:120], label)
	binary.BigEndian.PutUint32(sb[212:], roCompat)
	binary.BigEndian.PutUint32(sb[216:], incompat)
	return sb
}

func TestXFSIdentity(t *testing.T) {
	id := [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	tests := []struct {
		name      string
		sb        []byte
		uuid      string
		label     string
		feat      xfsFeatures
		mkfsFlags string
		err       string
	}{
		{name: "RHEL 9 style: v5, finobt, sparse, reflink",
			sb: xfsSuperblock(0xb4a5, id, "root", 1|4, 1|2), uuid: "12345678-9abc-def0-0123-456789abcdef", label: "root",
			feat:      xfsFeatures{finobt: true, reflink: true, sparse: true},
			mkfsFlags: "-m bigtime=0,inobtcount=0,reflink=1,finobt=1,rmapbt=0 -i sparse=1"},
		{name: "Debian 12 mkfs.xfs defaults: bigtime and inobtcount",
			sb: xfsSuperblock(0xb4a5, id, "twelve-bytes", 1|4|8, 1|2|8), uuid: "12345678-9abc-def0-0123-456789abcdef", label: "twelve-bytes",
			feat:      xfsFeatures{finobt: true, reflink: true, sparse: true, inobtcount: true, bigtime: true},
			mkfsFlags: "-m bigtime=1,inobtcount=1,reflink=1,finobt=1,rmapbt=0 -i sparse=1"},
		{name: "version 4", sb: xfsSuperblock(0xb4a4, id, "old", 0, 0), err: "older than version 5"},
		{name: "not XFS", sb: make([]byte, 512), err: "not an XFS"},
		{name: "short", sb: []byte("XFSB"), err: "EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uuid, label, feat, err := xfsIdentity(bytes.NewReader(tt.sb), 0)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if uuid != tt.uuid || label != tt.label || feat != tt.feat {
				t.Errorf("got %s %q %+v, want %s %q %+v", uuid, label, feat, tt.uuid, tt.label, tt.feat)
			}
			if got := strings.Join(feat.mkfsArgs(), " "); got != tt.mkfsFlags {
				t.Errorf("mkfs.xfs flags %q, want %q", got, tt.mkfsFlags)
			}
		})
	}
}

func FuzzXFSIdentity(f *testing.F) {
	f.Add(xfsSuperblock(0xb4a5, [16]byte{1}, "root", 15, 15))
	f.Add([]byte("XFSB"))
	f.Fuzz(func(t *testing.T, b []byte) {
		uuid, _, _, err := xfsIdentity(bytes.NewReader(b), 0)
		if err == nil && len(uuid) != 36 {
			t.Errorf("UUID %q", uuid)
		}
	})
}

// TestMakeXFS writes a tree into an XFS filesystem at an offset inside an
// image file and reads it back through a read-only loop mount: every file
// with its owner, mode, xattrs, hard links, device nodes and symlinks; the
// override written over its file; the UUID and label asked for; the image
// sparse. Then CopyWithTree adds files to a copy of it.
func TestMakeXFS(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mkfs.xfs", "cp")
	ctx := context.Background()
	root := makeTree(t)
	img := filepath.Join(t.TempDir(), "disk.raw")
	const off, size = 1 << 20, 320 << 20 // mkfs.xfs makes nothing under 300 MiB
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, off+size+(1<<20)); err != nil {
		t.Fatal(err)
	}
	const uuid = "0d1c2b3a-4958-6776-8596-a4b3c2d1e0f0"
	err := makeXFS(ctx, root, img, off, size, "xfsroot", uuid, xfsFeatures{finobt: true, sparse: true},
		map[string][]byte{"etc/hostname": []byte("patched\n")})
	var loopErr *errLoopMount
	if asLoop(err, &loopErr) {
		t.Skipf("no loop mounts here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gotUUID, label, feat, err := xfsIdentity(f, off)
	if err != nil || gotUUID != uuid || label != "xfsroot" || feat.bigtime || !feat.finobt {
		t.Errorf("superblock: %s %q %+v %v", gotUUID, label, feat, err)
	}
	if a := allocated(t, img); a > size/2 {
		t.Errorf("the image allocates %d of %d bytes: not sparse", a, size)
	}

	want := snapshotTree(t, root)
	e := want["etc/hostname"]
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("patched\n"), 0o644)
	e.Content = snapshotTree(t, root)["etc/hostname"].Content
	want["etc/hostname"] = e
	compareTrees(t, want, snapshotXFS(t, f, off, size))
}

func asLoop(err error, target **errLoopMount) bool {
	if err == nil {
		return false
	}
	e, ok := err.(*errLoopMount)
	if ok {
		*target = e
	}
	return ok
}

// snapshotXFS mounts the XFS filesystem at off read-only and snapshots it.
func snapshotXFS(t *testing.T, f *os.File, off, size int64) map[string]treeEntry {
	t.Helper()
	loop, err := attachLoop(f, off, size, true)
	if err != nil {
		t.Fatal(err)
	}
	defer loop.Close()
	dir := t.TempDir()
	if err := mountFS(loop.Name(), dir, "xfs", unix.MS_RDONLY); err != nil {
		t.Fatal(err)
	}
	defer unmount(dir)
	return snapshotTree(t, dir)
}

// TestXFSWhileNamespacesAreMade makes an XFS root, then adds files to it,
// while another process creates a mount namespace, as the sandbox of a
// busy server's other build does. A new namespace copies the mounts of the
// one it came from: a temporary mount of kiln's among them would outlive
// kiln's unmount, unwritten, and the root end up as mkfs.xfs left it (seen
// in a build whose test instance stopped at GRUB's prompt).
func TestXFSWhileNamespacesAreMade(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mkfs.xfs", "cp", "unshare", "sleep")
	own, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Skipf("mount namespaces: %v", err)
	}
	var holders []*exec.Cmd
	defer func() {
		for _, c := range holders {
			c.Process.Kill()
			c.Wait()
		}
	}()
	// Each time the filesystem is mounted, a process starts in a mount
	// namespace of its own, and keeps it, before kiln writes anything. It
	// is started from another goroutine, as a sandbox is: the hook runs on
	// the thread that mounted.
	testHookMounted = func() {
		done := make(chan struct{})
		go func() {
			defer close(done)
			c := exec.Command("unshare", "--mount", "sleep", "60")
			if err := c.Start(); err != nil {
				t.Errorf("unshare: %v", err)
				return
			}
			holders = append(holders, c)
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", c.Process.Pid)); err == nil && ns != own {
					return
				}
			}
			t.Error("the process never entered a mount namespace of its own")
		}()
		<-done
	}
	defer func() { testHookMounted = nil }()

	ctx := context.Background()
	root := makeTree(t)
	img := filepath.Join(t.TempDir(), "disk.raw")
	const off, size = 1 << 20, 320 << 20
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, off+size+(1<<20)); err != nil {
		t.Fatal(err)
	}
	err = makeXFS(ctx, root, img, off, size, "xfsroot", "5d1c2b3a-4958-6776-8596-a4b3c2d1e0f0", xfsFeatures{finobt: true, sparse: true}, nil)
	var loopErr *errLoopMount
	if asLoop(err, &loopErr) {
		t.Skipf("no loop mounts here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	added := filepath.Join(t.TempDir(), "added")
	if err := os.MkdirAll(filepath.Join(added, ".kiln"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(added, ".kiln/agent"), []byte("agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := addTreeXFS(ctx, img, off, size, added); err != nil {
		t.Fatal(err)
	}
	if len(holders) != 2 {
		t.Fatalf("%d processes held a mount namespace, want one per mount (2)", len(holders))
	}

	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := snapshotTree(t, root)
	for p, e := range snapshotTree(t, added) {
		if p != "." {
			want[p] = e
		}
	}
	compareTrees(t, want, snapshotXFS(t, f, off, size))
}

// TestCheckXFSRoot refuses an XFS filesystem whose root lacks the tree's
// entries: one as mkfs.xfs leaves it, which is what an image got when its
// filesystem was not written out.
func TestCheckXFSRoot(t *testing.T) {
	requireRoot(t)
	requireTools(t, "mkfs.xfs")
	const size = 320 << 20
	fsFile, err := os.Create(filepath.Join(t.TempDir(), "fs.xfs"))
	if err != nil {
		t.Fatal(err)
	}
	defer fsFile.Close()
	if err := fsFile.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.xfs", "-q", "-f", fsFile.Name()).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v\n%s", err, out)
	}
	err = privateLoopMounts(func() error { return checkXFSRoot(fsFile, size, makeTree(t)) })
	var loopErr *errLoopMount
	if asLoop(err, &loopErr) {
		t.Skipf("no loop mounts here: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "the XFS root as written out lacks /") {
		t.Errorf("an empty XFS root passed the check: %v", err)
	}
	if err := privateLoopMounts(func() error { return checkXFSRoot(fsFile, size, t.TempDir()) }); err != nil {
		t.Errorf("an empty tree in an empty root: %v", err)
	}
}
