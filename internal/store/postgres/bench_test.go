package postgres_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/kiln-build/kiln/internal/pgtest"
	"github.com/kiln-build/kiln/internal/store"
)

// benchWriters is the number of concurrent writers of the parallel
// benchmarks, whatever GOMAXPROCS is.
const benchWriters = 32

func benchResource(name string) store.Resource {
	arn := "arn:aws:imagebuilder:us-east-1:111111111111:component/" + name + "/1.0.0/1"
	return store.Resource{ARN: arn, Kind: "component", Account: "111111111111", Region: "us-east-1",
		Name: name, Version: "1.0.0", Build: 1, Doc: []byte(`{"name":"` + name + `","data":"phases: []"}`),
		Tags: map[string]string{"team": "kiln"}}
}

// BenchmarkUpdateParallel measures durable creates per second: benchWriters
// concurrent Updates, each one INSERT committed with the WAL flushed, over
// the unix socket (a node beside its database) and over TCP on loopback.
func BenchmarkUpdateParallel(b *testing.B) {
	for _, via := range []string{"socket", "tcp"} {
		b.Run(via, func(b *testing.B) {
			url := pgtest.SocketURL(b)
			if via == "tcp" {
				url = pgtest.URL(b)
			}
			s := open(b, url)
			defer s.Close()
			ctx := context.Background()
			var seq atomic.Int64
			b.SetParallelism(max(benchWriters/runtime.GOMAXPROCS(0), 1))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := benchResource(fmt.Sprintf("bench-%09d", seq.Add(1)))
					if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
		})
	}
}

// BenchmarkGet reads one resource with Store.Get (no cache: one statement).
func BenchmarkGet(b *testing.B) {
	s := open(b, pgtest.SocketURL(b))
	defer s.Close()
	ctx := context.Background()
	const n = 1000
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			if err := tx.Insert(ctx, benchResource(fmt.Sprintf("get-%04d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(max(benchWriters/runtime.GOMAXPROCS(0), 1))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Get(ctx, benchResource(fmt.Sprintf("get-%04d", i%n)).ARN); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkListPage reads a 25-row page from the middle of kind with 10k
// resources: keyset pagination walks the index from the cursor.
func BenchmarkListPage(b *testing.B) {
	s := open(b, pgtest.SocketURL(b))
	defer s.Close()
	ctx := context.Background()
	const n = 10000
	for start := 0; start < n; start += 1000 {
		err := s.Update(ctx, func(tx store.Tx) error {
			for i := start; i < start+1000; i++ {
				if err := tx.Insert(ctx, benchResource(fmt.Sprintf("list-%05d", i))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	after := benchResource("list-05000").ARN
	q := store.Query{Kind: "component", Region: "us-east-1", Owners: []string{"111111111111"}, After: after, Limit: 25}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			err := s.View(ctx, func(tx store.Tx) error {
				rs, err := tx.List(ctx, q)
				if err == nil && len(rs) != 25 {
					err = fmt.Errorf("page of %d rows", len(rs))
				}
				return err
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUpdateSerial is one writer at a time over the socket: one WAL
// flush per create.
func BenchmarkUpdateSerial(b *testing.B) {
	s := open(b, pgtest.SocketURL(b))
	defer s.Close()
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		r := benchResource(fmt.Sprintf("bench-%09d", i))
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "inserts/s")
}
