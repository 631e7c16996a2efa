// Package storetest is the conformance suite every store.Store backend
// must pass, so that the service can rely on one behaviour whichever
// database is underneath.
//
// Beyond the doc comments of package store, the suite pins down:
//
//   - Get returns Doc byte for byte, Tags as a non-nil map, SharedWith in
//     any order, and Created/Updated to at least microsecond precision.
//   - Delete of a missing ARN is ErrNotFound; Delete also removes the
//     resource's tags and grants.
//   - Names order by bytes (as Go compares strings), then versions
//     numerically field by field, then builds numerically, then ARNs.
//   - Query.After keeps working when the resource it names was deleted:
//     the walk continues from where that resource stood. An After that
//     names no resource and cannot be read as a position for the Query's
//     Kind is an error wrapping ErrNotFound.
//   - View is a snapshot: a commit made while fn runs is not seen by fn.
//   - Writes inside View fail.
//   - Updates are serializable: of concurrent Updates that each read a
//     row and then write it, only one wins (ClaimRace); Replace is a
//     compare-and-set on the Doc.
//   - PutToken with a zero Created records the current time; a token just
//     put is returned by Token (retention is the backend's business).
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// Run runs the suite. open must return a new, empty store each time it is
// called; Run closes every store it gets.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	s := suite{open: open}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"RoundTrip", s.testRoundTrip},
		{"EmptyFields", s.testEmptyFields},
		{"Errors", s.testErrors},
		{"Put", s.testPut},
		{"Delete", s.testDelete},
		{"ListSeesEveryWrite", s.testListSeesEveryWrite},
		{"ListOrder", s.testListOrder},
		{"ListFilters", s.testListFilters},
		{"ListMatchAcrossBatches", s.testListMatchAcrossBatches},
		{"PaginationWhileInserting", s.testPaginationWhileInserting},
		{"AfterDeleted", s.testAfterDeleted},
		{"NextBuild", s.testNextBuild},
		{"NextBuildConcurrent", s.testNextBuildConcurrent},
		{"Tokens", s.testTokens},
		{"Replace", s.testReplace},
		{"ClaimRace", s.testClaimRace},
		{"UpdateRollback", s.testUpdateRollback},
		{"UpdateCanceled", s.testUpdateCanceled},
		{"GroupCommitIsolation", s.testGroupCommitIsolation},
		{"ViewSeesCommitted", s.testViewSeesCommitted},
		{"ViewSnapshot", s.testViewSnapshot},
		{"ViewReadOnly", s.testViewReadOnly},
		{"PingClose", s.testPingClose},
		{"GetOutsideTx", s.testGetOutsideTx},
		{"GetOutsideTxConcurrent", s.testGetOutsideTxConcurrent},
		{"Advisories", s.testAdvisories}, // advisories.go
		{"Notify", s.testNotify},         // notify.go
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

type suite struct {
	open func(t *testing.T) store.Store
}

// store opens a store that is closed when t ends.
func (s suite) store(t *testing.T) store.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

const (
	region   = "us-east-1"
	acctA    = "111111111111"
	acctB    = "222222222222"
	acctC    = "333333333333"
	kindComp = "component"
)

// base is a time with microsecond precision, the least the suite requires.
var base = time.Date(2024, 5, 6, 7, 8, 9, 123456000, time.UTC)

var errBoom = errors.New("storetest: boom")

// arnOf spells an Image Builder ARN.
func arnOf(region, account, kind, name, version string, build int) string {
	a := fmt.Sprintf("arn:aws:imagebuilder:%s:%s:%s/%s", region, account, kind, name)
	if version != "" {
		a += "/" + version
		if build > 0 {
			a += "/" + strconv.Itoa(build)
		}
	}
	return a
}

// res makes a resource whose Doc has irregular spacing and non-ASCII
// text, so a backend that re-encodes JSON fails the round trip.
func res(account, kind, name, version string, build int) store.Resource {
	a := arnOf(region, account, kind, name, version, build)
	return store.Resource{
		ARN: a, Kind: kind, Account: account, Region: region,
		Name: name, Version: version, Build: build,
		Doc:     fmt.Appendf(nil, "{\"arn\":  %q, \"n\":[1,2.50, 3e2] ,\"s\":\"h\u00e9llo \u2713\"}\n", a),
		Created: base, Updated: base,
	}
}

func comp(account, name, version string, build int) store.Resource {
	return res(account, kindComp, name, version, build)
}

func update(t *testing.T, st store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := st.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func insert(t *testing.T, st store.Store, rs ...store.Resource) {
	t.Helper()
	update(t, st, func(tx store.Tx) error {
		for _, r := range rs {
			if err := tx.Insert(context.Background(), r); err != nil {
				return err
			}
		}
		return nil
	})
}

func get(st store.Store, arn string) (store.Resource, error) {
	var r store.Resource
	err := st.View(context.Background(), func(tx store.Tx) error {
		var err error
		r, err = tx.Get(context.Background(), arn)
		return err
	})
	return r, err
}

func list(t *testing.T, st store.Store, q store.Query) []store.Resource {
	t.Helper()
	var out []store.Resource
	err := st.View(context.Background(), func(tx store.Tx) error {
		var err error
		out, err = tx.List(context.Background(), q)
		return err
	})
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return out
}

func arns(rs []store.Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ARN
	}
	return out
}

