package ami

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSparseRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		extents map[int64]string
	}{
		{"empty", 0, nil},
		{"all hole", 64 << 20, nil},
		{"data at both ends", 64 << 20, map[int64]string{0: "boot sector", 64<<20 - 5: "tail!"}},
		{"scattered", 32 << 20, map[int64]string{4096: "a", 1 << 20: "bbbb", 17 << 20: "partition table"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src, err := os.Create(filepath.Join(dir, "src"))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			src.Truncate(tt.size)
			for off, s := range tt.extents {
				src.WriteAt([]byte(s), off)
			}
			var enc bytes.Buffer
			if err := encodeSparse(&enc, src); err != nil {
				t.Fatal(err)
			}
			if enc.Len() > 1<<20 {
				t.Errorf("a %d-byte disk with %d data extents encodes to %d bytes: holes were sent", tt.size, len(tt.extents), enc.Len())
			}
			dst, err := os.Create(filepath.Join(dir, "dst"))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			if err := decodeSparse(dst, &enc); err != nil {
				t.Fatal(err)
			}
			a, _ := os.ReadFile(src.Name())
			b, _ := os.ReadFile(dst.Name())
			if !bytes.Equal(a, b) {
				t.Fatal("the decoded disk differs")
			}
		})
	}
}

func FuzzDecodeSparse(f *testing.F) {
	var good bytes.Buffer
	good.WriteString(sparseMagic)
	good.Write([]byte{0, 0, 0, 0, 0, 0, 0x10, 0})                                     // 4096 bytes
	good.Write([]byte{0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 3, 'a', 'b', 'c'}) // 3 at 8
	f.Add(good.Bytes())
	f.Add([]byte(sparseMagic))
	f.Add([]byte("not a disk"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := os.Create(filepath.Join(t.TempDir(), "d"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		if err := decodeSparse(out, bytes.NewReader(data)); err != nil {
			return
		}
		fi, _ := out.Stat()
		if fi.Size() > maxDiskSize {
			t.Fatalf("decoded a disk of %d bytes", fi.Size())
		}
	})
}
