package postgres_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kiln-build/kiln/internal/pgtest"
	"github.com/kiln-build/kiln/internal/store"
)

// FuzzDocFieldSQL checks that List's SQL for conditions on Doc members (over
// the members jsonb column) selects exactly the rows store.Holds does: for
// Docs as the service writes them (Go's encoder, fuzzed member names and
// values, a string, a mixed array, an object or a number under the
// member), for arbitrary bytes as a Doc, and for a row whose members column
// is NULL (written before the column existed), which List checks in Go.
func FuzzDocFieldSQL(f *testing.F) {
	f.Add("platform", "Linux", "Linux", uint8(0), []byte(nil))
	f.Add("platform", "Linux", "Windows", uint8(0), []byte(nil))
	f.Add("supportedOsVersions", "Amazon Linux 2", "Amazon Linux 2", uint8(1), []byte(nil))
	f.Add("state", "AVAILABLE", "AVAILABLE", uint8(2), []byte(nil))
	f.Add("n", "1", "1", uint8(3), []byte(nil))
	f.Add("a.b", "x", "x", uint8(0), []byte(nil))
	f.Add("", "", "", uint8(0), []byte(nil))
	f.Add("k\"q", "\u00e9\x00\\", "\u00e9\x00\\", uint8(1), []byte(nil))
	f.Add("0", "x", "x", uint8(4), []byte(`{"0":["x"],"a":{"0":"x"}}`))
	f.Add("a.0", "x", "x", uint8(4), []byte(`{"a":["x"]}`))
	f.Add("a", "x", "x", uint8(4), []byte(`{"a":"x","a":"y"}`))
	f.Add("a", "\xff", "\ufffd", uint8(4), []byte("{\"a\":\"\xff\"}"))
	f.Add("a", "x", "x", uint8(4), []byte(`{"a":"x","b":1e400}`))
	f.Add("a", "\\u0000", "\x00", uint8(4), []byte(`{"a":"\u0000"}`))
	f.Add("a", "x", "x", uint8(9), []byte(nil))
	url := pgtest.URL(f)
	s := open(f, url)
	defer s.Close()
	ctx := context.Background()
	raw, err := pgx.Connect(ctx, url)
	if err != nil {
		f.Fatal(err)
	}
	defer raw.Close(ctx)
	r := store.Resource{ARN: "arn:aws:imagebuilder:us-east-1:111111111111:component/fuzz/1.0.0/1",
		Kind: "component", Account: "111111111111", Region: "us-east-1", Name: "fuzz", Version: "1.0.0", Build: 1}
	inserted := false
	f.Fuzz(func(t *testing.T, member, value, probe string, shape uint8, doc []byte) {
		var v any
		switch shape % 5 {
		case 0:
			v = value
		case 1:
			v = []any{1, value, []any{probe}, map[string]any{"x": probe}}
		case 2:
			v = map[string]any{"status": value} // an object: no values
		case 3:
			v = json.Number("12") // a number: no values
		}
		if shape%5 != 4 {
			var err error
			if doc, err = json.Marshal(map[string]any{member: v, "other": probe}); err != nil {
				t.Skip()
			}
		}
		r.Doc = doc
		err := s.Update(ctx, func(tx store.Tx) error {
			if !inserted {
				return tx.Insert(ctx, r)
			}
			return tx.Put(ctx, r)
		})
		if err != nil {
			t.Fatal(err)
		}
		inserted = true
		if shape >= 5 {
			// As a row written before the members column existed.
			if _, err := raw.Exec(ctx, "UPDATE resources SET members = NULL WHERE arn = $1", r.ARN); err != nil {
				t.Fatal(err)
			}
		}
		fields := []store.Field{store.DocField(member), store.DocField(member, "status"), store.DocField("a", member)}
		for _, field := range fields {
			conds := []store.Cond{store.Eq(field, probe), store.Ne(field, probe), store.Eq(field, probe, value),
				{Or: []store.Cond{store.Eq(field, value), store.Eq(store.FieldName, "none")}}}
			for _, c := range conds {
				want := store.Holds([]store.Cond{c}, r)
				var got []store.Resource
				err := s.View(ctx, func(tx store.Tx) error {
					var err error
					got, err = tx.List(ctx, store.Query{Kind: r.Kind, Region: r.Region, Where: []store.Cond{c}})
					return err
				})
				if err != nil {
					t.Fatalf("List %+v: %v", c, err)
				}
				if (len(got) == 1) != want {
					t.Errorf("doc %q, condition %+v: List found %d rows; Holds says %v", doc, c, len(got), want)
				}
			}
		}
	})
}