// equalResource reports how got differs from want, or "".
func equalResource(got, want store.Resource) string {
	var diffs []string
	add := func(field string, g, w any) { diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ARN != want.ARN {
		add("ARN", got.ARN, want.ARN)
	}
	if got.Kind != want.Kind || got.Account != want.Account || got.Region != want.Region {
		add("Kind/Account/Region", []string{got.Kind, got.Account, got.Region}, []string{want.Kind, want.Account, want.Region})
	}
	if got.Name != want.Name || got.Version != want.Version || got.Build != want.Build {
		add("Name/Version/Build", fmt.Sprint(got.Name, got.Version, got.Build), fmt.Sprint(want.Name, want.Version, want.Build))
	}
	if !bytes.Equal(got.Doc, want.Doc) {
		add("Doc", string(got.Doc), string(want.Doc))
	}
	if got.Tags == nil {
		diffs = append(diffs, "Tags is nil")
	}
	if !maps.Equal(got.Tags, want.Tags) && (len(got.Tags) > 0 || len(want.Tags) > 0) {
		add("Tags", got.Tags, want.Tags)
	}
	if got.Policy != want.Policy {
		add("Policy", got.Policy, want.Policy)
	}
	g, w := slices.Sorted(slices.Values(got.SharedWith)), slices.Sorted(slices.Values(want.SharedWith))
	if !slices.Equal(g, w) {
		add("SharedWith", g, w)
	}
	if !got.Created.Equal(want.Created) {
		add("Created", got.Created, want.Created)
	}
	if !got.Updated.Equal(want.Updated) {
		add("Updated", got.Updated, want.Updated)
	}
	return strings.Join(diffs, "; ")
}

func (s suite) testRoundTrip(t *testing.T) {
	st := s.store(t)
	r := comp(acctA, "hello", "1.2.3", 4)
	r.Tags = map[string]string{"Name": "hello world", "team": "\u00e9quipe", "empty": ""}
	r.Policy = `{"Version":"2012-10-17","Statement":[]}`
	r.SharedWith = []string{acctC, acctB}
	r.Updated = base.Add(90 * time.Minute)
	update(t, st, func(tx store.Tx) error {
		if err := tx.Insert(context.Background(), r); err != nil {
			return err
		}
		// An Update reads its own writes.
		got, err := tx.Get(context.Background(), r.ARN)
		if err != nil {
			return err
		}
		if d := equalResource(got, r); d != "" {
			t.Errorf("Get inside Update: %s", d)
		}
		return nil
	})
	got, err := get(st, r.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalResource(got, r); d != "" {
		t.Errorf("Get: %s", d)
	}

	// An unversioned resource.
	p := res(acctA, "image-pipeline", "nightly", "", 0)
	insert(t, st, p)
	got, err = get(st, p.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalResource(got, p); d != "" {
		t.Errorf("Get unversioned: %s", d)
	}
}

func (s suite) testEmptyFields(t *testing.T) {
	st := s.store(t)
	r := comp(acctA, "bare", "1.0.0", 1)
	r.Doc = []byte("{}")
	insert(t, st, r)
	got, err := get(st, r.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if got.Tags == nil || len(got.Tags) != 0 || len(got.SharedWith) != 0 || got.Policy != "" {
		t.Errorf("got Tags %#v SharedWith %#v Policy %q, want empty map, none, \"\"", got.Tags, got.SharedWith, got.Policy)
	}
	if string(got.Doc) != "{}" {
		t.Errorf("Doc = %q", got.Doc)
	}
}

func (s suite) testErrors(t *testing.T) {
	st := s.store(t)
	r := comp(acctA, "dup", "1.0.0", 1)
	insert(t, st, r)
	ctx := context.Background()
	missing := comp(acctA, "missing", "1.0.0", 1)
	tests := []struct {
		name string
		fn   func(tx store.Tx) error
		want error
	}{
		{"InsertDuplicate", func(tx store.Tx) error { return tx.Insert(ctx, r) }, store.ErrExists},
		{"PutMissing", func(tx store.Tx) error { return tx.Put(ctx, missing) }, store.ErrNotFound},
		{"GetMissing", func(tx store.Tx) error { _, err := tx.Get(ctx, missing.ARN); return err }, store.ErrNotFound},
		{"DeleteMissing", func(tx store.Tx) error { return tx.Delete(ctx, missing.ARN) }, store.ErrNotFound},
		{"TokenMissing", func(tx store.Tx) error { _, err := tx.Token(ctx, acctA, "Op", "t"); return err }, store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := st.Update(ctx, tt.fn); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	// The failed duplicate insert left the original alone.
	got, err := get(st, r.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalResource(got, r); d != "" {
		t.Error(d)
	}
}

func (s suite) testPut(t *testing.T) {
	st := s.store(t)
	r := comp(acctA, "p", "1.0.0", 1)
	r.Tags = map[string]string{"a": "1", "b": "2"}
	r.Policy = `{"old":true}`
	r.SharedWith = []string{acctB}
	insert(t, st, r)

	r2 := r
	r2.Doc = []byte(`{"changed": true}`)
	r2.Tags = map[string]string{"b": "3", "c": "4"}
	r2.Policy = `{"new":true}`
	r2.SharedWith = []string{acctC, "*"}
	r2.Updated = base.Add(time.Hour)
	update(t, st, func(tx store.Tx) error { return tx.Put(context.Background(), r2) })
	got, err := get(st, r.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalResource(got, r2); d != "" {
		t.Error(d)
	}
	if rows := list(t, st, store.Query{Kind: kindComp, Region: region, SharedWith: acctB}); len(rows) != 1 {
		t.Errorf("shared with %s through \"*\": got %v", acctB, arns(rows))
	}

	// Clearing everything.
	r3 := r2
	r3.Tags, r3.Policy, r3.SharedWith = nil, "", nil
	update(t, st, func(tx store.Tx) error { return tx.Put(context.Background(), r3) })
	got, err = get(st, r.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalResource(got, r3); d != "" {
		t.Error(d)
	}
	if rows := list(t, st, store.Query{Kind: kindComp, Region: region, SharedWith: acctB}); len(rows) != 0 {
		t.Errorf("unshared resource still listed: %v", arns(rows))
	}
}

// testListSeesEveryWrite checks that List returns each row as it now
// stands after every kind of write to it — a Put, a Replace, a rolled-back
// Put, a delete and a re-insert under the same ARN, a change of tags only —
// and that changing what List returned changes nothing stored. A backend
// that keeps rows it has read (SQLite keeps them by revision) fails here
// when a write does not give the row a new revision.
func (s suite) testListSeesEveryWrite(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	q := store.Query{Kind: kindComp, Region: region, Owners: []string{acctA}}
	r := comp(acctA, "w", "1.0.0", 1)
	r.Tags = map[string]string{"t": "0"}
	insert(t, st, r, comp(acctA, "x", "1.0.0", 1))

	check := func(step string, want store.Resource) {
		t.Helper()
		for range 2 { // the second List may be served from what the first read
			rows := list(t, st, q)
			if len(rows) != 2 {
				t.Fatalf("%s: listed %v", step, arns(rows))
			}
			if d := equalResource(rows[0], want); d != "" {
				t.Errorf("%s: %s", step, d)
			}
			// What List returned belongs to the caller.
			rows[0].Tags["t"] = "scribbled"
			rows[0].Doc = []byte(`{"scribbled":true}`)
		}
	}
	check("inserted", r)

	r.Doc = []byte(`{"put":1}`)
	update(t, st, func(tx store.Tx) error { return tx.Put(ctx, r) })
	check("after Put", r)

	prev := r.Doc
	r.Doc = []byte(`{"replaced":2}`)
	update(t, st, func(tx store.Tx) error { return tx.Replace(ctx, r, prev) })
	check("after Replace", r)

	err := st.Update(ctx, func(tx store.Tx) error {
		bad := r
		bad.Doc = []byte(`{"rolled back":3}`)
		if err := tx.Put(ctx, bad); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("rolled-back Update: %v", err)
	}
	check("after a rolled-back Put", r)

	r.Tags = map[string]string{"t": "1"}
	update(t, st, func(tx store.Tx) error { return tx.Put(ctx, r) })
	check("after a change of tags", r)

	update(t, st, func(tx store.Tx) error { return tx.Delete(ctx, r.ARN) })
	r.Doc = []byte(`{"again":4}`)
	r.Tags = map[string]string{"t": "2"}
	insert(t, st, r)
	check("after Delete and Insert of the same ARN", r)
}

func (s suite) testDelete(t *testing.T) {
	st := s.store(t)
	r := comp(acctA, "d", "1.0.0", 1)
	r.Tags = map[string]string{"k": "v"}
	r.SharedWith = []string{acctB}
	r.Policy = `{}`
	keep := comp(acctA, "keep", "1.0.0", 1)
	insert(t, st, r, keep)
	update(t, st, func(tx store.Tx) error { return tx.Delete(context.Background(), r.ARN) })
	if _, err := get(st, r.ARN); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
	}
	if rows := list(t, st, store.Query{Kind: kindComp, Region: region}); !slices.Equal(arns(rows), []string{keep.ARN}) {
		t.Errorf("List after Delete = %v", arns(rows))
	}
	// A new resource under the same ARN starts without the old tags and grants.
	fresh := comp(acctA, "d", "1.0.0", 1)
	insert(t, st, fresh)
	got, err := get(st, fresh.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalResource(got, fresh); d != "" {
		t.Error(d)
	}
	if rows := list(t, st, store.Query{Kind: kindComp, Region: region, SharedWith: acctB}); len(rows) != 0 {
		t.Errorf("grant survived Delete: %v", arns(rows))
	}
}

func (s suite) testListOrder(t *testing.T) {
	st := s.store(t)
	want := []store.Resource{
		comp(acctA, "Zeta", "1.0.0", 1), // bytes: upper case before lower case
		comp(acctA, "a", "0.0.1", 1),
		comp(acctA, "a", "0.0.2", 1),
		comp(acctA, "a", "0.1.0", 1),
		comp(acctA, "a", "1.2.0", 1),
		comp(acctA, "a", "1.9.0", 1),
		comp(acctA, "a", "1.9.0", 2),
		comp(acctA, "a", "1.9.0", 10),
		comp(acctA, "a", "1.10.0", 1),
		comp(acctA, "a", "2.0.0", 1),
		comp(acctA, "a", "10.0.0", 1),
		comp(acctB, "a", "10.0.0", 1), // same position: ARN breaks the tie
		comp(acctA, "a-b", "0.0.1", 1),
		comp(acctA, "b", "1.0.0", 1),
	}
	shuffled := slices.Clone(want)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	insert(t, st, shuffled...)
	got := list(t, st, store.Query{Kind: kindComp, Region: region})
	if !slices.Equal(arns(got), arns(want)) {
		t.Errorf("order:\n got %q\nwant %q", arns(got), arns(want))
	}
	for i := range got {
		if i < len(want) {
			if d := equalResource(got[i], want[i]); d != "" {
				t.Errorf("row %d: %s", i, d)
			}
		}
	}

	// Unversioned kinds order by name.
	var pipes []store.Resource
	for _, n := range []string{"m", "B", "a", "z"} {
		pipes = append(pipes, res(acctA, "image-pipeline", n, "", 0))
	}
	insert(t, st, pipes...)
	got = list(t, st, store.Query{Kind: "image-pipeline", Region: region})
	var names []string
	for _, r := range got {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"B", "a", "m", "z"}) {
		t.Errorf("unversioned order = %q", names)
	}
}

func (s suite) testListFilters(t *testing.T) {
	st := s.store(t)
	a1 := comp(acctA, "x", "1.0.0", 1)
	a2 := comp(acctA, "y", "1.0.0", 1)
	a2.SharedWith = []string{acctB}
	b1 := comp(acctB, "x", "1.0.0", 1)
	b1.SharedWith = []string{"*"}
	b2 := comp(acctB, "z", "2.0.0", 1)
	b2.SharedWith = []string{acctA}
	c1 := comp(acctC, "x", "1.0.0", 2)
	c1.SharedWith = []string{acctA, acctB}
	recipe := res(acctA, "image-recipe", "x", "1.0.0", 0)
	elsewhere := comp(acctA, "x", "1.0.0", 1)
	elsewhere.Region = "eu-west-1"
	elsewhere.ARN = arnOf("eu-west-1", acctA, kindComp, "x", "1.0.0", 1)
	insert(t, st, a1, a2, b1, b2, c1, recipe, elsewhere)

	q := func(mod func(*store.Query)) store.Query {
		q := store.Query{Kind: kindComp, Region: region}
		if mod != nil {
			mod(&q)
		}
		return q
	}
	where := func(conds ...store.Cond) store.Query { return q(func(q *store.Query) { q.Where = conds }) }
	tests := []struct {
		name  string
		query store.Query
		want  []store.Resource
	}{
		{"All", q(nil), []store.Resource{a1, b1, c1, a2, b2}},
		{"OwnerA", q(func(q *store.Query) { q.Owners = []string{acctA} }), []store.Resource{a1, a2}},
		{"OwnersAB", q(func(q *store.Query) { q.Owners = []string{acctA, acctB} }), []store.Resource{a1, b1, a2, b2}},
		{"SharedWithA", q(func(q *store.Query) { q.SharedWith = acctA }), []store.Resource{b1, c1, b2}},
		{"SharedWithB", q(func(q *store.Query) { q.SharedWith = acctB }), []store.Resource{c1, a2}},
		{"SharedWithC", q(func(q *store.Query) { q.SharedWith = acctC }), []store.Resource{b1}},
		{"OwnerAndShared", q(func(q *store.Query) { q.Owners = []string{acctA}; q.SharedWith = acctB }), []store.Resource{a2}},
		{"Name", q(func(q *store.Query) { q.Name = "x" }), []store.Resource{a1, b1, c1}},
		{"Version", q(func(q *store.Query) { q.Version = "2.0.0" }), []store.Resource{b2}},
		{"NameVersion", q(func(q *store.Query) { q.Name = "x"; q.Version = "1.0.0" }), []store.Resource{a1, b1, c1}},
		{"NoMatch", q(func(q *store.Query) { q.Name = "nope" }), nil},
		{"WhereAccount", where(store.Eq(store.FieldAccount, acctC)), []store.Resource{c1}},
		{"Limit", q(func(q *store.Query) { q.Limit = 2 }), []store.Resource{a1, b1}},
		{"WhereLimit", q(func(q *store.Query) {
			q.Limit = 2
			q.Where = []store.Cond{store.Ne(store.FieldAccount, acctA)}
		}), []store.Resource{b1, c1}},
		{"WhereARN", where(store.Ne(store.FieldARN, a1.ARN, b2.ARN)), []store.Resource{b1, c1, a2}},
		{"WhereBuild", where(store.Eq(store.FieldBuild, "2", "junk")), []store.Resource{c1}},
		{"WhereBuildJunk", where(store.Eq(store.FieldBuild, "junk")), nil},
		{"WhereNameVersion", where(store.Eq(store.FieldName, "x", "z"), store.Eq(store.FieldVersion, "2.0.0")), []store.Resource{b2}},
		{"WhereSharedWith", where(store.Eq(store.FieldSharedWith, acctB, "nobody")), []store.Resource{c1, a2}},
		{"WhereNotSharedWith", where(store.Ne(store.FieldSharedWith, "*", acctA)), []store.Resource{a1, a2}},
		{"WhereVisibleToB", where(store.AnyOf(store.Eq(store.FieldAccount, acctB), store.Eq(store.FieldSharedWith, acctB, "*"))), []store.Resource{b1, c1, a2, b2}},
		{"WhereVersionLike", where(store.Cond{Field: store.FieldVersion, Op: store.VersionLike, Values: []string{"2.x.x"}}), []store.Resource{b2}},
		{"WhereVersionLikeAny", where(store.Cond{Field: store.FieldVersion, Op: store.VersionLike, Values: []string{"x.x.x"}}), []store.Resource{a1, b1, c1, a2, b2}},
		{"WhereVersionLikeExact", where(store.Cond{Field: store.FieldVersion, Op: store.VersionLike, Values: []string{"1.0.0", "3.x.x"}}), []store.Resource{a1, b1, c1, a2}},
		{"WhereDocContains", where(store.Cond{Field: store.FieldDoc, Op: store.Contains, Values: []string{"/z/2.0.0", "/y/1.0.0"}}), []store.Resource{a2, b2}},
		{"WhereDocMember", where(store.Eq(store.DocField("arn"), c1.ARN, a2.ARN)), []store.Resource{c1, a2}},
		{"WhereDocMemberNot", where(store.Ne(store.DocField("arn"), c1.ARN)), []store.Resource{a1, b1, a2, b2}},
		{"WhereDocMissing", where(store.Eq(store.DocField("nope", "deeper"), "x")), nil},
		{"WhereDocString", where(store.Eq(store.DocField("s"), "h\u00e9llo \u2713")), []store.Resource{a1, b1, c1, a2, b2}},
		{"WhereDocNumbers", where(store.Eq(store.DocField("n"), "1")), nil},
		{"WhereMixedOr", where(store.AnyOf(store.Eq(store.FieldAccount, acctC), store.Eq(store.DocField("arn"), b2.ARN))), []store.Resource{c1, b2}},
		{"WhereEmptyIn", where(store.Eq(store.FieldAccount)), nil},
		{"WhereEmptyNotIn", where(store.Ne(store.FieldAccount)), []store.Resource{a1, b1, c1, a2, b2}},
		{"After", q(func(q *store.Query) { q.After = b1.ARN }), []store.Resource{c1, a2, b2}},
		{"AfterLimit", q(func(q *store.Query) { q.After = b1.ARN; q.Limit = 1 }), []store.Resource{c1}},
		{"AfterLast", q(func(q *store.Query) { q.After = b2.ARN }), nil},
		{"OtherKind", store.Query{Kind: "image-recipe", Region: region}, []store.Resource{recipe}},
		{"OtherRegion", store.Query{Kind: kindComp, Region: "eu-west-1"}, []store.Resource{elsewhere}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := list(t, st, tt.query)
			if !slices.Equal(arns(got), arns(tt.want)) {
				t.Errorf("\n got %q\nwant %q", arns(got), arns(tt.want))
			}
		})
	}
}

// testListMatchAcrossBatches checks that Limit counts matching rows only,
// however many non-matching rows lie between them, with a condition on a
// Doc member (which a SQL backend may evaluate outside SQL).
func (s suite) testListMatchAcrossBatches(t *testing.T) {
	st := s.store(t)
	var all []store.Resource
	for i := range 700 {
		r := comp(acctA, fmt.Sprintf("n%04d", i), "1.0.0", 1)
		r.Doc = fmt.Appendf(nil, `{"pick": %q}`, strconv.FormatBool(i%97 == 0))
		all = append(all, r)
	}
	insert(t, st, all...)
	var want []store.Resource
	for i := 0; i < len(all); i += 97 {
		want = append(want, all[i])
	}
	match := []store.Cond{store.Eq(store.DocField("pick"), "true")}
	for _, limit := range []int{0, 1, 3, len(want), len(want) + 5} {
		got := list(t, st, store.Query{Kind: kindComp, Region: region, Where: match, Limit: limit})
		w := want
		if limit > 0 && limit < len(w) {
			w = w[:limit]
		}
		if !slices.Equal(arns(got), arns(w)) {
			t.Errorf("Limit %d:\n got %q\nwant %q", limit, arns(got), arns(w))
		}
	}
	if got := list(t, st, store.Query{Kind: kindComp, Region: region}); len(got) != len(all) {
		t.Errorf("List without Limit returned %d rows, want %d", len(got), len(all))
	}
}

// before reports whether a sorts strictly before b in List order.
func before(a, b store.Resource) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	av, bv := versionFields(a.Version), versionFields(b.Version)
	if c := slices.Compare(av, bv); c != 0 {
		return c < 0
	}
	if a.Build != b.Build {
		return a.Build < b.Build
	}
	return a.ARN < b.ARN
}

func versionFields(v string) []int {
	if v == "" {
		return nil
	}
	var out []int
	for f := range strings.SplitSeq(v, ".") {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// testPaginationWhileInserting walks every page, one View per page, while
// another goroutine keeps inserting rows in between the existing ones: the
// walk must stay in order, never repeat a row and never skip one that was
// there before it started.
func (s suite) testPaginationWhileInserting(t *testing.T) {
	st := s.store(t)
	var initial []store.Resource
	for i := range 60 {
		for _, v := range []string{"1.0.0", "1.10.0"} {
			initial = append(initial, comp(acctA, fmt.Sprintf("p%03d", 2*i), v, 1))
		}
	}
	insert(t, st, initial...)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Between existing names, and new versions of existing names.
			rs := []store.Resource{
				comp(acctA, fmt.Sprintf("p%03d", 2*(i%60)+1), fmt.Sprintf("1.%d.0", i), 1),
				comp(acctA, fmt.Sprintf("p%03d", 2*(i%60)), fmt.Sprintf("1.%d.1", i), 1),
			}
			if err := st.Update(context.Background(), func(tx store.Tx) error {
				for _, r := range rs {
					if err := tx.Insert(context.Background(), r); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Errorf("concurrent insert: %v", err)
				return
			}
		}
	}()

	seen := map[string]bool{}
	var prev *store.Resource
	after := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		rows := list(t, st, store.Query{Kind: kindComp, Region: region, Owners: []string{acctA}, After: after, Limit: 7})
		for i := range rows {
			r := rows[i]
			if seen[r.ARN] {
				t.Fatalf("row %s returned twice", r.ARN)
			}
			seen[r.ARN] = true
			if prev != nil && !before(*prev, r) {
				t.Fatalf("out of order: %s then %s", prev.ARN, r.ARN)
			}
			prev = &rows[i]
		}
		if len(rows) < 7 {
			break
		}
		after = rows[len(rows)-1].ARN
	}
	close(stop)
	wg.Wait()
	for _, r := range initial {
		if !seen[r.ARN] {
			t.Errorf("row %s skipped", r.ARN)
		}
	}
}

func (s suite) testAfterDeleted(t *testing.T) {
	st := s.store(t)
	var rs []store.Resource
	for _, v := range []string{"1.0.0", "1.2.0", "1.10.0", "2.0.0", "3.0.0"} {
		rs = append(rs, comp(acctA, "w", v, 1))
	}
	insert(t, st, rs...)
	q := store.Query{Kind: kindComp, Region: region, Limit: 2}
	page := list(t, st, q)
	if !slices.Equal(arns(page), arns(rs[:2])) {
		t.Fatalf("first page = %q", arns(page))
	}
	// The cursor's row disappears between pages.
	update(t, st, func(tx store.Tx) error { return tx.Delete(context.Background(), rs[1].ARN) })
	q.After = rs[1].ARN
	if page = list(t, st, q); !slices.Equal(arns(page), arns(rs[2:4])) {
		t.Errorf("page after deleted cursor = %q, want %q", arns(page), arns(rs[2:4]))
	}

	q.After = "not-an-arn"
	err := st.View(context.Background(), func(tx store.Tx) error {
		_, err := tx.List(context.Background(), q)
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("List after unreadable cursor: %v, want ErrNotFound", err)
	}
}

func (s suite) testNextBuild(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	next := func(account, name, version string) int {
		t.Helper()
		var n int
		update(t, st, func(tx store.Tx) error {
			var err error
			n, err = tx.NextBuild(ctx, account, region, kindComp, name, version)
			return err
		})
		return n
	}
	for want := 1; want <= 3; want++ {
		if got := next(acctA, "nb", "1.0.0"); got != want {
			t.Errorf("NextBuild = %d, want %d", got, want)
		}
	}
	// Every part of the key counts.
	for _, k := range [][3]string{{acctB, "nb", "1.0.0"}, {acctA, "nb2", "1.0.0"}, {acctA, "nb", "1.0.1"}} {
		if got := next(k[0], k[1], k[2]); got != 1 {
			t.Errorf("NextBuild%v = %d, want 1", k, got)
		}
	}
	update(t, st, func(tx store.Tx) error {
		n, err := tx.NextBuild(ctx, acctA, "eu-west-1", kindComp, "nb", "1.0.0")
		if n != 1 {
			t.Errorf("other region: NextBuild = %d, want 1", n)
		}
		return err
	})
	update(t, st, func(tx store.Tx) error {
		n, err := tx.NextBuild(ctx, acctA, region, "image", "nb", "1.0.0")
		if n != 1 {
			t.Errorf("other kind: NextBuild = %d, want 1", n)
		}
		return err
	})

	// Numbers are not reused after the builds are deleted.
	n := next(acctA, "nb", "1.0.0")
	r := comp(acctA, "nb", "1.0.0", n)
	insert(t, st, r)
	update(t, st, func(tx store.Tx) error { return tx.Delete(ctx, r.ARN) })
	if got := next(acctA, "nb", "1.0.0"); got != n+1 {
		t.Errorf("NextBuild after delete = %d, want %d", got, n+1)
	}
}

func (s suite) testNextBuildConcurrent(t *testing.T) {
	st := s.store(t)
	const n = 24
	got := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := st.Update(context.Background(), func(tx store.Tx) error {
				var err error
				got[i], err = tx.NextBuild(context.Background(), acctA, region, kindComp, "c", "1.0.0")
				return err
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, g := range got {
		if g != i+1 {
			t.Fatalf("concurrent NextBuild numbers = %v, want 1..%d", got, n)
		}
	}
}

func (s suite) testTokens(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	tok := store.Token{
		Account: acctA, Operation: "CreateComponent", Token: "abc-123",
		RequestHash: "h1", Response: []byte(`{"clientToken": "abc-123"}`),
	}
	update(t, st, func(tx store.Tx) error { return tx.PutToken(ctx, tok) })
	err := st.View(ctx, func(tx store.Tx) error {
		got, err := tx.Token(ctx, tok.Account, tok.Operation, tok.Token)
		if err != nil {
			return err
		}
		if got.Account != tok.Account || got.Operation != tok.Operation || got.Token != tok.Token ||
			got.RequestHash != tok.RequestHash || !bytes.Equal(got.Response, tok.Response) || got.Created.IsZero() {
			t.Errorf("Token = %+v, want %+v", got, tok)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	dup := tok
	dup.RequestHash = "h2"
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.PutToken(ctx, dup) }); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate PutToken: %v, want ErrExists", err)
	}
	// Tokens are scoped by account and operation.
	for _, other := range []store.Token{
		{Account: acctB, Operation: tok.Operation, Token: tok.Token, RequestHash: "h3", Response: []byte("{}")},
		{Account: acctA, Operation: "CreateImageRecipe", Token: tok.Token, RequestHash: "h4", Response: []byte("{}")},
	} {
		update(t, st, func(tx store.Tx) error { return tx.PutToken(ctx, other) })
	}
	err = st.View(ctx, func(tx store.Tx) error {
		got, err := tx.Token(ctx, tok.Account, tok.Operation, tok.Token)
		if err == nil && got.RequestHash != "h1" {
			t.Errorf("first token overwritten: hash %q", got.RequestHash)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (s suite) testReplace(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	r := comp(acctA, "r", "1.0.0", 1)
	insert(t, st, r)
	next := r
	next.Doc = []byte(`{"v":2}`)
	next.Tags = map[string]string{"k": "v"}
	next.Updated = base.Add(time.Hour)
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Replace(ctx, next, r.Doc) }); err != nil {
		t.Fatalf("Replace with the current Doc: %v", err)
	}
	stale := r
	stale.Doc = []byte(`{"v":3}`)
	err := st.Update(ctx, func(tx store.Tx) error { return tx.Replace(ctx, stale, r.Doc) })
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("Replace with a stale Doc = %v, want ErrConflict", err)
	}
	got, err := get(st, r.ARN)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalResource(got, next); d != "" {
		t.Errorf("after a refused Replace: %s", d)
	}
	missing := comp(acctA, "missing", "1.0.0", 1)
	err = st.Update(ctx, func(tx store.Tx) error { return tx.Replace(ctx, missing, missing.Doc) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Replace of a missing resource = %v, want ErrNotFound", err)
	}
}

// testClaimRace has workers claim jobs concurrently, the way the build
// engine does, and checks that no job is claimed twice: once reading a
// job and writing it back with Put (safe only if Updates are
// serializable) and once writing with Replace (the compare-and-set).
func (s suite) testClaimRace(t *testing.T) {
	for _, mode := range []string{"Put", "Replace"} {
		t.Run(mode, func(t *testing.T) {
			if err := ClaimRace(s.store(t), mode == "Replace", 8, 24); err != nil {
				t.Error(err)
			}
		})
	}
}

// ClaimRace inserts jobs resources, then has workers goroutines claim
// them until none is left, each claim one Update that lists the
// unclaimed jobs and writes the first one back as claimed (with Replace
// when replace is set, else with Put). It returns an error unless every
// job was claimed exactly once. It is exported so a backend's own tests
// can show that it catches a store that double-claims.
func ClaimRace(st store.Store, replace bool, workers, jobs int) error {
	ctx := context.Background()
	const kind = "claim-race"
	unclaimed := []byte(`{"worker":""}`)
	err := st.Update(ctx, func(tx store.Tx) error {
		for i := range jobs {
			r := res(acctA, kind, fmt.Sprintf("job%03d", i), "", 0)
			r.Doc = unclaimed
			if err := tx.Insert(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		claims = map[string][]int{} // job ARN → the workers that claimed it
		errs   []error
	)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			for {
				var got string
				err := st.Update(ctx, func(tx store.Tx) error {
					got = ""
					rows, err := tx.List(ctx, store.Query{Kind: kind, Region: region,
						Where: []store.Cond{store.Eq(store.DocField("worker"), "")}})
					if err != nil {
						return err
					}
					for _, r := range rows {
						claimed := r
						claimed.Doc = fmt.Appendf(nil, `{"worker":"w%d"}`, w)
						if replace {
							err = tx.Replace(ctx, claimed, r.Doc)
						} else {
							err = tx.Put(ctx, claimed)
						}
						if errors.Is(err, store.ErrConflict) {
							continue // another worker won it: try the next
						}
						if err != nil {
							return err
						}
						got = r.ARN
						return nil
					}
					return nil
				})
				mu.Lock()
				switch {
				case errors.Is(err, store.ErrConflict):
					// the backend gave up retrying; claim again
				case err != nil:
					errs = append(errs, err)
				case got != "":
					claims[got] = append(claims[got], w)
				}
				mu.Unlock()
				if err != nil && !errors.Is(err, store.ErrConflict) || err == nil && got == "" {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("claiming: %w", errors.Join(errs...))
	}
	var bad []string
	for a, ws := range claims {
		if len(ws) != 1 {
			bad = append(bad, fmt.Sprintf("%s claimed by workers %v", a, ws))
		}
	}
	if len(claims) != jobs {
		bad = append(bad, fmt.Sprintf("%d of %d jobs claimed", len(claims), jobs))
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return errors.New("double claims: " + strings.Join(bad, "; "))
	}
	return nil
}

func (s suite) testUpdateRollback(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	kept := comp(acctA, "kept", "1.0.0", 1)
	insert(t, st, kept)
	r := comp(acctA, "rolled-back", "1.0.0", 1)
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := tx.Insert(ctx, r); err != nil {
			return err
		}
		if err := tx.Delete(ctx, kept.ARN); err != nil {
			return err
		}
		if err := tx.PutToken(ctx, store.Token{Account: acctA, Operation: "Op", Token: "t", RequestHash: "h", Response: []byte("{}")}); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Update = %v, want the fn's error", err)
	}
	if _, err := get(st, r.ARN); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("insert of failed Update kept: %v", err)
	}
	if _, err := get(st, kept.ARN); err != nil {
		t.Errorf("delete of failed Update kept: %v", err)
	}
	err = st.View(ctx, func(tx store.Tx) error { _, err := tx.Token(ctx, acctA, "Op", "t"); return err })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token of failed Update kept: %v", err)
	}
}

func (s suite) testUpdateCanceled(t *testing.T) {
	st := s.store(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := st.Update(ctx, func(tx store.Tx) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("Update with canceled context = %v, fn called %v", err, called)
	}
}

// testGroupCommitIsolation runs many Updates at once, every third failing,
// so that a backend committing them together must isolate each one.
func (s suite) testGroupCommitIsolation(t *testing.T) {
	st := s.store(t)
	const n = 64
	ctx := context.Background()
	errs := make([]error, n)
	rs := make([]store.Resource, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		rs[i] = comp(acctA, fmt.Sprintf("g%02d", i), "1.0.0", 1)
		rs[i].Tags = map[string]string{"i": strconv.Itoa(i)}
		wg.Go(func() {
			<-start
			errs[i] = st.Update(ctx, func(tx store.Tx) error {
				if err := tx.Insert(ctx, rs[i]); err != nil {
					return err
				}
				if _, err := tx.NextBuild(ctx, acctA, region, kindComp, rs[i].Name, "1.0.0"); err != nil {
					return err
				}
				if i%3 == 0 {
					return fmt.Errorf("update %d: %w", i, errBoom)
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()
	var want []string
	for i := range n {
		switch {
		case i%3 == 0 && !errors.Is(errs[i], errBoom):
			t.Errorf("update %d = %v, want its own error", i, errs[i])
		case i%3 != 0 && errs[i] != nil:
			t.Errorf("update %d = %v, want nil", i, errs[i])
		case i%3 != 0:
			want = append(want, rs[i].ARN)
		}
	}
	got := list(t, st, store.Query{Kind: kindComp, Region: region})
	if !slices.Equal(arns(got), want) {
		t.Errorf("stored rows:\n got %q\nwant %q", arns(got), want)
	}
	for _, r := range got {
		i, _ := strconv.Atoi(strings.TrimPrefix(r.Name, "g"))
		if d := equalResource(r, rs[i]); d != "" {
			t.Errorf("%s: %s", r.ARN, d)
		}
	}
}

func (s suite) testViewSeesCommitted(t *testing.T) {
	st := s.store(t)
	for i := range 20 {
		r := comp(acctA, "v", fmt.Sprintf("1.0.%d", i), 1)
		insert(t, st, r)
		if _, err := get(st, r.ARN); err != nil {
			t.Fatalf("View right after Update: %v", err)
		}
	}
}

func (s suite) testViewSnapshot(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	insert(t, st, comp(acctA, "s", "1.0.0", 1))
	q := store.Query{Kind: kindComp, Region: region}
	err := st.View(ctx, func(tx store.Tx) error {
		before, err := tx.List(ctx, q)
		if err != nil {
			return err
		}
		insert(t, st, comp(acctA, "s", "2.0.0", 1))
		after, err := tx.List(ctx, q)
		if err != nil {
			return err
		}
		if len(before) != 1 || len(after) != 1 {
			t.Errorf("View saw a commit made while it ran: %d rows, then %d", len(before), len(after))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := list(t, st, q); len(got) != 2 {
		t.Errorf("after View: %d rows, want 2", len(got))
	}
}

func (s suite) testViewReadOnly(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	r := comp(acctA, "ro", "1.0.0", 1)
	writes := map[string]func(store.Tx) error{
		"Insert": func(tx store.Tx) error { return tx.Insert(ctx, r) },
		"NextBuild": func(tx store.Tx) error {
			_, err := tx.NextBuild(ctx, acctA, region, kindComp, "ro", "1.0.0")
			return err
		},
		"PutToken": func(tx store.Tx) error {
			return tx.PutToken(ctx, store.Token{Account: acctA, Operation: "Op", Token: "t", RequestHash: "h", Response: []byte("{}")})
		},
	}
	for name, fn := range writes {
		if err := st.View(ctx, fn); err == nil {
			t.Errorf("%s inside View succeeded", name)
		}
	}
	if _, err := get(st, r.ARN); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Insert inside View was kept: %v", err)
	}
}

func (s suite) testPingClose(t *testing.T) {
	st := s.open(t)
	ctx := context.Background()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}
	if err := st.Update(ctx, func(store.Tx) error { return nil }); err == nil {
		t.Error("Update after Close succeeded")
	}
	if err := st.View(ctx, func(store.Tx) error { return nil }); err == nil {
		t.Error("View after Close succeeded")
	}
}

// testGetOutsideTx checks Store.Get, which may be cached, never answers
// with a value older than the last acknowledged Update.
func (s suite) testGetOutsideTx(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	r := comp("111111111111", "cached", "1.0.0", 1)
	if _, err := st.Get(ctx, r.ARN); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get before insert: %v", err)
	}
	insert(t, st, r)
	for i := range 5 {
		got, err := st.Get(ctx, r.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"v":%d}`, i); i > 0 && string(got.Doc) != want {
			t.Fatalf("Get after Put %d: doc %s, want %s", i, got.Doc, want)
		}
		got.Tags["mutated"] = "by caller" // must not leak into later reads
		r.Doc = []byte(fmt.Sprintf(`{"v":%d}`, i+1))
		update(t, st, func(tx store.Tx) error { return tx.Put(ctx, r) })
		again, err := st.Get(ctx, r.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if string(again.Doc) != string(r.Doc) || again.Tags["mutated"] != "" {
			t.Fatalf("Get after Put: doc %s tags %v, want doc %s", again.Doc, again.Tags, r.Doc)
		}
		r.Doc = again.Doc

	}
	update(t, st, func(tx store.Tx) error { return tx.Delete(ctx, r.ARN) })
	if _, err := st.Get(ctx, r.ARN); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after delete: %v", err)
	}
}

// testGetOutsideTxConcurrent races readers against a writer: once an
// Update returns, no Get may see the value it replaced.
func (s suite) testGetOutsideTxConcurrent(t *testing.T) {
	st := s.store(t)
	ctx := context.Background()
	r := comp("111111111111", "raced", "1.0.0", 1)
	r.Doc = []byte(`{"v":0}`)
	insert(t, st, r)
	var acked atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := acked.Load()
				got, err := st.Get(ctx, r.ARN)
				if err != nil {
					t.Error(err)
					return
				}
				var v struct{ V int64 }
				json.Unmarshal(got.Doc, &v)
				if v.V < floor {
					t.Errorf("Get saw v=%d after v=%d was acknowledged", v.V, floor)
					return
				}
			}
		}()
	}
	for i := int64(1); i <= 200; i++ {
		r.Doc = []byte(fmt.Sprintf(`{"v":%d}`, i))
		update(t, st, func(tx store.Tx) error { return tx.Put(ctx, r) })
		acked.Store(i)
	}
	close(stop)
	wg.Wait()
}
