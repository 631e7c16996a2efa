package disk

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkMakeRaw makes a 2 GiB disk from a ~100 MB tree of 2,000 files — roughly a
// minbase Debian's size — to compare with `mkfs.ext4 -d` by hand (it is that plus the
// GPT, so the two should be within noise of each other).
func BenchmarkMakeRaw(b *testing.B) {
	requireTools(b, "mkfs.ext4")
	tree := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 50_000)
	for i := range 2000 {
		d := filepath.Join(tree, fmt.Sprintf("d%02d", i%40))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%04d", i)), buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	out := filepath.Join(b.TempDir(), "disk.raw")
	b.SetBytes(2000 * 50_000)
	for b.Loop() {
		if _, err := MakeRaw(context.Background(), tree, out, Layout{Size: 2 << 30, Label: "kiln-root"}); err != nil {
			b.Fatal(err)
		}
	}
}
