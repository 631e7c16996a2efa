package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-build/kiln/internal/store"
)

// PutAdvisories writes batch in one Update: one transaction and one WAL
// flush per batch of an import.
func (s *Store) PutAdvisories(ctx context.Context, batch []store.Advisory) ([]store.PutOutcome, error) {
	out := make([]store.PutOutcome, len(batch))
	err := s.Update(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		for i, a := range batch {
			o, err := t.putAdvisory(ctx, a)
			if err != nil {
				return fmt.Errorf("advisory %s: %w", a.ID, err)
			}
			out[i] = o
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (t *tx) putAdvisory(ctx context.Context, a store.Advisory) (store.PutOutcome, error) {
	if err := t.check(ctx, true); err != nil {
		return 0, err
	}
	outcome := store.Added
	var stored int64
	err := t.q.QueryRow(ctx, "SELECT modified FROM advisories WHERE id = $1", a.ID).Scan(&stored)
	switch {
	case err == nil:
		if a.Modified.UnixMicro() <= stored {
			return store.Kept, nil
		}
		outcome = store.Replaced
		if _, err := t.q.Exec(ctx, "DELETE FROM advisory_packages WHERE id = $1", a.ID); err != nil {
			return 0, err
		}
		if _, err := t.q.Exec(ctx, "DELETE FROM advisory_ecosystems WHERE id = $1", a.ID); err != nil {
			return 0, err
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return 0, err
	}
	doc := a.Doc
	if doc == nil {
		doc = []byte{}
	}
	if _, err := t.q.Exec(ctx, `INSERT INTO advisories (id, modified, doc) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, doc = excluded.doc`,
		a.ID, a.Modified.UnixMicro(), doc); err != nil {
		return 0, err
	}
	for _, p := range a.Affects {
		if _, err := t.q.Exec(ctx, `INSERT INTO advisory_packages (ecosystem, package, id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, p.Ecosystem, p.Package, a.ID); err != nil {
			return 0, err
		}
		if _, err := t.q.Exec(ctx, `INSERT INTO advisory_ecosystems (ecosystem, id, modified) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING`, p.Ecosystem, a.ID, a.Modified.UnixMicro()); err != nil {
			return 0, err
		}
	}
	return outcome, nil
}

// AdvisoriesFor probes the (ecosystem, package) index once per package,
// all in one snapshot.
func (s *Store) AdvisoriesFor(ctx context.Context, ecosystem string, pkgs []string, fn func(pkg string, a store.Advisory) error) error {
	return s.View(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		for _, pkg := range pkgs {
			if err := t.advisoriesFor(ctx, ecosystem, pkg, fn); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *tx) advisoriesFor(ctx context.Context, ecosystem, pkg string, fn func(pkg string, a store.Advisory) error) error {
	if err := t.check(ctx, false); err != nil {
		return err
	}
	// Read the rows before calling fn: fn may take its time, and the
	// connection is busy until the result is consumed.
	rows, err := t.q.Query(ctx, `SELECT a.id, a.modified, a.doc FROM advisory_packages p
		JOIN advisories a ON a.id = p.id
		WHERE p.ecosystem = $1 AND p.package = $2 ORDER BY p.id`, ecosystem, pkg)
	if err != nil {
		return err
	}
	var found []store.Advisory
	for rows.Next() {
		var a store.Advisory
		var modified int64
		if err := rows.Scan(&a.ID, &modified, &a.Doc); err != nil {
			rows.Close()
			return err
		}
		a.Modified = time.UnixMicro(modified).UTC()
		found = append(found, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, a := range found {
		if err := fn(pkg, a); err != nil {
			return err
		}
	}
	return nil
}

// AdvisoryCounts walks advisory_ecosystems, one row per (ecosystem,
// record).
func (s *Store) AdvisoryCounts(ctx context.Context) ([]store.AdvisoryCount, error) {
	var out []store.AdvisoryCount
	err := s.View(ctx, func(stx store.Tx) error {
		out = nil
		t := stx.(*tx)
		rows, err := t.q.Query(ctx, `SELECT ecosystem, count(*), max(modified)
			FROM advisory_ecosystems GROUP BY ecosystem ORDER BY ecosystem`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c store.AdvisoryCount
			var n, newest int64
			if err := rows.Scan(&c.Ecosystem, &n, &newest); err != nil {
				return err
			}
			c.Records = int(n)
			c.NewestModified = time.UnixMicro(newest).UTC()
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}
