package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// querier is the part of *sql.Conn a tx uses.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx implements store.Tx for both View and Update.
type tx struct {
	q         querier
	stmts     *stmtCache // statements prepared on q's database or connection
	writable  bool
	now       func() time.Time
	retention time.Duration
	done      atomic.Bool
	// written, in the writer's transactions, collects what the batch
	// writes so the read cache can follow it after the commit.
	written *batchWrites
	// rev, in the writer's transactions, is the last revision number
	// handed out; each row written takes the next (see rows.go).
	rev *int64
	// rows, in read transactions, is the store's revision-checked row
	// cache for List; nil means read every row.
	rows *rowCache
}

// nextRev returns the revision for a row being written.
func (t *tx) nextRev() int64 {
	*t.rev++
	return *t.rev
}

func (t *tx) touch(arn string) {
	if t.written != nil {
		t.written.touched = append(t.written.touched, arn)
	}
}

func (t *tx) finish() { t.done.Store(true) }

// stmt returns the cached prepared statement for query, or nil to run
// query unprepared.
func (t *tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.stmts.get(ctx, query)
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return t.q.ExecContext(ctx, query, args...)
	}
	return s.ExecContext(ctx, args...)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return t.q.QueryContext(ctx, query, args...)
	}
	return s.QueryContext(ctx, args...)
}

