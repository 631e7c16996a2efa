package sqlite

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/kiln-build/kiln/internal/store"
)

// FuzzDocFieldSQL checks that List's SQL translation of conditions on Doc
// members (json_each over the stored Doc) selects exactly the rows
// store.Holds does, for Docs as the service writes them: JSON that Go's
// encoder produced, here with fuzzed member names and values, a string or
// an array of mixed elements or a nested object under the member.
func FuzzDocFieldSQL(f *testing.F) {
	f.Add("platform", "Linux", "Linux", uint8(0))
	f.Add("platform", "Linux", "Windows", uint8(0))
	f.Add("supportedOsVersions", "Amazon Linux 2", "Amazon Linux 2", uint8(1))
	f.Add("state", "AVAILABLE", "AVAILABLE", uint8(2))
	f.Add("n", "1", "1", uint8(3))
	f.Add("a.b", "x", "x", uint8(0))
	f.Add("", "", "", uint8(0))
	f.Add("k\"q", "\u00e9\x00\\", "\u00e9\x00\\", uint8(1))
	s, _ := openTemp(f)
	defer s.Close()
	ctx := context.Background()
	r := testResource("fuzz")
	insertOnce := true
	f.Fuzz(func(t *testing.T, member, value, probe string, shape uint8) {
		var v any
		switch shape % 4 {
		case 0:
			v = value
		case 1:
			v = []any{1, value, []any{probe}, map[string]any{"x": probe}}
		case 2:
			v = map[string]any{"status": value} // an object: no values
		case 3:
			v = json.Number("12") // a number: no values
		}
		doc, err := json.Marshal(map[string]any{member: v, "other": probe})
		if err != nil {
			t.Skip()
		}
		r.Doc = doc
		err = s.Update(ctx, func(tx store.Tx) error {
			if insertOnce {
				return tx.Insert(ctx, r)
			}
			return tx.Put(ctx, r)
		})
		if err != nil {
			t.Fatal(err)
		}
		insertOnce = false
		for _, field := range []store.Field{store.DocField(member), store.DocField(member, "status")} {
			for _, c := range []store.Cond{store.Eq(field, probe), store.Ne(field, probe), store.Eq(field, probe, value)} {
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
					t.Errorf("doc %s, condition %+v: List found %d rows; Holds says %v", doc, c, len(got), want)
				}
			}
		}
	})
}
