package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/kiln-build/kiln/internal/store"
)

var _ store.Loader = (*Store)(nil)

// Load writes records in one Update; see store.Loader for what it does
// with rows already there.
func (s *Store) Load(ctx context.Context, records []store.Record) error {
	return s.Update(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		for _, rec := range records {
			if err := t.load(ctx, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

func (t *tx) load(ctx context.Context, rec store.Record) error {
	switch {
	case rec.Resource != nil:
		r := *rec.Resource
		err := t.Insert(ctx, r)
		if errors.Is(err, store.ErrExists) {
			// Put keeps the identity columns and Created; a resource
			// migrated before has the same ones.
			err = t.Put(ctx, r)
		}
		return err
	case rec.Token != nil:
		err := t.PutToken(ctx, *rec.Token)
		if errors.Is(err, store.ErrExists) {
			return nil
		}
		return err
	case rec.Counter != nil:
		c := rec.Counter
		if err := t.check(ctx, true); err != nil {
			return err
		}
		_, err := t.q.Exec(ctx, `INSERT INTO build_counters AS c (account, region, kind, name, version, next)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (account, region, kind, name, version) DO UPDATE SET next = greatest(c.next, excluded.next)`,
			c.Account, c.Region, c.Kind, c.Name, c.Version, int64(c.Next))
		if err != nil {
			return fmt.Errorf("postgres: load build counter: %w", err)
		}
		return nil
	case rec.Advisory != nil:
		// putAdvisory keeps a stored record as new or newer; a re-run
		// loads the same Modified, so that is a no-op.
		_, err := t.putAdvisory(ctx, *rec.Advisory)
		return err
	}
	return errors.New("postgres: load: empty record")
}

// Empty reports whether the database holds no state but the catalogue
// every kiln seeds.
func (s *Store) Empty(ctx context.Context) (bool, error) {
	if err := s.checkOpen(); err != nil {
		return false, err
	}
	var used bool
	err := s.pool.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM resources WHERE account <> 'aws') OR
		EXISTS (SELECT 1 FROM tokens) OR
		EXISTS (SELECT 1 FROM build_counters WHERE account <> 'aws') OR
		EXISTS (SELECT 1 FROM advisories)`).Scan(&used)
	if err != nil {
		return false, fmt.Errorf("postgres: %w", err)
	}
	return !used, nil
}
