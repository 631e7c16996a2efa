// Package postgres is kiln's PostgreSQL store, on pgx v5: `kiln serve
// --store postgres://…` keeps all of kiln's state in one database that
// several kiln nodes share.
//
// Writes. Each node has one writer goroutine that commits concurrent
// Updates together (group commit), like the SQLite store: it takes every
// Update waiting in its queue, runs each inside its own SAVEPOINT of one
// SERIALIZABLE transaction, and COMMITs once, so a batch costs one WAL
// flush. Running a node's Updates one after another in one transaction
// matters beyond the flush: PostgreSQL's serializable snapshot isolation
// tracks reads per index page, so two concurrent creates that each look
// up their name and insert beside each other abort one another (40001)
// although they touch different rows — measured through the API, 32
// concurrent CreateComponent calls, each its own transaction, managed 84
// a second. In one batch they cannot conflict.
// Within a batch, BEGIN and each Update's SAVEPOINT travel with that
// Update's first statement (pgx pipelining, see pipelined), so an Update
// costs the round trips of its own statements and the batch one COMMIT.
//
// Isolation across nodes. The batch's transaction is SERIALIZABLE: PostgreSQL
// aborts, with SQLSTATE 40001, any transaction whose reads another
// committed transaction invalidated (and deadlocks end in 40P01). The
// writer then rolls back and runs the whole batch again, each fn with a
// fresh Tx, as the store.Store contract allows, and answers
// store.ErrConflict only after maxAttempts. So an Update's reads are still
// true when its writes commit, across every node, with no locks to get
// wrong.
//
// Claims. The engine claims a build job, a schedule tick or a lifecycle
// run with Update: it lists the candidates, then writes one back with
// Tx.Replace, a compare-and-set on the Doc. That is why serializable
// transactions fit kiln better than SELECT … FOR UPDATE SKIP LOCKED. A
// claim is decided by reading the resource's Doc (its status, its lease)
// and kiln's candidate sets are small (the queued builds of one factory),
// so conflicts are rare and a retried claim costs one more short
// transaction. SKIP LOCKED would need a claim query per kind written in
// SQL against the Doc, which the store treats as opaque, and its row locks
// only guard rows that exist: a tick that must fire once is the absence of
// a row, which a serializable transaction protects and SKIP LOCKED cannot.
// Replace keeps a claim single even if a transaction were ever run at a
// weaker level.
//
// Reads. View runs at REPEATABLE READ, READ ONLY: one snapshot for all of
// fn. Get outside a transaction is one statement on the pool with no
// process-local cache, so it sees every Update acknowledged by any node
// (read-your-writes across nodes) — caching would need invalidation
// through the database, and a primary-key probe is cheap.
//
// Durability. Update returns nil only after COMMIT, which with
// PostgreSQL's defaults (fsync=on, synchronous_commit=on) has flushed the
// WAL.
//
// Migrations (migrations/*.sql) run at Open in one transaction holding
// pg_advisory_xact_lock, so nodes starting together migrate once and never
// see a half-migrated schema; schema_version records what was applied.
//
// Wake-ups. The store is a store.Notifier through LISTEN/NOTIFY (see
// notify.go).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kiln-build/kiln/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrClosed is returned by calls on a Store after Close.
var ErrClosed = errors.New("postgres: store is closed")

var (
	errReadOnly = errors.New("postgres: write in a read-only transaction")
	errTxDone   = errors.New("postgres: transaction used after its function returned")
)

const (
	// DefaultTokenRetention is how long idempotency tokens are remembered.
	DefaultTokenRetention = 24 * time.Hour
	// maxAttempts bounds how often Update runs fn on serialization
	// failures before it returns ErrConflict.
	maxAttempts = 64
	// maxBatch caps how many Updates one group commit takes.
	maxBatch = 64
	// migrationLock is the pg_advisory_xact_lock key migrations hold.
	migrationLock = 0x6b696c6e // "kiln"
	purgeInterval = time.Hour
	// defaultMaxConns is the pool size unless the URL sets pool_max_conns:
	// enough concurrent commits to share WAL flushes, and few enough that
	// three nodes (each with one more connection, its listener) stay well
	// inside PostgreSQL's default max_connections of 100.
	defaultMaxConns = 16
)

// Option configures Open.
type Option func(*config)

type config struct {
	tokenRetention time.Duration
	now            func() time.Time
}

// WithTokenRetention sets how long idempotency tokens are remembered
// (default 24h); d <= 0 keeps them forever.
func WithTokenRetention(d time.Duration) Option {
	return func(c *config) { c.tokenRetention = d }
}

