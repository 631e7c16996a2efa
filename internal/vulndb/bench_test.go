package vulndb

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkImport imports an archive of 10,000 records into a fresh
// database per iteration.
func BenchmarkImport(b *testing.B) {
	files := map[string][]byte{}
	for i := range 10000 {
		id := fmt.Sprintf("BENCH-%05d", i)
		files[id+".json"] = marshal(b, record(id, "2024-01-01T00:00:00Z", "Debian:12", fmt.Sprintf("pkg-%04d", i%3000), ev("introduced", "0"), ev("fixed", "1.0-1")))
	}
	archive := zipOf(b, files)
	b.SetBytes(int64(len(archive)))
	for b.Loop() {
		b.StopTimer()
		db := openDB(b)
		b.StartTimer()
		if _, err := db.Import(context.Background(), bytes.NewReader(archive), "all.zip"); err != nil {
			b.Fatal(err)
		}
	}
}
