// Package sqlite is kiln's default store: one SQLite database file, opened
// with the pure-Go modernc.org/sqlite driver.
//
// Writes go through a single writer goroutine that owns the only write
// connection and commits concurrent Updates together (group commit): it
// takes every Update waiting in its queue, runs each inside its own
// SAVEPOINT of one IMMEDIATE transaction, and COMMITs once. The database
// runs in WAL mode with synchronous=FULL, so that one COMMIT is one fsync
// and an Update returns nil only once its changes are on disk. Reads run on
// a separate pool of read-only connections, which WAL lets proceed while the
// writer commits.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-build/kiln/internal/store"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrClosed is returned by calls on a Store after Close.
var ErrClosed = errors.New("sqlite: store is closed")

// errReadOnly is returned by writes inside View.
var errReadOnly = errors.New("sqlite: write in a read-only transaction")

// errTxDone is returned when a Tx is used after its fn has returned.
var errTxDone = errors.New("sqlite: transaction used after its function returned")

// Defaults for the options.
const (
	DefaultTokenRetention = 24 * time.Hour
	DefaultMaxBatch       = 128
	DefaultReadConns      = 4
	DefaultBusyTimeout    = 5 * time.Second

	// purgeInterval is how often, at most, the writer deletes expired
	// idempotency tokens (as part of a batch it is committing anyway).
	purgeInterval = time.Hour
)

// Option configures Open.
type Option func(*config)

type config struct {
	tokenRetention time.Duration
	maxBatch       int
	readConns      int
	busyTimeout    time.Duration
	now            func() time.Time
}

// WithTokenRetention sets how long idempotency tokens are remembered
// (default 24h). Older tokens are neither returned nor considered a
// duplicate, and are purged lazily. d <= 0 keeps tokens forever.
func WithTokenRetention(d time.Duration) Option {
	return func(c *config) { c.tokenRetention = d }
}

// WithMaxBatch caps how many Updates one group commit takes (default 128).
func WithMaxBatch(n int) Option {
	return func(c *config) { c.maxBatch = max(n, 1) }
}

// WithReadConns sets the size of the read connection pool (default 4).
func WithReadConns(n int) Option {
	return func(c *config) { c.readConns = max(n, 1) }
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process using the same file (default 5s).
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = d }
}

