package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/blob"
)

// TestLogSegments writes a log the way a build does, in bursts, ships it
// and reads it back from the store alone, as another node would: every
// byte once, in order, whatever the burst sizes.
func TestLogSegments(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		bursts []int
	}{
		{"one line", []int{12}},
		{"many small", []int{5, 7, 100, 1}},
		{"over the batch", []int{segmentBatch + 3, 10}},
		{"over a segment", []int{segmentMax*2 + 17}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, err := blob.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			e := &Engine{Blobs: store}
			e.init()
			dir := t.TempDir()
			rel := "123456789012/img/1.0.0/1"
			file := filepath.Join(dir, "build.log")
			f, err := os.Create(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var want bytes.Buffer
			var got bytes.Buffer
			cur := &segmentCursor{}
			relLog := rel + "/build.log"
			if _, err := e.copySegments(ctx, &got, relLog, cur); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("reading a log not shipped yet: %v", err)
			}
			files := map[string]*shippedFile{}
			for i, n := range tt.bursts {
				chunk := bytes.Repeat([]byte{byte('a' + i)}, n)
				f.Write(chunk)
				want.Write(chunk)
				e.shipDir(ctx, dir, rel, files, true)
				if _, err := e.copySegments(ctx, &got, relLog, cur); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("read back %d bytes, want %d", got.Len(), want.Len())
			}
			// Migrating the same file again stores nothing new.
			before := 0
			store.List(ctx, "logs/", func(blob.Info) error { before++; return nil })
			if err := StoreLogFile(ctx, store, file, relLog); err != nil {
				t.Fatal(err)
			}
			after := 0
			store.List(ctx, "logs/", func(i blob.Info) error {
				after++
				if !strings.HasPrefix(i.Key, "logs/"+relLog+"/") {
					t.Errorf("segment outside the log's prefix: %s", i.Key)
				}
				return nil
			})
			if after != before {
				t.Errorf("StoreLogFile added %d segments to a shipped log", after-before)
			}
		})
	}
}