// queryRow is QueryRowContext; a failure to prepare surfaces from Scan.
func (t *tx) queryRow(ctx context.Context, query string, args ...any) scanner {
	s, err := t.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	if s == nil {
		return t.q.QueryRowContext(ctx, query, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// ctx checks that t may still be used and returns the context to run a
// statement with: ctx without its cancellation. Transactions check ctx
// between statements instead, and run each statement uncancellable.
//
// Why, for an Update: the driver cancels by sqlite3_interrupt, and an
// interrupted write inside an explicit transaction rolls back the whole
// transaction — every other Update of the group commit with it.
//
// Why, for a View: a statement run with a context that can be cancelled
// costs two goroutines (database/sql's watcher of the rows, the driver's
// watcher that would interrupt), each started and then woken to end with
// the statement, on the API's hottest paths. Every statement of a View is
// bounded (List reads a page at a time, of one kind and region), so not
// interrupting one costs at most that statement.
func (t *tx) ctx(ctx context.Context, write bool) (context.Context, error) {
	if t.done.Load() {
		return nil, errTxDone
	}
	if write && !t.writable {
		return nil, errReadOnly
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

// resourceColumns selects a whole Resource; tags and grants come along as
// JSON aggregates so that one query reads a page.
const resourceColumns = `r.arn, r.kind, r.account, r.region, r.name, r.version, r.build,
	r.doc, r.policy, r.created, r.updated,
	(SELECT json_group_object(t.key, t.value) FROM tags t WHERE t.arn = r.arn),
	(SELECT json_group_array(g.principal) FROM grants g WHERE g.arn = r.arn),
	r.sort_key, r.rev`

type scanner interface{ Scan(dest ...any) error }

// scanResource reads one row of resourceColumns, returning its sort key
// and revision too.
func scanResource(row scanner) (store.Resource, string, int64, error) {
	var (
		r                store.Resource
		created, updated int64
		tags, grants     string
		key              string
		rev              int64
	)
	err := row.Scan(&r.ARN, &r.Kind, &r.Account, &r.Region, &r.Name, &r.Version, &r.Build,
		&r.Doc, &r.Policy, &created, &updated, &tags, &grants, &key, &rev)
	if err != nil {
		return r, "", 0, err
	}
	if r.Doc == nil {
		r.Doc = []byte{}
	}
	r.Created = time.Unix(0, created).UTC()
	r.Updated = time.Unix(0, updated).UTC()
	r.Tags = map[string]string{}
	// Most resources have no tags and no grants; skip the decoder then.
	if tags != "{}" {
		if err := json.Unmarshal([]byte(tags), &r.Tags); err != nil {
			return r, "", 0, fmt.Errorf("sqlite: tags of %s: %w", r.ARN, err)
		}
	}
	if grants != "[]" {
		if err := json.Unmarshal([]byte(grants), &r.SharedWith); err != nil {
			return r, "", 0, fmt.Errorf("sqlite: grants of %s: %w", r.ARN, err)
		}
	}
	if len(r.SharedWith) == 0 {
		r.SharedWith = nil
	}
	slices.Sort(r.SharedWith)
	return r, key, rev, nil
}

// Get returns the resource with arn, its Tags never nil and its SharedWith
// sorted.
func (t *tx) Get(ctx context.Context, arn string) (store.Resource, error) {
	ctx, err := t.ctx(ctx, false)
	if err != nil {
		return store.Resource{}, err
	}
	row := t.queryRow(ctx, "SELECT "+resourceColumns+" FROM resources r WHERE r.arn = ?", arn)
	r, _, _, err := scanResource(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Resource{}, fmt.Errorf("%w: %s", store.ErrNotFound, arn)
	}
	return r, err
}

// Insert stores r. Zero Created is set to now and zero Updated to Created.
func (t *tx) Insert(ctx context.Context, r store.Resource) error {
	ctx, err := t.ctx(ctx, true)
	if err != nil {
		return err
	}
	t.touch(r.ARN)
	if r.ARN == "" {
		return errors.New("sqlite: insert: empty ARN")
	}
	if r.Created.IsZero() {
		r.Created = t.now()
	}
	if r.Updated.IsZero() {
		r.Updated = r.Created
	}
	doc := r.Doc
	if doc == nil {
		doc = []byte{}
	}
	rev := t.nextRev()
	res, err := t.exec(ctx, `INSERT INTO resources
		(arn, kind, account, region, name, version, build, sort_key, doc, policy, created, updated, rev)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (arn) DO NOTHING`,
		r.ARN, r.Kind, r.Account, r.Region, r.Name, r.Version, r.Build, store.SortKey(r.Version, r.Build),
		doc, r.Policy, r.Created.UnixNano(), r.Updated.UnixNano(), rev)
	if err != nil {
		return fmt.Errorf("sqlite: insert %s: %w", r.ARN, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: %s", store.ErrExists, r.ARN)
	}
	if err := t.writeChildren(ctx, r); err != nil {
		return err
	}
	if t.written != nil {
		r.Doc = doc
		t.written.inserted = append(t.written.inserted, cachedRow{rev: rev, r: asRead(r)})
	}
	return nil
}

// asRead returns r as Get reads it back from its row: times at the
// nanosecond in UTC, Tags never nil, SharedWith sorted without repeats
// (nil when empty), and nothing shared with the caller's r.
func asRead(r store.Resource) store.Resource {
	r = clone(r)
	r.Created = time.Unix(0, r.Created.UnixNano()).UTC()
	r.Updated = time.Unix(0, r.Updated.UnixNano()).UTC()
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	slices.Sort(r.SharedWith)
	r.SharedWith = slices.Compact(r.SharedWith)
	if len(r.SharedWith) == 0 {
		r.SharedWith = nil
	}
	return r
}

// Put replaces the Doc, Tags, Policy, SharedWith and Updated of an existing
// resource (zero Updated means now). The identity columns (Kind, Account,
// Region, Name, Version, Build) and Created stay as they were inserted.
func (t *tx) Put(ctx context.Context, r store.Resource) error {
	return t.update(ctx, r, nil)
}

// Replace is Put when the stored Doc is still prev: the WHERE clause of
// the UPDATE is the compare-and-set.
func (t *tx) Replace(ctx context.Context, r store.Resource, prev []byte) error {
	if prev == nil {
		prev = []byte{}
	}
	return t.update(ctx, r, prev)
}

// update is Put (prev nil) and Replace (prev the Doc it must still be).
func (t *tx) update(ctx context.Context, r store.Resource, prev []byte) error {
	ctx, err := t.ctx(ctx, true)
	if err != nil {
		return err
	}
	t.touch(r.ARN)
	if r.Updated.IsZero() {
		r.Updated = t.now()
	}
	doc := r.Doc
	if doc == nil {
		doc = []byte{}
	}
	stmt, args, verb := "UPDATE resources SET doc = ?, policy = ?, updated = ?, rev = ? WHERE arn = ?",
		[]any{doc, r.Policy, r.Updated.UnixNano(), t.nextRev(), r.ARN}, "put"
	if prev != nil {
		stmt, args, verb = stmt+" AND doc = ?", append(args, prev), "replace"
	}
	res, err := t.exec(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s %s: %w", verb, r.ARN, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		if prev == nil {
			return fmt.Errorf("%w: %s", store.ErrNotFound, r.ARN)
		}
		if _, err := t.Get(ctx, r.ARN); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s changed since it was read", store.ErrConflict, r.ARN)
	}
	if err := t.deleteChildren(ctx, r.ARN); err != nil {
		return err
	}
	return t.writeChildren(ctx, r)
}

// Delete removes the resource with its tags and grants; ErrNotFound when
// absent. Its build counter stays.
func (t *tx) Delete(ctx context.Context, arn string) error {
	ctx, err := t.ctx(ctx, true)
	if err != nil {
		return err
	}
	t.touch(arn)
	if err := t.deleteChildren(ctx, arn); err != nil {
		return err
	}
	res, err := t.exec(ctx, "DELETE FROM resources WHERE arn = ?", arn)
	if err != nil {
		return fmt.Errorf("sqlite: delete %s: %w", arn, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: %s", store.ErrNotFound, arn)
	}
	return nil
}

func (t *tx) deleteChildren(ctx context.Context, arn string) error {
	for _, q := range []string{"DELETE FROM tags WHERE arn = ?", "DELETE FROM grants WHERE arn = ?"} {
		if _, err := t.exec(ctx, q, arn); err != nil {
			return fmt.Errorf("sqlite: %s: %w", arn, err)
		}
	}
	return nil
}

func (t *tx) writeChildren(ctx context.Context, r store.Resource) error {
	for k, v := range r.Tags {
		if _, err := t.exec(ctx, "INSERT INTO tags (arn, key, value) VALUES (?, ?, ?)", r.ARN, k, v); err != nil {
			return fmt.Errorf("sqlite: tags of %s: %w", r.ARN, err)
		}
	}
	for _, p := range r.SharedWith {
		if _, err := t.exec(ctx, "INSERT INTO grants (arn, principal) VALUES (?, ?) ON CONFLICT DO NOTHING", r.ARN, p); err != nil {
			return fmt.Errorf("sqlite: grants of %s: %w", r.ARN, err)
		}
	}
	return nil
}

// listBatch is how many rows List reads at a time while conditions
// evaluated in Go are rejecting rows; otherwise it reads Limit rows at once.
const listBatch = 256

// List returns the resources q selects in (Name, Version, Build, ARN) order.
//
// q.After names the last resource already seen. When no resource has that
// ARN any more (it was deleted between pages), the position is taken from
// the ARN itself, which for Image Builder ARNs spells out name, version and
// build; an ARN that cannot be read that way for q.Kind is an error
// wrapping store.ErrNotFound.
func (t *tx) List(ctx context.Context, q store.Query) ([]store.Resource, error) {
	// Statements run with sctx (see tx.ctx); ctx is checked between them.
	sctx, err := t.ctx(ctx, false)
	if err != nil {
		return nil, err
	}
	if q.Kind == "" || q.Region == "" {
		return nil, errors.New("sqlite: list: Kind and Region are required")
	}
	var where strings.Builder
	args := []any{q.Kind, q.Region}
	where.WriteString("r.kind = ? AND r.region = ?")
	if len(q.Owners) > 0 {
		where.WriteString(" AND r.account IN (?" + strings.Repeat(", ?", len(q.Owners)-1) + ")")
		for _, o := range q.Owners {
			args = append(args, o)
		}
	}
	if q.SharedWith != "" {
		where.WriteString(` AND r.account <> ? AND EXISTS (SELECT 1 FROM grants g
			WHERE g.arn = r.arn AND g.principal IN (?, '*'))`)
		args = append(args, q.SharedWith, q.SharedWith)
	}
	if q.Name != "" {
		where.WriteString(" AND r.name = ?")
		args = append(args, q.Name)
	}
	if q.Version != "" {
		where.WriteString(" AND r.version = ?")
		args = append(args, q.Version)
	}
	var inGo []store.Cond // the conditions SQL cannot express
	for _, c := range q.Where {
		clause, cargs, ok := condSQL(c)
		if !ok {
			inGo = append(inGo, c)
			continue
		}
		where.WriteString(" AND " + clause)
		args = append(args, cargs...)
	}

	// The cursor's position is the stored row's, looked up inside the
	// walk's own statement, or, when the row is gone, what its ARN spells.
	// Only a cursor whose ARN spells nothing needs a statement of its own,
	// to tell a stored row from an unknown cursor.
	var pos *position
	after, afterArgs := "", []any(nil)
	if q.After != "" {
		if name, key, ok := store.ARNPosition(q.After, q.Kind); ok {
			after = ` AND (r.name, r.sort_key, r.arn) > (
				coalesce((SELECT p.name FROM resources p WHERE p.arn = ?), ?),
				coalesce((SELECT p.sort_key FROM resources p WHERE p.arn = ?), ?), ?)`
			afterArgs = []any{q.After, name, q.After, key, q.After}
		} else {
			p, err := t.position(sctx, q.After, q.Kind)
			if err != nil {
				return nil, err
			}
			pos = &p
		}
	}
	batch := q.Limit
	if len(inGo) > 0 || batch <= 0 {
		batch = listBatch
	}
	// The walk reads the index only (the List indexes hold arn and rev);
	// rows come from the row cache when it holds their revision.
	query := "SELECT r.arn, r.rev FROM resources r WHERE " + where.String()

	out := make([]store.Resource, 0, min(batch, listBatch))
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		stmt, stmtArgs := query, slices.Clone(args)
		if pos != nil {
			stmt += " AND (r.name, r.sort_key, r.arn) > (?, ?, ?)"
			stmtArgs = append(stmtArgs, pos.name, pos.key, pos.arn)
		} else if after != "" {
			stmt += after
			stmtArgs = append(stmtArgs, afterArgs...)
		}
		stmt += " ORDER BY r.name, r.sort_key, r.arn LIMIT ?"
		stmtArgs = append(stmtArgs, batch)
		refs, err := t.queryRefs(sctx, stmt, stmtArgs)
		if err != nil {
			return nil, err
		}
		rows, err := t.resolve(sctx, refs)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			if len(inGo) > 0 && !store.Holds(inGo, r) {
				continue
			}
			out = append(out, r)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
		if len(refs) < batch {
			return out, nil
		}
		// A row's sort key is a function of its version and build,
		// which never change after Insert.
		last := rows[len(rows)-1]
		pos = &position{name: last.Name, key: store.SortKey(last.Version, last.Build), arn: last.ARN}
	}
}

// condSQL translates a condition on a column into a WHERE clause over
// resources r; ok is false for conditions on Doc members, which List
// evaluates in Go.
func condSQL(c store.Cond) (clause string, args []any, ok bool) {
	if c.Check != nil {
		return "", nil, false // a rule in Go: evaluated with Holds
	}
	if len(c.Or) > 0 {
		parts := make([]string, len(c.Or))
		for i, o := range c.Or {
			p, a, ok := condSQL(o)
			if !ok {
				return "", nil, false
			}
			parts[i] = p
			args = append(args, a...)
		}
		return "(" + strings.Join(parts, " OR ") + ")", args, true
	}
	switch c.Op {
	case store.Contains:
		if c.Field != store.FieldDoc {
			return "", nil, false
		}
		parts := make([]string, len(c.Values))
		for i, v := range c.Values {
			parts[i] = "instr(r.doc, ?) > 0"
			args = append(args, []byte(v))
		}
		if len(parts) == 0 {
			return "0", nil, true
		}
		return "(" + strings.Join(parts, " OR ") + ")", args, true
	case store.VersionLike:
		if c.Field != store.FieldVersion && c.Field != "" {
			return "", nil, false
		}
		parts := make([]string, len(c.Values))
		for i, v := range c.Values {
			if strings.Trim(v, "0123456789x.") != "" {
				return "", nil, false // not a pattern LIKE can spell
			}
			parts[i] = "r.version LIKE ?"
			args = append(args, strings.ReplaceAll(v, "x", "%"))
		}
		if len(parts) == 0 {
			return "0", nil, true
		}
		return "(" + strings.Join(parts, " OR ") + ")", args, true
	case store.In, store.NotIn:
	default:
		return "", nil, false
	}
	var in string
	switch c.Field {
	case store.FieldARN, store.FieldAccount, store.FieldName, store.FieldVersion:
		in = "r." + string(c.Field) + " IN (%s)"
		for _, v := range c.Values {
			args = append(args, v)
		}
	case store.FieldBuild:
		in = "r.build IN (%s)"
		for _, v := range c.Values {
			if n, err := strconv.Atoi(v); err == nil {
				args = append(args, n)
			}
		}
	case store.FieldSharedWith:
		in = "EXISTS (SELECT 1 FROM grants g WHERE g.arn = r.arn AND g.principal IN (%s))"
		for _, v := range c.Values {
			args = append(args, v)
		}
	default:
		path, ok := docPath(c.Field)
		if !ok {
			return "", nil, false
		}
		// A Doc member's values, as store.Holds reads them: the member
		// itself when it is a string, its string elements when it is an
		// array (json_each gives array elements integer keys, object
		// members text keys, and a scalar a NULL key); nothing for any
		// other member, a missing one or a Doc that is not JSON.
		in = `CASE WHEN json_valid(CAST(r.doc AS TEXT)) THEN EXISTS (
			SELECT 1 FROM json_each(CAST(r.doc AS TEXT), ?) j
			WHERE j.type = 'text' AND (j.key IS NULL OR typeof(j.key) = 'integer')
			AND j.value IN (%s)) ELSE 0 END`
		if len(c.Values) == 0 {
			break
		}
		args = append(args, path)
		for _, v := range c.Values {
			args = append(args, v)
		}
		clause = fmt.Sprintf(in, "?"+strings.Repeat(", ?", len(c.Values)-1))
		if c.Op == store.NotIn {
			clause = "NOT " + clause
		}
		return "(" + clause + ")", args, true
	}
	if len(args) == 0 {
		clause = "0"
	} else {
		clause = fmt.Sprintf(in, "?"+strings.Repeat(", ?", len(args)-1))
	}
	if c.Op == store.NotIn {
		clause = "NOT " + clause
	}
	return "(" + clause + ")", args, true
}

// plainMember is the characters of the member names docPath translates:
// those of every name the service filters on. Others (quotes, control
// characters, which SQLite's path syntax cannot carry) are evaluated in Go.
const plainMember = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

// docPath spells a DocField as an SQLite JSON path ($."a"."b"); ok is
// false for other fields and for member names outside plainMember.
func docPath(f store.Field) (string, bool) {
	names, ok := f.DocPath()
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteString("$")
	for _, n := range names {
		if n == "" || strings.TrimLeft(n, plainMember) != "" {
			return "", false
		}
		b.WriteString(`."` + n + `"`)
	}
	return b.String(), true
}

// position is a place in List order.
type position struct{ name, key, arn string }

func (t *tx) position(ctx context.Context, arn, kind string) (position, error) {
	p := position{arn: arn}
	err := t.queryRow(ctx, "SELECT name, sort_key FROM resources WHERE arn = ?", arn).Scan(&p.name, &p.key)
	if errors.Is(err, sql.ErrNoRows) {
		var ok bool
		if p.name, p.key, ok = store.ARNPosition(arn, kind); !ok {
			return p, fmt.Errorf("%w: list cursor %s", store.ErrNotFound, arn)
		}
		return p, nil
	}
	return p, err
}

// rowRef is one row of a List walk as the index holds it.
type rowRef struct {
	arn string
	rev int64
}

// queryRefs runs a List statement, which selects arn and rev.
func (t *tx) queryRefs(ctx context.Context, stmt string, args []any) ([]rowRef, error) {
	rows, err := t.query(ctx, stmt, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	defer rows.Close()
	var out []rowRef
	for rows.Next() {
		var r rowRef
		if err := rows.Scan(&r.arn, &r.rev); err != nil {
			return nil, fmt.Errorf("sqlite: list: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list: %w", err)
	}
	return out, nil
}

// resolve turns refs into resources: from the row cache where it holds
// the same revision, otherwise read in this transaction (and cached).
func (t *tx) resolve(ctx context.Context, refs []rowRef) ([]store.Resource, error) {
	out := make([]store.Resource, len(refs))
	var miss []int
	if t.rows != nil {
		miss = t.rows.lookup(refs, out)
	} else {
		for i := range refs {
			miss = append(miss, i)
		}
	}
	for _, i := range miss {
		row := t.queryRow(ctx, "SELECT "+resourceColumns+" FROM resources r WHERE r.arn = ?", refs[i].arn)
		r, _, rev, err := scanResource(row)
		if err != nil {
			// The row was in this transaction's snapshot a moment ago.
			return nil, fmt.Errorf("sqlite: list: %s: %w", refs[i].arn, err)
		}
		if t.rows != nil {
			t.rows.put(rev, r)
		}
		out[i] = r
	}
	return out, nil
}

// NextBuild hands out build numbers from build_counters, which keeps the
// next number for each (account, region, kind, name, version).
func (t *tx) NextBuild(ctx context.Context, account, region, kind, name, version string) (int, error) {
	ctx, err := t.ctx(ctx, true)
	if err != nil {
		return 0, err
	}
	var n int
	err = t.queryRow(ctx, `INSERT INTO build_counters (account, region, kind, name, version, next)
		VALUES (?, ?, ?, ?, ?, 2)
		ON CONFLICT (account, region, kind, name, version) DO UPDATE SET next = next + 1
		RETURNING next - 1`, account, region, kind, name, version).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("sqlite: next build: %w", err)
	}
	return n, nil
}

// cutoff is the creation time before which tokens count as forgotten.
func (t *tx) cutoff() int64 {
	if t.retention <= 0 {
		return -1 << 63
	}
	return t.now().Add(-t.retention).UnixNano()
}

// Token returns a remembered request younger than the retention.
func (t *tx) Token(ctx context.Context, account, operation, token string) (store.Token, error) {
	ctx, err := t.ctx(ctx, false)
	if err != nil {
		return store.Token{}, err
	}
	tok := store.Token{Account: account, Operation: operation, Token: token}
	var created int64
	err = t.queryRow(ctx, `SELECT request_hash, response, created FROM tokens
		WHERE account = ? AND operation = ? AND token = ? AND created >= ?`,
		account, operation, token, t.cutoff()).Scan(&tok.RequestHash, &tok.Response, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Token{}, fmt.Errorf("%w: token %s/%s/%s", store.ErrNotFound, account, operation, token)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("sqlite: token: %w", err)
	}
	if tok.Response == nil {
		tok.Response = []byte{}
	}
	tok.Created = time.Unix(0, created).UTC()
	return tok, nil
}

// PutToken remembers a request (zero Created means now). ErrExists when the
// same (Account, Operation, Token) is remembered and not yet expired; an
// expired one is replaced.
func (t *tx) PutToken(ctx context.Context, tok store.Token) error {
	ctx, err := t.ctx(ctx, true)
	if err != nil {
		return err
	}
	if tok.Created.IsZero() {
		tok.Created = t.now()
	}
	resp := tok.Response
	if resp == nil {
		resp = []byte{}
	}
	res, err := t.exec(ctx, `INSERT INTO tokens (account, operation, token, request_hash, response, created)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (account, operation, token) DO UPDATE SET
			request_hash = excluded.request_hash, response = excluded.response, created = excluded.created
		WHERE tokens.created < ?`,
		tok.Account, tok.Operation, tok.Token, tok.RequestHash, resp, tok.Created.UnixNano(), t.cutoff())
	if err != nil {
		return fmt.Errorf("sqlite: put token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: token %s/%s/%s", store.ErrExists, tok.Account, tok.Operation, tok.Token)
	}
	return nil
}