// WithClock sets the clock used for default timestamps and token expiry, so
// tests can move time without sleeping.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// Store is a store.Store backed by one SQLite database file.
type Store struct {
	cfg    config
	read   *sql.DB    // pool of query_only connections for View
	write  *sql.DB    // holds exactly one connection: wconn
	wconn  *sql.Conn  // owned by the writer goroutine after Open
	wstmts *stmtCache // prepared on wconn
	// readers holds cfg.readConns read connections for View, each with
	// its own statements; nil entries are connections not opened yet.
	readers chan *reader
	closing chan struct{} // closed when Close starts
	reqs    chan *request
	done    chan struct{} // closed when the writer goroutine exits
	mu      sync.RWMutex  // guards closed against concurrent sends on reqs
	closed  bool

	cache readCache // serves Get; see cache.go
	rows  rowCache  // serves List's rows by revision; see rows.go

	wakeups store.Wakeups // see notify.go

	lastPurge time.Time    // writer goroutine only
	rev       int64        // writer goroutine only: the last revision handed out
	commits   atomic.Int64 // successful group commits, for tests
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path, applies any pending
// migrations and starts the writer. The directory must exist.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{
		tokenRetention: DefaultTokenRetention,
		maxBatch:       DefaultMaxBatch,
		readConns:      DefaultReadConns,
		busyTimeout:    DefaultBusyTimeout,
		now:            time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	// The driver takes everything after the first '?' as its parameters.
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: unsupported database path %q", path)
	}

	busy := fmt.Sprint(cfg.busyTimeout.Milliseconds())
	wparams := url.Values{
		"_busy_timeout": {busy},
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_foreign_keys": {"1"},
		// Every Update runs in a savepoint; with the default temp store
		// SQLite journals each touched page to a temporary file first —
		// a write syscall per page on the writer's hot path. In memory
		// it is a copy. Durability does not depend on it: the WAL is.
		"_pragma": {"temp_store(memory)"},
	}
	write, err := sql.Open("sqlite", path+"?"+wparams.Encode())
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	wconn, err := write.Conn(ctx)
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	fail := func(err error) (*Store, error) {
		wconn.Close()
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// journal_mode=WAL fails silently (the mode stays as it was) where
	// WAL is impossible, e.g. without shared memory; refuse to run then,
	// since both the concurrency and durability design assume it.
	var mode string
	if err := wconn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("journal_mode is %q, want wal", mode))
	}
	if err := migrate(ctx, wconn); err != nil {
		return fail(err)
	}

	rparams := url.Values{
		"_busy_timeout": {busy},
		"_query_only":   {"1"},
	}
	read, err := sql.Open("sqlite", path+"?"+rparams.Encode())
	if err != nil {
		return fail(err)
	}
	read.SetMaxOpenConns(cfg.readConns + 1)
	read.SetMaxIdleConns(cfg.readConns + 1)
	read.SetConnMaxLifetime(0)
	read.SetConnMaxIdleTime(0)

	s := &Store{
		cfg:     cfg,
		read:    read,
		write:   write,
		wconn:   wconn,
		wstmts:  newStmtCache(wconn.PrepareContext),
		readers: make(chan *reader, cfg.readConns),
		closing: make(chan struct{}),
		reqs:    make(chan *request, cfg.maxBatch),
		done:    make(chan struct{}),
	}
	for range cfg.readConns {
		s.readers <- nil
	}
	if err := s.purgeTokens(ctx); err != nil {
		read.Close()
		return fail(err)
	}
	go s.writer()
	return s, nil
}

// reader is one read connection with the statements prepared on it. A
// View holds it for its whole transaction, so the store keeps its own pool
// rather than database/sql's, whose DB-level statements would need a second
// connection to prepare on.
type reader struct {
	conn  *sql.Conn
	stmts *stmtCache
}

// acquire takes a reader, opening its connection on first use.
func (s *Store) acquire(ctx context.Context) (*reader, error) {
	var r *reader
	select {
	case r = <-s.readers:
	case <-s.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if r != nil {
		return r, nil
	}
	conn, err := s.read.Conn(ctx)
	if err != nil {
		s.readers <- nil
		return nil, fmt.Errorf("sqlite: read connection: %w", err)
	}
	return &reader{conn: conn, stmts: newStmtCache(conn.PrepareContext)}, nil
}

func (s *Store) release(r *reader) { s.readers <- r }

// exec runs one of the read transaction's own statements (BEGIN,
// ROLLBACK) prepared once on r's connection.
func (r *reader) exec(ctx context.Context, query string) (sql.Result, error) {
	stmt, err := r.stmts.get(ctx, query)
	if err != nil || stmt == nil {
		return r.conn.ExecContext(ctx, query)
	}
	return stmt.ExecContext(ctx)
}

// View runs fn in a read-only transaction on a read connection. The
// snapshot is fixed by fn's first read and holds until fn returns.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	r, err := s.acquire(ctx)
	if err != nil {
		return err
	}
	// BEGIN and ROLLBACK run uncancellable: a reader must go back to the
	// pool outside any transaction. ROLLBACK fails harmlessly when an
	// interrupted statement already ended the transaction.
	bg := context.WithoutCancel(ctx)
	if _, err := r.exec(bg, "BEGIN"); err != nil {
		// A connection that cannot begin is replaced on next use.
		r.stmts.close()
		r.conn.Close()
		s.release(nil)
		return fmt.Errorf("sqlite: begin read: %w", err)
	}
	defer s.release(r)
	defer r.exec(bg, "ROLLBACK")
	t := &tx{q: r.conn, stmts: r.stmts, now: s.cfg.now, retention: s.cfg.tokenRetention, rows: &s.rows}
	defer t.finish()
	return fn(t)
}

