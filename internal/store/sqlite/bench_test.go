package sqlite

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/kiln-build/kiln/internal/store"
)

// benchWriters is the number of concurrent writers BenchmarkUpdateParallel
// aims for, whatever GOMAXPROCS is.
const benchWriters = 32

// BenchmarkUpdateParallel measures durable (fsynced) inserts per second
// with benchWriters concurrent Updates, which the writer group-commits.
func BenchmarkUpdateParallel(b *testing.B) {
	s, _ := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	var seq atomic.Int64
	commits := s.commits.Load()
	b.SetParallelism(max(benchWriters/runtime.GOMAXPROCS(0), 1))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := testResource(fmt.Sprintf("bench-%09d", seq.Add(1)))
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
	if n := s.commits.Load() - commits; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "updates/commit")
	}
}

// BenchmarkUpdateSerial is one writer at a time: one fsync per insert.
func BenchmarkUpdateSerial(b *testing.B) {
	s, _ := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		r := testResource(fmt.Sprintf("bench-%09d", i))
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
}

// BenchmarkGet reads one resource (with its tags) in a View.
func BenchmarkGet(b *testing.B) {
	s, _ := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	const n = 1000
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			if err := tx.Insert(ctx, testResource(fmt.Sprintf("get-%04d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			arn := testResource(fmt.Sprintf("get-%04d", i%n)).ARN
			i++
			err := s.View(ctx, func(tx store.Tx) error { _, err := tx.Get(ctx, arn); return err })
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