// WithClock sets the clock for default timestamps and token expiry.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	cfg    config
	pool   *pgxpool.Pool
	listen *listener // see notify.go

	reqs       chan *request
	writerDone chan struct{}
	commits    atomic.Int64 // group commits, for tests

	mu     sync.RWMutex // guards closed against concurrent sends on reqs
	closed bool
	stop   chan struct{}
	done   chan struct{} // the purger's
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.Advisories = (*Store)(nil)
	_ store.Notifier   = (*Store)(nil)
)

// Open connects to the database at url (postgres://… or a libpq key=value
// string), applies pending migrations and returns the store.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg := config{tokenRetention: DefaultTokenRetention, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		pcfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{
		cfg:    cfg,
		pool:   pool,
		listen: newListener(pcfg.ConnConfig.Copy()),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),

		reqs:       make(chan *request, maxBatch),
		writerDone: make(chan struct{}),
	}
	if err := s.purgeTokens(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	go s.purger()
	go s.writer()
	return s, nil
}

// migration is one embedded schema change: migrations/NNNN_what.sql.
type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 || path.Ext(name) != ".sql" {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %q and %q share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := fs.ReadFile(migrations, "migrations/"+name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// migrate applies every migration newer than schema_version in one
// transaction under an advisory lock; a database newer than this binary
// is refused.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	all, err := loadMigrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version integer PRIMARY KEY,
			name    text NOT NULL,
			applied timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&current); err != nil {
			return err
		}
		if n := len(all); n > 0 && current > all[n-1].version {
			return fmt.Errorf("database schema version %d is newer than this binary's %d", current, all[n-1].version)
		}
		for _, m := range all {
			if m.version <= current {
				continue
			}
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// View runs fn in a READ ONLY, REPEATABLE READ transaction: one snapshot.
// BEGIN goes out with fn's first statement (see pipelined), and a fn that
// runs no statement costs no round trip.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin read: %w", err)
	}
	// Release destroys a connection left inside a transaction.
	defer c.Release()
	p := &pipelined{conn: c.Conn(), ahead: []string{"BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"}}
	defer func() {
		if c.Conn().PgConn().TxStatus() != 'I' {
			_, _ = c.Conn().Exec(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	t := &tx{q: p, now: s.cfg.now, retention: s.cfg.tokenRetention}
	defer t.finish()
	return fn(t)
}

// Update queues fn for the writer's next group commit (see the package
// doc) and waits for its outcome. When fn returns an error (or panics, in
// which case the panic is re-raised here) what fn did is rolled back and
// the other Updates of the batch are unaffected. If ctx is done before fn
// starts, fn is not run and Update returns ctx's error; once fn has
// started, Update waits for the outcome, and the Tx's methods return ctx's
// error so that fn can stop early.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, fn: fn, done: make(chan result, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.reqs <- r
	s.mu.RUnlock()
	var res result
	select {
	case res = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(queued, canceled) {
			return ctx.Err()
		}
		res = <-r.done
	}
	if res.panicked {
		panic(res.panicVal)
	}
	return res.err
}

// Request states: a waiting caller and the writer race to move a request
// out of queued; whoever wins decides whether fn runs.
const (
	queued int32 = iota
	started
	canceled
)

type request struct {
	ctx   context.Context
	fn    func(store.Tx) error
	state atomic.Int32
	done  chan result // buffered: the writer never blocks on it
}

type result struct {
	err      error
	panicked bool
	panicVal any
}

// writer commits the queued Updates, one batch at a time: whatever arrived
// while the previous COMMIT waited for its WAL flush forms the next batch.
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]*request, 0, maxBatch)
	for first := range s.reqs {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

// commit runs batch in one SERIALIZABLE transaction, each Update inside a
// savepoint, and answers every request in it. A serialization failure (a
// conflict with another node's transaction) or deadlock fails the whole
// transaction, so the whole batch runs again, up to maxAttempts times.
func (s *Store) commit(batch []*request) {
	live := batch[:0:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(queued, started) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	for attempt := 1; ; attempt++ {
		results, err := s.runBatch(live)
		if err == nil {
			for i, r := range live {
				r.done <- results[i]
			}
			return
		}
		if retryable(err) && attempt < maxAttempts {
			// Back off with jitter so that the transactions that
			// collided do not collide again in lockstep.
			time.Sleep(time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond))))
			continue
		}
		if retryable(err) {
			err = fmt.Errorf("%w: gave up after %d serialization failures: %v", store.ErrConflict, attempt, err)
		}
		for i, r := range live {
			if results != nil && results[i].panicked {
				r.done <- results[i]
				continue
			}
			r.done <- result{err: err}
		}
		return
	}
}

