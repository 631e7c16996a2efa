package sqlite

import (
	"context"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

var _ store.Dumper = (*Store)(nil)

// Dump reads every resource, token, build counter and advisory in one read
// transaction (one snapshot), for `kiln migrate`. Expired tokens are
// included: the target's own retention forgets them.
func (s *Store) Dump(ctx context.Context, fn func(store.Record) error) error {
	return s.View(ctx, func(stx store.Tx) error {
		t := stx.(*tx)
		qctx, err := t.ctx(ctx, false)
		if err != nil {
			return err
		}
		// Resources are read through Tx.Get, one by one, so that the dump
		// does not depend on how List reads rows; a migration can afford it.
		var arns []string
		if err := dumpRows(qctx, t, "SELECT arn FROM resources ORDER BY arn", func(sc scanner) error {
			var arn string
			if err := sc.Scan(&arn); err != nil {
				return err
			}
			arns = append(arns, arn)
			return nil
		}); err != nil {
			return err
		}
		for _, arn := range arns {
			r, err := stx.Get(ctx, arn)
			if err != nil {
				return err
			}
			if err := fn(store.Record{Resource: &r}); err != nil {
				return err
			}
		}
		if err := dumpRows(qctx, t, "SELECT account, operation, token, request_hash, response, created FROM tokens ORDER BY account, operation, token", func(sc scanner) error {
			var tok store.Token
			var created int64
			if err := sc.Scan(&tok.Account, &tok.Operation, &tok.Token, &tok.RequestHash, &tok.Response, &created); err != nil {
				return err
			}
			if tok.Response == nil {
				tok.Response = []byte{}
			}
			tok.Created = time.Unix(0, created).UTC()
			return fn(store.Record{Token: &tok})
		}); err != nil {
			return err
		}
		if err := dumpRows(qctx, t, "SELECT account, region, kind, name, version, next FROM build_counters ORDER BY account, region, kind, name, version", func(sc scanner) error {
			var c store.BuildCounter
			if err := sc.Scan(&c.Account, &c.Region, &c.Kind, &c.Name, &c.Version, &c.Next); err != nil {
				return err
			}
			return fn(store.Record{Counter: &c})
		}); err != nil {
			return err
		}
		// An advisory's index rows follow it in id order; gather them per
		// record while walking both tables in step.
		var cur *store.Advisory
		flush := func() error {
			if cur == nil {
				return nil
			}
			a := cur
			cur = nil
			return fn(store.Record{Advisory: a})
		}
		if err := dumpRows(qctx, t, `SELECT a.id, a.modified, a.doc, coalesce(p.ecosystem, ''), coalesce(p.package, ''), p.id IS NOT NULL
			FROM advisories a LEFT JOIN advisory_packages p ON p.id = a.id ORDER BY a.id, p.ecosystem, p.package`, func(sc scanner) error {
			var (
				id, eco, pkg string
				modified     int64
				doc          []byte
				has          bool
			)
			if err := sc.Scan(&id, &modified, &doc, &eco, &pkg, &has); err != nil {
				return err
			}
			if cur == nil || cur.ID != id {
				if err := flush(); err != nil {
					return err
				}
				cur = &store.Advisory{ID: id, Modified: time.UnixMicro(modified).UTC(), Doc: doc}
			}
			if has {
				cur.Affects = append(cur.Affects, store.Affected{Ecosystem: eco, Package: pkg})
			}
			return nil
		}); err != nil {
			return err
		}
		return flush()
	})
}

func dumpRows(ctx context.Context, t *tx, query string, each func(scanner) error) error {
	rows, err := t.q.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