// Update runs fn in the writer's next group commit; see the package doc.
// When Update returns nil, fn's changes are committed and fsynced. When fn
// returns an error (or panics, in which case the panic is re-raised here)
// everything fn did is rolled back and the other Updates in the batch are
// unaffected. If ctx is done before fn starts, fn is not run and Update
// returns ctx's error; once fn has started, Update waits for the outcome,
// and the Tx's methods return ctx's error so that fn can stop early.
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

// Ping reports whether the store is open and its database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	var one int
	return s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one) // the spare connection
}

// Close waits for queued Updates to finish, stops the writer, checkpoints
// the WAL into the database file and closes every connection. Calls after
// the first return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	close(s.closing)
	s.mu.Unlock()
	<-s.done

	// Wait for running Views to give their readers back.
	var errs []error
	for range s.cfg.readConns {
		if r := <-s.readers; r != nil {
			errs = append(errs, r.stmts.close(), r.conn.Close())
		}
	}
	errs = append(errs, s.wstmts.close(), s.read.Close())
	// TRUNCATE leaves an empty WAL behind, so a cleanly closed database is
	// one self-contained file. A reader still open elsewhere only makes the
	// checkpoint partial, which is harmless.
	_, err := s.wconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
	errs = append(errs, err, s.wconn.Close(), s.write.Close())
	return errors.Join(errs...)
}

func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
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

// writer is the only goroutine that writes. It commits one batch at a time:
// whatever arrived while the previous COMMIT was being fsynced forms the
// next batch, so the number of fsyncs grows with commit latency rather than
// with the number of writers.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*request, 0, s.cfg.maxBatch)
	for first := range s.reqs {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < s.cfg.maxBatch {
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

// commit runs batch in one transaction and answers every request in it.
func (s *Store) commit(batch []*request) {
	ctx := context.Background()
	results := make([]result, len(batch))
	ran := make([]bool, len(batch))
	// failAll answers the whole batch with err: nothing in it was kept.
	// Requests not started yet are claimed first so that their callers,
	// who may be giving up at this moment, get exactly one answer.
	failAll := func(err error) {
		for i, r := range batch {
			switch {
			case ran[i] && results[i].panicked:
				r.done <- results[i]
			case ran[i] || r.state.CompareAndSwap(queued, canceled):
				r.done <- result{err: err}
			}
		}
	}
	// written collects what the batch writes, for the read cache (see
	// batchWrites).
	var written batchWrites
	defer func() { s.cache.invalidate(written.touched, nil) }()
	if _, err := s.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		failAll(fmt.Errorf("sqlite: begin: %w", err))
		return
	}
	// The revision counter is read under the write lock, so it is right
	// even when another process wrote the file since the last batch.
	if err := s.queryRowWriter(ctx, "SELECT value FROM revision").Scan(&s.rev); err != nil {
		s.rollback(ctx)
		failAll(fmt.Errorf("sqlite: revision: %w", err))
		return
	}
	firstRev := s.rev
	for i, r := range batch {
		if !r.state.CompareAndSwap(queued, started) {
			continue // its caller gave up before fn started
		}
		ran[i] = true
		var err error
		results[i], err = s.runOne(ctx, r, &written)
		if err != nil {
			s.rollback(ctx)
			failAll(fmt.Errorf("sqlite: transaction aborted: %w", err))
			return
		}
	}
	s.maybePurge(ctx)
	if s.rev != firstRev {
		if _, err := s.execWriter(ctx, "UPDATE revision SET value = ?", s.rev); err != nil {
			s.rollback(ctx)
			failAll(fmt.Errorf("sqlite: revision: %w", err))
			return
		}
	}
	if _, err := s.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		s.rollback(ctx)
		failAll(fmt.Errorf("sqlite: commit: %w", err))
		return
	}
	s.commits.Add(1)
	s.cache.invalidate(written.touched, written.inserted)
	// List's row cache is keyed by revision, which a committed row keeps
	// for good: the inserted rows can go there as they are.
	for _, e := range written.inserted {
		s.rows.put(e.rev, e.r)
	}
	written = batchWrites{}
	for i, r := range batch {
		if ran[i] {
			r.done <- results[i]
		}
	}
}

