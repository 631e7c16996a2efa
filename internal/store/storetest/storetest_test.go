package storetest_test

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
	"github.com/kiln-build/kiln/internal/store/storetest"
)

// staleStore breaks Update's isolation the way READ COMMITTED does: fn
// reads from a snapshot taken before the write transaction starts, and
// its writes are applied afterwards. The first two Updates wait for each
// other between reading and writing, so both read a job as unclaimed.
type staleStore struct {
	store.Store
	gate sync.WaitGroup
	n    atomic.Int32
}

type staleTx struct {
	store.Tx
	writes *[]func(store.Tx) error
	claims *bool // a Put or Replace was made (not only Inserts)
}

func (t staleTx) Insert(_ context.Context, r store.Resource) error {
	*t.writes = append(*t.writes, func(tx store.Tx) error { return tx.Insert(context.Background(), r) })
	return nil
}

func (t staleTx) Put(_ context.Context, r store.Resource) error {
	*t.claims = true
	*t.writes = append(*t.writes, func(tx store.Tx) error { return tx.Put(context.Background(), r) })
	return nil
}

func (t staleTx) Replace(_ context.Context, r store.Resource, prev []byte) error {
	*t.claims = true
	*t.writes = append(*t.writes, func(tx store.Tx) error { return tx.Replace(context.Background(), r, prev) })
	return nil
}

func (s *staleStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	var (
		writes []func(store.Tx) error
		claims bool
	)
	if err := s.View(ctx, func(tx store.Tx) error { return fn(staleTx{tx, &writes, &claims}) }); err != nil {
		return err
	}
	if claims && s.n.Add(1) <= 2 {
		s.gate.Done()
		s.gate.Wait()
	}
	return s.Store.Update(ctx, func(tx store.Tx) error {
		for _, w := range writes {
			if err := w(tx); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestClaimRaceCatchesDoubleClaims shows that the ClaimRace case fails on
// a backend whose Updates are not serializable, and that Replace keeps
// claims single even there.
func TestClaimRaceCatchesDoubleClaims(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		replace bool
		wantErr bool
	}{{false, true}, {true, false}} {
		base, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kiln.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { base.Close() })
		st := &staleStore{Store: base}
		st.gate.Add(2)
		err = storetest.ClaimRace(st, tt.replace, 2, 4)
		if (err != nil) != tt.wantErr {
			t.Errorf("replace=%v: ClaimRace = %v, want error %v", tt.replace, err, tt.wantErr)
		}
	}
}
