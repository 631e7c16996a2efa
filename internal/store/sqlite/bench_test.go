package sqlite

import (
	"context"
	"fmt"
	"runtime"
	"strings"
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

// BenchmarkListPage reads one page of 26 rows (a List page of 25 and the
// row that says whether there is another) from a random place in the
// order, the way ListComponents walks the store, at several store sizes:
// the cost of a page must not grow with the number of resources.
func BenchmarkListPage(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, _ := openTemp(b)
			defer s.Close()
			ctx := context.Background()
			doc := strings.Repeat("x", 900)
			for lo := 0; lo < n; lo += 1000 {
				err := s.Update(ctx, func(tx store.Tx) error {
					for i := lo; i < min(lo+1000, n); i++ {
						r := testResource(fmt.Sprintf("list-%06d", i))
						r.Doc = []byte(`{"name":"` + r.Name + `","platform":"Linux","data":"` + doc + `"}`)
						if err := tx.Insert(ctx, r); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					q := store.Query{Kind: "component", Region: "us-east-1", Owners: []string{"111111111111"}, Limit: 26}
					if k := (i * 7919) % n; k > 0 {
						q.After = testResource(fmt.Sprintf("list-%06d", k)).ARN
					}
					err := s.View(ctx, func(tx store.Tx) error { _, err := tx.List(ctx, q); return err })
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
