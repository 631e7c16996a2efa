package sqlite

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// TestInsertFillsReadCache checks the read cache's copy of an inserted
// row against the row itself, read through a transaction (which never
// uses that cache), for the shapes a Resource can take on the way in.
func TestInsertFillsReadCache(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	defer s.Close()
	east := time.FixedZone("east", 5*3600)
	for _, tc := range []struct {
		name string
		edit func(*store.Resource)
	}{
		{"plain", func(*store.Resource) {}},
		{"nil doc, tags and grants", func(r *store.Resource) { r.Doc, r.Tags, r.SharedWith = nil, nil, nil }},
		{"grants unsorted and repeated", func(r *store.Resource) { r.SharedWith = []string{"333333333333", "*", "222222222222", "*"} }},
		{"times with a zone and a monotonic reading", func(r *store.Resource) {
			r.Created = time.Now().In(east)
			r.Updated = r.Created.Add(1500 * time.Nanosecond)
		}},
		{"policy", func(r *store.Resource) {
			r.Policy = `{"Version":"2012-10-17"}`
			r.SharedWith = []string{"444444444444"}
		}},
	} {
		r := testResource("wt-" + tc.name)
		tc.edit(&r)
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		cached, _, ok := s.cache.get(r.ARN)
		if !ok {
			t.Fatalf("%s: the insert left nothing in the read cache", tc.name)
		}
		var stored store.Resource
		if err := s.View(ctx, func(tx store.Tx) error {
			var err error
			stored, err = tx.Get(ctx, r.ARN)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cached, stored) {
			t.Errorf("%s: cached\n%+v\nstored\n%+v", tc.name, cached, stored)
		}
		s.rows.mu.Lock()
		row, ok := s.rows.m[r.ARN]
		s.rows.mu.Unlock()
		if !ok || !reflect.DeepEqual(row.r, stored) {
			t.Errorf("%s: List's row cache holds %+v (%v); want %+v", tc.name, row.r, ok, stored)
		}
		if got, err := s.Get(ctx, r.ARN); err != nil || !reflect.DeepEqual(got, stored) {
			t.Errorf("%s: Get = %+v, %v; want %+v", tc.name, got, err, stored)
		}
	}
}

// TestReadCacheSkipsUndoneInserts: an insert whose Update failed, and one
// that a later Update of the same batch overwrote or deleted, must not
// reach the cache with the inserted value.
func TestReadCacheSkipsUndoneInserts(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	defer s.Close()
	failed := testResource("wt-failed")
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Insert(ctx, failed); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, _, ok := s.cache.get(failed.ARN); ok {
		t.Error("a rolled-back insert is in the read cache")
	}
	if _, err := s.Get(ctx, failed.ARN); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of a rolled-back insert = %v, want ErrNotFound", err)
	}

	for _, then := range []string{"put", "delete"} {
		r := testResource("wt-then-" + then)
		if err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Insert(ctx, r); err != nil {
				return err
			}
			if then == "delete" {
				return tx.Delete(ctx, r.ARN)
			}
			r2 := r
			r2.Doc = []byte(`{"changed":true}`)
			return tx.Put(ctx, r2)
		}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, r.ARN)
		switch then {
		case "delete":
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("insert then delete: Get = %+v, %v; want ErrNotFound", got, err)
			}
		case "put":
			if err != nil || string(got.Doc) != `{"changed":true}` {
				t.Errorf("insert then put: Get = %s, %v; want the put's doc", got.Doc, err)
			}
		}
	}
}