// runOne runs r.fn inside SAVEPOINT u, undoing it on error or panic. A
// non-nil error means the savepoint itself failed and the whole
// transaction is unusable (SQLite rolls a transaction back by itself on
// errors such as SQLITE_FULL or SQLITE_IOERR).
func (s *Store) runOne(ctx context.Context, r *request, written *batchWrites) (res result, err error) {
	if _, err := s.execWriter(ctx, "SAVEPOINT u"); err != nil {
		return res, err
	}
	inserted := len(written.inserted)
	t := &tx{q: s.wconn, stmts: s.wstmts, writable: true, now: s.cfg.now, retention: s.cfg.tokenRetention, written: written, rev: &s.rev}
	func() {
		defer func() {
			if v := recover(); v != nil {
				res = result{panicked: true, panicVal: v}
			}
		}()
		res.err = r.fn(t)
	}()
	t.finish()
	if res.err != nil || res.panicked {
		// What fn inserted is undone: the cache must not learn it.
		written.inserted = written.inserted[:inserted]
		if _, err := s.execWriter(ctx, "ROLLBACK TO u"); err != nil {
			return res, err
		}
	}
	if _, err := s.execWriter(ctx, "RELEASE u"); err != nil {
		return res, err
	}
	return res, nil
}

// execWriter runs one of the writer's own statements (the savepoint of
// every Update) prepared once: parsing them anew costs the writer, which
// runs every Update one after another, more than running them.
func (s *Store) execWriter(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, err := s.wstmts.get(ctx, query)
	if err != nil || stmt == nil {
		return s.wconn.ExecContext(ctx, query, args...)
	}
	return stmt.ExecContext(ctx, args...)
}

// queryRowWriter is execWriter for a statement that returns a row.
func (s *Store) queryRowWriter(ctx context.Context, query string, args ...any) scanner {
	stmt, err := s.wstmts.get(ctx, query)
	if err != nil || stmt == nil {
		return s.wconn.QueryRowContext(ctx, query, args...)
	}
	return stmt.QueryRowContext(ctx, args...)
}

func (s *Store) rollback(ctx context.Context) {
	// Fails harmlessly when SQLite already rolled the transaction back.
	_, _ = s.wconn.ExecContext(ctx, "ROLLBACK")
}

// maybePurge deletes expired tokens inside the current batch at most once
// per purgeInterval. A failure only postpones the purge.
func (s *Store) maybePurge(ctx context.Context) {
	if s.cfg.tokenRetention <= 0 || s.cfg.now().Sub(s.lastPurge) < purgeInterval {
		return
	}
	if _, err := s.wconn.ExecContext(ctx, "SAVEPOINT purge"); err != nil {
		return
	}
	if err := s.deleteExpired(ctx); err != nil {
		_, _ = s.wconn.ExecContext(ctx, "ROLLBACK TO purge")
	}
	_, _ = s.wconn.ExecContext(ctx, "RELEASE purge")
}

// purgeTokens deletes expired tokens in a transaction of its own (at Open).
func (s *Store) purgeTokens(ctx context.Context) error {
	if s.cfg.tokenRetention <= 0 {
		return nil
	}
	return s.deleteExpired(ctx)
}

func (s *Store) deleteExpired(ctx context.Context) error {
	now := s.cfg.now()
	cutoff := now.Add(-s.cfg.tokenRetention).UnixNano()
	if _, err := s.wconn.ExecContext(ctx, "DELETE FROM tokens WHERE created < ?", cutoff); err != nil {
		return err
	}
	s.lastPurge = now
	return nil
}
