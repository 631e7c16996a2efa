package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

var _ store.Advisories = (*Store)(nil)

// PutAdvisories writes batch in one Update (one group commit, one fsync),
// so an import of many records costs one transaction per batch, and other
// writers wait at most one batch.
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
	ctx, err := t.ctx(ctx, true)
	if err != nil {
		return 0, err
	}
	outcome := store.Added
	var stored int64
	err = t.queryRow(ctx, "SELECT modified FROM advisories WHERE id = ?", a.ID).Scan(&stored)
	switch {
	case err == nil:
		if a.Modified.UnixMicro() <= stored {
			return store.Kept, nil
		}
		outcome = store.Replaced
		if _, err := t.exec(ctx, "DELETE FROM advisory_packages WHERE id = ?", a.ID); err != nil {
			return 0, err
		}
		if _, err := t.exec(ctx, "DELETE FROM advisory_ecosystems WHERE id = ?", a.ID); err != nil {
			return 0, err
		}
	case !errors.Is(err, sql.ErrNoRows):
		return 0, err
	}
	if _, err := t.exec(ctx, `INSERT INTO advisories (id, modified, doc) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, doc = excluded.doc`,
		a.ID, a.Modified.UnixMicro(), a.Doc); err != nil {
		return 0, err
	}
	for _, p := range a.Affects {
		if _, err := t.exec(ctx, "INSERT OR IGNORE INTO advisory_packages (ecosystem, package, id) VALUES (?, ?, ?)",
			p.Ecosystem, p.Package, a.ID); err != nil {
			return 0, err
		}
		if _, err := t.exec(ctx, "INSERT OR IGNORE INTO advisory_ecosystems (ecosystem, id, modified) VALUES (?, ?, ?)",
			p.Ecosystem, a.ID, a.Modified.UnixMicro()); err != nil {
			return 0, err
		}
	}
	return outcome, nil
}

// AdvisoriesFor probes the (ecosystem, package) index once per package.
func (s *Store) AdvisoriesFor(ctx context.Context, ecosystem string, pkgs []string, fn func(pkg string, a store.Advisory) error) error {
	return s.View(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		qctx, err := t.ctx(ctx, false)
		if err != nil {
			return err
		}
		for _, pkg := range pkgs {
			if err := t.advisoriesFor(qctx, ecosystem, pkg, fn); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *tx) advisoriesFor(ctx context.Context, ecosystem, pkg string, fn func(pkg string, a store.Advisory) error) error {
	rows, err := t.query(ctx, `SELECT a.id, a.modified, a.doc FROM advisory_packages p
		JOIN advisories a ON a.id = p.id
		WHERE p.ecosystem = ? AND p.package = ? ORDER BY p.id`, ecosystem, pkg)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var a store.Advisory
		var modified int64
		if err := rows.Scan(&a.ID, &modified, &a.Doc); err != nil {
			return err
		}
		a.Modified = time.UnixMicro(modified).UTC()
		if err := fn(pkg, a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// AdvisoryCounts walks advisory_ecosystems, one row per (ecosystem,
// record).
func (s *Store) AdvisoryCounts(ctx context.Context) ([]store.AdvisoryCount, error) {
	var out []store.AdvisoryCount
	err := s.View(ctx, func(stx store.Tx) error {
		out = nil
		t := stx.(*tx)
		qctx, err := t.ctx(ctx, false)
		if err != nil {
			return err
		}
		rows, err := t.query(qctx, `SELECT ecosystem, count(*), max(modified)
			FROM advisory_ecosystems GROUP BY ecosystem ORDER BY ecosystem`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c store.AdvisoryCount
			var newest int64
			if err := rows.Scan(&c.Ecosystem, &c.Records, &newest); err != nil {
				return err
			}
			c.NewestModified = time.UnixMicro(newest).UTC()
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}
