package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-build/kiln/internal/pgtest"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/postgres"
	"github.com/kiln-build/kiln/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t testing.TB, url string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.URL(t)) })
}

// TestSocket opens the store over the cluster's unix socket, the way a
// node on the database's own host connects, and runs concurrent claims
// through it (the whole suite runs over TCP above).
func TestSocket(t *testing.T) {
	st := open(t, pgtest.SocketURL(t))
	defer st.Close()
	if err := storetest.ClaimRace(st, true, 4, 12); err != nil {
		t.Error(err)
	}
}

// TestTwoNodes opens two stores on one database, as two kiln nodes do:
// a write through one is read by the other's Get at once, a NOTIFY through
// one wakes the other's subscriber, and claims through both never
// double-claim.
func TestTwoNodes(t *testing.T) {
	url := pgtest.URL(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	r := store.Resource{ARN: "arn:aws:imagebuilder:us-east-1:111111111111:component/x/1.0.0/1",
		Kind: "component", Account: "111111111111", Region: "us-east-1", Name: "x", Version: "1.0.0", Build: 1,
		Doc: []byte(`{"v":0}`)}
	if err := a.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		r.Doc = []byte{'{', '"', 'v', '"', ':', byte('0' + i%10), '}'}
		w := []*postgres.Store{a, b}[i%2]
		if err := w.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, r) }); err != nil {
			t.Fatal(err)
		}
		for _, rd := range []*postgres.Store{a, b} {
			got, err := rd.Get(ctx, r.ARN)
			if err != nil || string(got.Doc) != string(r.Doc) {
				t.Fatalf("write %d: Get = %s, %v; want %s", i, got.Doc, err, r.Doc)
			}
		}
	}

	wake, stop := b.Subscribe("kiln_cross")
	defer stop()
	deadline := time.Now().Add(30 * time.Second)
	for woke := false; !woke; {
		if err := a.Notify(ctx, "kiln_cross"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
			woke = true
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("a NOTIFY through one store did not wake the other's subscriber")
			}
		}
	}

	if err := storetest.ClaimRace(twoNodes{a, b}, true, 6, 30); err != nil {
		t.Error(err)
	}
}

// twoNodes alternates Updates between two stores on one database.
type twoNodes struct{ a, b *postgres.Store }

var turn = make(chan int, 1)

func init() { turn <- 0 }

func (n twoNodes) pick() *postgres.Store {
	i := <-turn
	turn <- i + 1
	if i%2 == 0 {
		return n.a
	}
	return n.b
}

func (n twoNodes) View(ctx context.Context, fn func(store.Tx) error) error {
	return n.pick().View(ctx, fn)
}
func (n twoNodes) Update(ctx context.Context, fn func(store.Tx) error) error {
	return n.pick().Update(ctx, fn)
}
func (n twoNodes) Get(ctx context.Context, arn string) (store.Resource, error) {
	return n.pick().Get(ctx, arn)
}
func (n twoNodes) Ping(ctx context.Context) error { return n.a.Ping(ctx) }
func (n twoNodes) Close() error                   { return nil }

// TestMigrationsConcurrent opens several stores on a new database at once,
// as nodes starting together do: the advisory lock makes one of them
// migrate and the others find the schema in place.
func TestMigrationsConcurrent(t *testing.T) {
	url := pgtest.URL(t)
	const n = 4
	errs := make(chan error, n)
	stores := make(chan *postgres.Store, n)
	for range n {
		go func() {
			st, err := postgres.Open(context.Background(), url)
			errs <- err
			stores <- st
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
		if st := <-stores; st != nil {
			st.Close()
		}
	}
}

func TestOpenBadURL(t *testing.T) {
	for _, url := range []string{"postgres://u:secret@127.0.0.1:notaport/db", "postgres://%zz"} {
		_, err := postgres.Open(context.Background(), url)
		if err == nil {
			t.Errorf("Open(%q) succeeded", url)
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Errorf("Open(%q) = %v", url, err)
		}
	}
}

// TestListenReconnect ends the listener's connection from the server side,
// as a database restart or a network cut would: the subscriber is woken
// once the listener is back (notifications meanwhile were lost), and later
// notifications reach it again.
func TestListenReconnect(t *testing.T) {
	url := pgtest.URL(t)
	st := open(t, url)
	defer st.Close()
	ctx := context.Background()
	wake, stop := st.Subscribe("kiln_reconnect")
	defer stop()
	notifyUntilWoken(t, st, "kiln_reconnect", wake)

	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var killed int
	err = admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminating the listener's backend: %d backends, %v", killed, err)
	}
	select {
	case <-wake:
	case <-time.After(30 * time.Second):
		t.Fatal("no wake-up after the listener reconnected")
	}
	notifyUntilWoken(t, st, "kiln_reconnect", wake)
}

// notifyUntilWoken notifies channel until wake fires: a LISTEN takes effect
// a moment after Subscribe returns.
func notifyUntilWoken(t *testing.T, n store.Notifier, channel string, wake <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := n.Notify(context.Background(), channel); err != nil {
			t.Fatal(err)
		}
		select {
		case <-wake:
			return
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("no wake-up on %s", channel)
			}
		}
	}
}

// TestSwallowedStatementError runs, in one batch with others, an Update
// whose function ignores a failed statement: it alone fails, the others
// commit.
func TestSwallowedStatementError(t *testing.T) {
	st := open(t, pgtest.URL(t))
	defer st.Close()
	ctx := context.Background()
	comp := func(name string) store.Resource {
		return store.Resource{ARN: "arn:aws:imagebuilder:us-east-1:111111111111:component/" + name + "/1.0.0/1",
			Kind: "component", Account: "111111111111", Region: "us-east-1", Name: name, Version: "1.0.0", Build: 1, Doc: []byte("{}")}
	}
	const n = 16
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		go func() {
			<-start
			errs <- st.Update(ctx, func(tx store.Tx) error {
				if i == 0 {
					bad := comp("bad")
					bad.Tags = map[string]string{"nul": "\x00"} // jsonb refuses NUL: the INSERT fails
					_ = tx.Insert(ctx, bad)
					return nil
				}
				return tx.Insert(ctx, comp(fmt.Sprintf("good-%02d", i)))
			})
		}()
	}
	close(start)
	failed := 0
	for range n {
		if err := <-errs; err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("%d Updates failed, want 1 (the one that swallowed a failed statement)", failed)
	}
	for i := 1; i < n; i++ {
		if _, err := st.Get(ctx, comp(fmt.Sprintf("good-%02d", i)).ARN); err != nil {
			t.Errorf("good-%02d: %v", i, err)
		}
	}
}
