package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pipelined runs a transaction's statements on one connection, sending the
// statements queued in ahead (BEGIN, SAVEPOINT, RELEASE SAVEPOINT), whose
// answers nobody waits for, in the same round trip as the next statement
// that has an answer: pgx pipelines a Batch, and PostgreSQL runs it in
// order, stopping at the first error. On a local socket a round trip is
// most of what a short statement costs, so a List page viewed in a
// transaction costs two round trips (BEGIN with the page, ROLLBACK) rather
// than three, and each Update of a group commit costs its own statements
// only (see Store.runBatch).
//
// A statement that fails inside the transaction leaves it aborted, like a
// failed ahead statement; callers check pgconn.PgConn.TxStatus.
type pipelined struct {
	conn  *pgx.Conn
	ahead []string
	// detach runs statements without the caller's cancellation, for the
	// writer's transactions: pgx answers a cancelled context by
	// interrupting the statement, which would abort the whole batch's
	// transaction. The Tx checks the context between statements instead.
	detach bool
}

func (p *pipelined) ctx(ctx context.Context) context.Context {
	if p.detach {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// send sends ahead and then sql in one batch and returns the results with
// ahead's already read; the caller reads sql's result and closes them.
func (p *pipelined) send(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	for _, s := range p.ahead {
		b.Queue(s)
	}
	b.Queue(sql, args...)
	n := len(p.ahead)
	p.ahead = p.ahead[:0]
	br := p.conn.SendBatch(ctx, b)
	for i := 0; i < n; i++ {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, fmt.Errorf("postgres: %s: %w", b.QueuedQueries[i].SQL, err)
		}
	}
	return br, nil
}

func (p *pipelined) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx = p.ctx(ctx)
	if len(p.ahead) == 0 {
		return p.conn.Exec(ctx, sql, args...)
	}
	br, err := p.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (p *pipelined) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx = p.ctx(ctx)
	if len(p.ahead) == 0 {
		return p.conn.Query(ctx, sql, args...)
	}
	br, err := p.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (p *pipelined) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if len(p.ahead) == 0 {
		return p.conn.QueryRow(p.ctx(ctx), sql, args...)
	}
	rows, err := p.Query(ctx, sql, args...)
	return firstRow{rows: rows, err: err}
}

// batchRows closes its batch once its rows are closed.
type batchRows struct {
	pgx.Rows
	br  pgx.BatchResults
	err error
}

func (r *batchRows) Close() {
	if r.br == nil {
		return
	}
	r.Rows.Close()
	r.err = r.br.Close()
	r.br = nil
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

// firstRow is pgx.Row over Query's rows: the first row, or pgx.ErrNoRows.
type firstRow struct {
	rows pgx.Rows
	err  error
}

func (r firstRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