// runBatch runs the batch's fns in one transaction and commits it. A
// non-nil error means nothing was kept; results may then still say which
// fns panicked.
//
// Round trips: BEGIN, and each fn's SAVEPOINT (with the RELEASE of the
// previous fn's), go out with that fn's first statement (see pipelined),
// so a fn costs its own statements and the batch one COMMIT more. A fn
// that fails after running statements costs a ROLLBACK TO SAVEPOINT.
func (s *Store) runBatch(live []*request) ([]result, error) {
	ctx := context.Background()
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	// Release destroys a connection left inside a transaction, which is
	// how every error return below rolls back.
	defer c.Release()
	conn := c.Conn()
	status := func() byte { return conn.PgConn().TxStatus() }
	p := &pipelined{conn: conn, detach: true}
	const begin = "BEGIN ISOLATION LEVEL SERIALIZABLE"
	results := make([]result, len(live))
	// A batch of one needs no savepoint: its fn failing rolls back the
	// transaction.
	solo := len(live) == 1
	savepoint := false // a savepoint u was sent and not released
	for i, r := range live {
		// Statements queued for an earlier fn that ran none are
		// dropped, except BEGIN.
		p.ahead = p.ahead[:0]
		if status() == 'I' {
			p.ahead = append(p.ahead, begin)
		}
		if !solo {
			if savepoint {
				p.ahead = append(p.ahead, "RELEASE SAVEPOINT u")
			}
			p.ahead = append(p.ahead, "SAVEPOINT u")
		}
		t := &tx{q: p, writable: true, now: s.cfg.now, retention: s.cfg.tokenRetention}
		func() {
			defer func() {
				if v := recover(); v != nil {
					results[i] = result{panicked: true, panicVal: v}
				}
			}()
			results[i].err = r.fn(t)
		}()
		t.finish()
		ran := len(p.ahead) == 0 // fn sent a statement, and ahead with it
		if retryable(results[i].err) {
			return results, results[i].err // the transaction is doomed
		}
		// A fn that went on after a failed statement leaves the
		// transaction aborted; undo it alone rather than fail the batch.
		if results[i].err == nil && !results[i].panicked && status() == 'E' {
			results[i].err = errors.New("postgres: a statement of the Update failed and its function went on")
		}
		failed := results[i].err != nil || results[i].panicked
		if solo {
			if failed && status() != 'I' {
				if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
					return results, fmt.Errorf("postgres: rollback: %w", err)
				}
			}
			break
		}
		if !ran {
			continue
		}
		if status() == 'I' {
			// BEGIN itself failed with fn's first statement.
			continue
		}
		savepoint = true
		if failed {
			if _, err := conn.Exec(ctx, "ROLLBACK TO SAVEPOINT u"); err != nil {
				return results, fmt.Errorf("postgres: rollback to savepoint: %w", err)
			}
		}
	}
	p.ahead = p.ahead[:0]
	if status() == 'I' {
		return results, nil // no fn ran a statement that kept anything
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		return results, fmt.Errorf("postgres: commit: %w", err)
	}
	if tag.String() == "ROLLBACK" {
		return results, errors.New("postgres: commit: the transaction was aborted")
	}
	s.commits.Add(1)
	return results, nil
}

// retryable reports whether err is a serialization failure or deadlock,
// after which the transaction may be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Get reads one resource by ARN outside any transaction: one statement,
// which sees every committed Update of every node.
func (s *Store) Get(ctx context.Context, arn string) (store.Resource, error) {
	if err := s.checkOpen(); err != nil {
		return store.Resource{}, err
	}
	t := &tx{q: s.pool, now: s.cfg.now}
	return t.Get(ctx, arn)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.pool.Ping(ctx)
}

// Close stops the listener and the purger and closes the pool, waiting
// for connections in use to be returned. Calls after the first return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	close(s.reqs)
	s.mu.Unlock()
	<-s.writerDone // queued Updates finish first
	<-s.done
	s.listen.close()
	s.pool.Close()
	return nil
}

func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// purger deletes expired idempotency tokens every purgeInterval. Any node
// may do it; the DELETE is idempotent.
func (s *Store) purger() {
	defer close(s.done)
	tick := time.NewTicker(purgeInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			_ = s.purgeTokens(ctx) // a failure only postpones the purge
			cancel()
		}
	}
}

func (s *Store) purgeTokens(ctx context.Context) error {
	if s.cfg.tokenRetention <= 0 {
		return nil
	}
	cutoff := s.cfg.now().Add(-s.cfg.tokenRetention).UnixNano()
	if _, err := s.pool.Exec(ctx, "DELETE FROM tokens WHERE created < $1", cutoff); err != nil {
		return fmt.Errorf("postgres: purge tokens: %w", err)
	}
	return nil
}
