package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/storetest"
)

func openTemp(t testing.TB, opts ...Option) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kiln.db")
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

// TestConformanceSmallBatches runs the suite with batches of one and two,
// so batch boundaries fall everywhere.
func TestConformanceSmallBatches(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				s, _ := openTemp(t, WithMaxBatch(n), WithReadConns(1))
				return s
			})
		})
	}
}

func testResource(name string) store.Resource {
	return store.Resource{
		ARN:  "arn:aws:imagebuilder:us-east-1:111111111111:component/" + name + "/1.0.0/1",
		Kind: "component", Account: "111111111111", Region: "us-east-1",
		Name: name, Version: "1.0.0", Build: 1,
		Doc: []byte(`{"name":"` + name + `"}`), Tags: map[string]string{"k": name},
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	}
	for _, tt := range tests {
		var got string
		if err := s.wconn.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
		}
	}
	var qo int
	if err := s.read.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
		t.Errorf("read pool query_only = %d, %v", qo, err)
	}
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	r := testResource("persist")
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for range 2 {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var versions []int
		rows, err := s.read.QueryContext(ctx, "SELECT version FROM schema_version ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v int
			rows.Scan(&v)
			versions = append(versions, v)
		}
		rows.Close()
		all, _ := loadMigrations()
		if len(versions) != len(all) {
			t.Errorf("schema_version rows = %v, want one per migration (%d)", versions, len(all))
		}
		err = s.View(ctx, func(tx store.Tx) error {
			got, err := tx.Get(ctx, r.ARN)
			if err == nil && string(got.Doc) != string(r.Doc) {
				t.Errorf("Doc = %s", got.Doc)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	if _, err := s.wconn.ExecContext(ctx, "INSERT INTO schema_version (version, name) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path); err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
}

func TestOpenRejectsPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "/tmp/a?b.db"} {
		if s, err := Open(context.Background(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestTokenExpiry moves a fake clock past the retention: the token is
// forgotten, may be used again, and is eventually purged from the table.
func TestTokenExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s, _ := openTemp(t, WithClock(clock), WithTokenRetention(2*time.Hour))
	defer s.Close()
	ctx := context.Background()
	tok := store.Token{Account: "a", Operation: "Op", Token: "t", RequestHash: "h1", Response: []byte(`{}`)}
	put := func(tok store.Token) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.PutToken(ctx, tok) })
	}
	lookup := func() (store.Token, error) {
		var got store.Token
		err := s.View(ctx, func(tx store.Tx) error {
			var err error
			got, err = tx.Token(ctx, "a", "Op", "t")
			return err
		})
		return got, err
	}
	count := func() int {
		var n int
		if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM tokens").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if err := put(tok); err != nil {
		t.Fatal(err)
	}
	if got, err := lookup(); err != nil || !got.Created.Equal(clock()) {
		t.Fatalf("Token = %+v, %v; want Created = now", got, err)
	}
	advance(time.Hour)
	if err := put(tok); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PutToken within retention = %v, want ErrExists", err)
	}
	advance(90 * time.Minute)
	if _, err := lookup(); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired Token = %v, want ErrNotFound", err)
	}
	tok.RequestHash = "h2"
	if err := put(tok); err != nil {
		t.Fatalf("PutToken over expired token: %v", err)
	}
	if got, err := lookup(); err != nil || got.RequestHash != "h2" {
		t.Fatalf("Token = %+v, %v; want the new one", got, err)
	}

	// Purge: an Update more than purgeInterval after the last purge
	// deletes what has expired.
	other := store.Token{Account: "a", Operation: "Op", Token: "old", RequestHash: "h", Response: []byte(`{}`)}
	if err := put(other); err != nil {
		t.Fatal(err)
	}
	advance(3 * time.Hour)
	if n := count(); n != 2 {
		t.Fatalf("tokens before purge = %d, want 2", n)
	}
	if err := s.Update(ctx, func(store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("tokens after purge = %d, want 0", n)
	}
}

func TestUpdatePanicIsRaisedAndRolledBack(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	r := testResource("panicky")
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the fn's panic", v)
			}
		}()
		s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Insert(ctx, r); err != nil {
				return err
			}
			panic("boom")
		})
		t.Error("Update returned after fn panicked")
	}()
	err := s.View(ctx, func(tx store.Tx) error { _, err := tx.Get(ctx, r.ARN); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("insert of panicking Update kept: %v", err)
	}
	// The writer survived.
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
		t.Fatal(err)
	}
}

func TestTxUnusableAfterReturn(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	var kept store.Tx
	s.Update(ctx, func(tx store.Tx) error { kept = tx; return nil })
	if err := kept.Insert(ctx, testResource("late")); !errors.Is(err, errTxDone) {
		t.Errorf("Insert on a returned Update's Tx = %v", err)
	}
	s.View(ctx, func(tx store.Tx) error { kept = tx; return nil })
	if _, err := kept.Get(ctx, "x"); !errors.Is(err, errTxDone) {
		t.Errorf("Get on a returned View's Tx = %v", err)
	}
}

// TestCanceledMidUpdate cancels the caller's context while its fn runs: the
// fn's next statement fails, its work is rolled back, and an Update in the
// same batch is unaffected.
func TestCanceledMidUpdate(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	bg := context.Background()
	ctx, cancel := context.WithCancel(bg)
	a, b := testResource("a"), testResource("b")
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Insert(ctx, a); err != nil {
			return err
		}
		cancel()
		return tx.Insert(ctx, b)
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Update = %v, want context.Canceled", err)
	}
	if err := s.Update(bg, func(tx store.Tx) error { return tx.Insert(bg, b) }); err != nil {
		t.Fatal(err)
	}
	var got []store.Resource
	s.View(bg, func(tx store.Tx) error {
		got, err = tx.List(bg, store.Query{Kind: "component", Region: "us-east-1"})
		return err
	})
	if len(got) != 1 || got[0].ARN != b.ARN {
		t.Errorf("rows = %v", got)
	}
}

// TestBatchesForm checks that concurrent Updates do share commits: with
// the writer held busy, everything queued behind it goes in one batch.
func TestBatchesForm(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	release := make(chan struct{})
	blocking := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s.Update(ctx, func(store.Tx) error { close(blocking); <-release; return nil })
	})
	<-blocking
	const n = 20
	for i := range n {
		wg.Go(func() {
			r := testResource(fmt.Sprintf("q%02d", i))
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
				t.Error(err)
			}
		})
	}
	// Wait until all n are queued, then let the writer go.
	for len(s.reqs) < n {
		runtime.Gosched()
	}
	commitsBefore := s.commits.Load()
	close(release)
	wg.Wait()
	var rows int
	s.read.QueryRowContext(ctx, "SELECT count(*) FROM resources").Scan(&rows)
	if rows != n {
		t.Errorf("rows = %d, want %d", rows, n)
	}
	// One commit for the blocking Update, one for all that queued behind it.
	if got := s.commits.Load() - commitsBefore; got != 2 {
		t.Errorf("%d queued Updates took %d commits, want 2 (with the blocking one)", n, got)
	}
}
