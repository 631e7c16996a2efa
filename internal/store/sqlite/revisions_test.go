package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/internal/store"
)

// TestMigrateGivesRevisions opens a database made by the schema before
// revisions (migrations 1 and 2, with rows in it) and checks that the
// upgrade numbers every row, starts the counter past them, and that List
// and later writes behave.
func TestMigrateGivesRevisions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiln.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	all, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"}
	for _, m := range all[:2] {
		stmts = append(stmts, m.sql, "INSERT INTO schema_version VALUES ("+string(rune('0'+m.version))+", '"+m.name+"')")
	}
	for i, name := range []string{"old-a", "old-b"} {
		r := testResource(name)
		stmts = append(stmts, `INSERT INTO resources (arn, kind, account, region, name, version, build, sort_key, doc, policy, created, updated)
			VALUES ('`+r.ARN+`', 'component', '111111111111', 'us-east-1', '`+name+`', '1.0.0', 1, '`+store.SortKey("1.0.0", 1)+`', '{"old":`+string(rune('0'+i))+`}', '', 0, 0)`)
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var counter, zero int64
	if err := s.wconn.QueryRowContext(ctx, "SELECT value FROM revision").Scan(&counter); err != nil {
		t.Fatal(err)
	}
	if err := s.wconn.QueryRowContext(ctx, "SELECT count(*) FROM resources WHERE rev = 0 OR rev > ?", counter).Scan(&zero); err != nil {
		t.Fatal(err)
	}
	if counter < 2 || zero != 0 {
		t.Errorf("after the upgrade: counter %d, %d rows without a revision below it", counter, zero)
	}
	q := store.Query{Kind: "component", Region: "us-east-1"}
	list := func() []store.Resource {
		var rows []store.Resource
		if err := s.View(ctx, func(tx store.Tx) error { var err error; rows, err = tx.List(ctx, q); return err }); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	if rows := list(); len(rows) != 2 || string(rows[1].Doc) != `{"old":1}` {
		t.Fatalf("listed %+v", rows)
	}
	r := testResource("old-b")
	r.Doc = []byte(`{"new":true}`)
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, r) }); err != nil {
		t.Fatal(err)
	}
	var rev int64
	if err := s.wconn.QueryRowContext(ctx, "SELECT rev FROM resources WHERE arn = ?", r.ARN).Scan(&rev); err != nil {
		t.Fatal(err)
	}
	if rev <= counter {
		t.Errorf("a write after the upgrade got revision %d, not past the counter's %d", rev, counter)
	}
	if rows := list(); string(rows[1].Doc) != `{"new":true}` {
		t.Errorf("after Put, listed %s", rows[1].Doc)
	}
}

// TestRevisionsSurviveReopen checks that a revision is never handed out
// twice, even when the row holding the highest one is deleted and the
// store reopened: the counter lives in the database, not in the rows.
func TestRevisionsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	r := testResource("gone")
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
		t.Fatal(err)
	}
	var first int64
	if err := s.wconn.QueryRowContext(ctx, "SELECT rev FROM resources WHERE arn = ?", r.ARN).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, r.ARN) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Insert(ctx, r) }); err != nil {
		t.Fatal(err)
	}
	var again int64
	if err := s.wconn.QueryRowContext(ctx, "SELECT rev FROM resources WHERE arn = ?", r.ARN).Scan(&again); err != nil {
		t.Fatal(err)
	}
	if again <= first {
		t.Errorf("re-inserted row got revision %d, not past the deleted row's %d", again, first)
	}
}
