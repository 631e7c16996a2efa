package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kiln-build/kiln/internal/store"
)

// querier is what a tx runs statements on: a pgx.Tx, or the pool for Get
// outside a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tx implements store.Tx for View and Update.
type tx struct {
	q         querier
	writable  bool
	now       func() time.Time
	retention time.Duration
	done      atomic.Bool
}

func (t *tx) finish() { t.done.Store(true) }

func (t *tx) check(ctx context.Context, write bool) error {
	if t.done.Load() {
		return errTxDone
	}
	if write && !t.writable {
		return errReadOnly
	}
	return ctx.Err()
}

// resourceColumns selects a whole Resource and its sort key.
const resourceColumns = `r.arn, r.kind, r.account, r.region, r.name, r.version, r.build,
	r.doc, r.policy, r.created, r.updated, r.tags, r.grants, r.sort_key`

// scanResource reads one row of resourceColumns, and then into extra the
// columns that follow them.
func scanResource(row pgx.Row, extra ...any) (store.Resource, string, error) {
	var (
		r                store.Resource
		build            int64
		created, updated int64
		key              string
		// tags is the jsonb column's text, decoded by decodeTags.
		tags []byte
	)
	err := row.Scan(append([]any{&r.ARN, &r.Kind, &r.Account, &r.Region, &r.Name, &r.Version, &build,
		&r.Doc, &r.Policy, &created, &updated, &tags, &r.SharedWith, &key}, extra...)...)
	if err != nil {
		return r, "", err
	}
	r.Build = int(build)
	if r.Doc == nil {
		r.Doc = []byte{}
	}
	if r.Tags, err = decodeTags(tags); err != nil {
		return r, "", fmt.Errorf("tags of %s: %w", r.ARN, err)
	}
	if len(r.SharedWith) == 0 {
		r.SharedWith = nil
	}
	r.Created = time.Unix(0, created).UTC()
	r.Updated = time.Unix(0, updated).UTC()
	return r, key, nil
}

// Get returns the resource with arn, its Tags never nil and its SharedWith
// sorted (grants are stored sorted).
func (t *tx) Get(ctx context.Context, arn string) (store.Resource, error) {
	if err := t.check(ctx, false); err != nil {
		return store.Resource{}, err
	}
	r, _, err := scanResource(t.q.QueryRow(ctx, "SELECT "+resourceColumns+" FROM resources r WHERE r.arn = $1", arn))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Resource{}, fmt.Errorf("%w: %s", store.ErrNotFound, arn)
	}
	if err != nil {
		return store.Resource{}, fmt.Errorf("postgres: get %s: %w", arn, err)
	}
	return r, nil
}

// children returns r's Tags and SharedWith as the columns hold them: never
// NULL, grants sorted and unique.
func children(r store.Resource) (map[string]string, []string) {
	tags := r.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	grants := slices.Compact(slices.Sorted(slices.Values(r.SharedWith)))
	if grants == nil {
		grants = []string{}
	}
	return tags, grants
}

// Insert stores r. Zero Created is set to now and zero Updated to Created.
func (t *tx) Insert(ctx context.Context, r store.Resource) error {
	if err := t.check(ctx, true); err != nil {
		return err
	}
	if r.ARN == "" {
		return errors.New("postgres: insert: empty ARN")
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
	tags, grants := children(r)
	tag, err := t.q.Exec(ctx, `INSERT INTO resources
		(arn, kind, account, region, name, version, build, sort_key, doc, policy, tags, grants, created, updated, members)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
		ON CONFLICT (arn) DO NOTHING`,
		r.ARN, r.Kind, r.Account, r.Region, r.Name, r.Version, int64(r.Build), store.SortKey(r.Version, r.Build),
		doc, r.Policy, tags, grants, r.Created.UnixNano(), r.Updated.UnixNano(), members(doc))
	if err != nil {
		return fmt.Errorf("postgres: insert %s: %w", r.ARN, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", store.ErrExists, r.ARN)
	}
	return nil
}

// Put replaces the Doc, Tags, Policy, SharedWith and Updated of an existing
// resource (zero Updated means now).
func (t *tx) Put(ctx context.Context, r store.Resource) error {
	return t.update(ctx, r, nil)
}

// Replace is Put when the stored Doc is still prev: the UPDATE's WHERE
// clause is the compare-and-set.
func (t *tx) Replace(ctx context.Context, r store.Resource, prev []byte) error {
	if prev == nil {
		prev = []byte{}
	}
	return t.update(ctx, r, prev)
}

func (t *tx) update(ctx context.Context, r store.Resource, prev []byte) error {
	if err := t.check(ctx, true); err != nil {
		return err
	}
	if r.Updated.IsZero() {
		r.Updated = t.now()
	}
	doc := r.Doc
	if doc == nil {
		doc = []byte{}
	}
	tags, grants := children(r)
	stmt := "UPDATE resources SET doc = $1, policy = $2, updated = $3, tags = $4, grants = $5, members = $7 WHERE arn = $6"
	args := []any{doc, r.Policy, r.Updated.UnixNano(), tags, grants, r.ARN, members(doc)}
	verb := "put"
	if prev != nil {
		stmt, args, verb = stmt+" AND doc = $8", append(args, prev), "replace"
	}
	tag, err := t.q.Exec(ctx, stmt, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s %s: %w", verb, r.ARN, err)
	}
	if tag.RowsAffected() == 0 {
		if prev == nil {
			return fmt.Errorf("%w: %s", store.ErrNotFound, r.ARN)
		}
		if _, err := t.Get(ctx, r.ARN); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s changed since it was read", store.ErrConflict, r.ARN)
	}
	return nil
}

// Delete removes the resource (its tags and grants are in its row); its
// build counter stays.
func (t *tx) Delete(ctx context.Context, arn string) error {
	if err := t.check(ctx, true); err != nil {
		return err
	}
	tag, err := t.q.Exec(ctx, "DELETE FROM resources WHERE arn = $1", arn)
	if err != nil {
		return fmt.Errorf("postgres: delete %s: %w", arn, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", store.ErrNotFound, arn)
	}
	return nil
}

// listBatch is how many rows List reads at a time while conditions
// evaluated in Go (Cond.Check) are rejecting rows; otherwise it reads Limit
// rows at once.
const listBatch = 256

// args numbers a statement's parameters.
type args []any

func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// List returns the resources q selects in (Name, Version, Build, ARN)
// order, walking an index on (kind, region[, account], name, sort_key,
// arn) from the cursor: a page costs its own rows, not the table's.
// Conditions on columns, and on Doc members (over the members column, see
// members.go), are SQL, so an unfiltered or filtered page reads about its
// own rows; Go rules (Cond.Check) are evaluated in Go over batches.
func (t *tx) List(ctx context.Context, q store.Query) ([]store.Resource, error) {
	if err := t.check(ctx, false); err != nil {
		return nil, err
	}
	if q.Kind == "" || q.Region == "" {
		return nil, errors.New("postgres: list: Kind and Region are required")
	}
	var a args
	var where strings.Builder
	where.WriteString("r.kind = " + a.add(q.Kind) + " AND r.region = " + a.add(q.Region))
	switch len(q.Owners) {
	case 0:
	case 1:
		// Equality, not ANY: the planner then walks resources_by_owner
		// in List order, whoever else has rows of the kind.
		where.WriteString(" AND r.account = " + a.add(q.Owners[0]))
	default:
		where.WriteString(" AND r.account = ANY(" + a.add(q.Owners) + "::text[])")
	}
	if q.SharedWith != "" {
		where.WriteString(" AND r.account <> " + a.add(q.SharedWith) +
			" AND r.grants && " + a.add([]string{q.SharedWith, "*"}) + "::text[]")
	}
	if q.Name != "" {
		where.WriteString(" AND r.name = " + a.add(q.Name))
	}
	if q.Version != "" {
		where.WriteString(" AND r.version = " + a.add(q.Version))
	}
	// inGo are the conditions SQL cannot say; recheck those on Doc
	// members that SQL let through for rows whose members column is NULL.
	var inGo, recheck []store.Cond
	for _, c := range q.Where {
		clause, ok := condSQL(c, &a)
		if !ok {
			inGo = append(inGo, c)
			continue
		}
		if mentionsMembers(c) {
			recheck = append(recheck, c)
		}
		where.WriteString(" AND " + clause)
	}

	// The cursor's place in List order is its row's, or, for a deleted
	// row, what its ARN says. When the ARN says where it is, the lookup is
	// a subquery of the page's statement (one round trip, not two).
	var pos *position
	var after *position
	if q.After != "" {
		if n, k, ok := store.ARNPosition(q.After, q.Kind); ok {
			after = &position{name: n, key: k, arn: q.After}
		} else {
			p, err := t.position(ctx, q.After, q.Kind)
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
	query := "SELECT " + resourceColumns + ", r.members IS NULL FROM resources r WHERE " + where.String()

	var out []store.Resource
	for {
		stmt, sa := query, slices.Clone(a)
		if after != nil {
			cur := sa.add(after.arn)
			stmt += " AND (r.name, r.sort_key, r.arn) > (" +
				"coalesce((SELECT c.name FROM resources c WHERE c.arn = " + cur + "), " + sa.add(after.name) + "), " +
				"coalesce((SELECT c.sort_key FROM resources c WHERE c.arn = " + cur + "), " + sa.add(after.key) + "), " +
				cur + ")"
			after = nil
		} else if pos != nil {
			stmt += " AND (r.name, r.sort_key, r.arn) > (" + sa.add(pos.name) + ", " + sa.add(pos.key) + ", " + sa.add(pos.arn) + ")"
		}
		stmt += " ORDER BY r.name, r.sort_key, r.arn LIMIT " + sa.add(batch)
		rows, unknown, last, err := t.queryResources(ctx, stmt, sa)
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			if len(inGo) > 0 && !store.Holds(inGo, r) {
				continue
			}
			if len(recheck) > 0 && unknown[i] && !store.Holds(recheck, r) {
				continue
			}
			out = append(out, r)
			if q.Limit > 0 && len(out) == q.Limit {
				return out, nil
			}
		}
		if len(rows) < batch {
			return out, nil
		}
		pos = &last
	}
}

// condSQL translates a condition on a column into a clause over resources
// r, adding its parameters to a; ok is false for conditions on Doc members
// and Go rules, which List evaluates with store.Holds. An OR whose last
// branch cannot be translated must leave no parameters behind (PostgreSQL
// refuses a statement with unused ones of unknown type), so the clause is
// built on a copy of a that replaces a only on success.
func condSQL(c store.Cond, a *args) (string, bool) {
	scratch := slices.Clone(*a)
	clause, ok := condInto(c, &scratch)
	if ok {
		*a = scratch
	}
	return clause, ok
}

func condInto(c store.Cond, a *args) (string, bool) {
	if c.Check != nil {
		return "", false
	}
	if len(c.Or) > 0 {
		parts := make([]string, len(c.Or))
		for i, o := range c.Or {
			p, ok := condInto(o, a)
			if !ok {
				return "", false
			}
			parts[i] = p
		}
		return "(" + strings.Join(parts, " OR ") + ")", true
	}
	switch c.Op {
	case store.Contains:
		if c.Field != store.FieldDoc {
			return "", false
		}
		if len(c.Values) == 0 {
			return "false", true
		}
		parts := make([]string, len(c.Values))
		for i, v := range c.Values {
			parts[i] = "position(" + a.add([]byte(v)) + "::bytea in r.doc) > 0"
		}
		return "(" + strings.Join(parts, " OR ") + ")", true
	case store.VersionLike:
		if c.Field != store.FieldVersion && c.Field != "" {
			return "", false
		}
		if len(c.Values) == 0 {
			return "false", true
		}
		parts := make([]string, len(c.Values))
		for i, v := range c.Values {
			if strings.Trim(v, "0123456789x.") != "" {
				return "", false // not a pattern LIKE can spell
			}
			parts[i] = "r.version LIKE " + a.add(strings.ReplaceAll(v, "x", "%"))
		}
		return "(" + strings.Join(parts, " OR ") + ")", true
	case store.In, store.NotIn:
	default:
		return "", false
	}
	var clause string
	switch c.Field {
	case store.FieldARN, store.FieldAccount, store.FieldName, store.FieldVersion:
		clause = "r." + string(c.Field) + " = ANY(" + a.add(nonNil(c.Values)) + "::text[])"
	case store.FieldBuild:
		var builds []int64
		for _, v := range c.Values {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				builds = append(builds, n)
			}
		}
		if builds == nil {
			builds = []int64{}
		}
		clause = "r.build = ANY(" + a.add(builds) + "::bigint[])"
	case store.FieldSharedWith:
		clause = "r.grants && " + a.add(nonNil(c.Values)) + "::text[]"
	default:
		if path, ok := c.Field.DocPath(); ok {
			return memberSQL(c, path, a)
		}
		return "", false
	}
	if c.Op == store.NotIn {
		clause = "NOT (" + clause + ")"
	}
	return "(" + clause + ")", true
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// position is a place in List order.
type position struct{ name, key, arn string }

func (t *tx) position(ctx context.Context, arn, kind string) (position, error) {
	p := position{arn: arn}
	err := t.q.QueryRow(ctx, "SELECT name, sort_key FROM resources WHERE arn = $1", arn).Scan(&p.name, &p.key)
	if errors.Is(err, pgx.ErrNoRows) {
		var ok bool
		if p.name, p.key, ok = store.ARNPosition(arn, kind); !ok {
			return p, fmt.Errorf("%w: list cursor %s", store.ErrNotFound, arn)
		}
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("postgres: list cursor: %w", err)
	}
	return p, nil
}

// queryResources runs a List statement, whose rows are resourceColumns and
// whether the row's members column is NULL (unknown).
func (t *tx) queryResources(ctx context.Context, stmt string, a args) ([]store.Resource, []bool, position, error) {
	rows, err := t.q.Query(ctx, stmt, a...)
	if err != nil {
		return nil, nil, position{}, fmt.Errorf("postgres: list: %w", err)
	}
	defer rows.Close()
	var (
		out     []store.Resource
		unknown []bool
		last    position
	)
	for rows.Next() {
		var null bool
		r, key, err := scanResource(rows, &null)
		if err != nil {
			return nil, nil, position{}, fmt.Errorf("postgres: list: %w", err)
		}
		out = append(out, r)
		unknown = append(unknown, null)
		last = position{name: r.Name, key: key, arn: r.ARN}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, position{}, fmt.Errorf("postgres: list: %w", err)
	}
	return out, unknown, last, nil
}

// NextBuild hands out build numbers from build_counters.
func (t *tx) NextBuild(ctx context.Context, account, region, kind, name, version string) (int, error) {
	if err := t.check(ctx, true); err != nil {
		return 0, err
	}
	var n int64
	err := t.q.QueryRow(ctx, `INSERT INTO build_counters AS c (account, region, kind, name, version, next)
		VALUES ($1, $2, $3, $4, $5, 2)
		ON CONFLICT (account, region, kind, name, version) DO UPDATE SET next = c.next + 1
		RETURNING next - 1`, account, region, kind, name, version).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: next build: %w", err)
	}
	return int(n), nil
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
	if err := t.check(ctx, false); err != nil {
		return store.Token{}, err
	}
	tok := store.Token{Account: account, Operation: operation, Token: token}
	var created int64
	err := t.q.QueryRow(ctx, `SELECT request_hash, response, created FROM tokens
		WHERE account = $1 AND operation = $2 AND token = $3 AND created >= $4`,
		account, operation, token, t.cutoff()).Scan(&tok.RequestHash, &tok.Response, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Token{}, fmt.Errorf("%w: token %s/%s/%s", store.ErrNotFound, account, operation, token)
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("postgres: token: %w", err)
	}
	if tok.Response == nil {
		tok.Response = []byte{}
	}
	tok.Created = time.Unix(0, created).UTC()
	return tok, nil
}

// PutToken remembers a request (zero Created means now); ErrExists when the
// same token is remembered and not expired, an expired one is replaced.
func (t *tx) PutToken(ctx context.Context, tok store.Token) error {
	if err := t.check(ctx, true); err != nil {
		return err
	}
	if tok.Created.IsZero() {
		tok.Created = t.now()
	}
	resp := tok.Response
	if resp == nil {
		resp = []byte{}
	}
	tag, err := t.q.Exec(ctx, `INSERT INTO tokens (account, operation, token, request_hash, response, created)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account, operation, token) DO UPDATE SET
			request_hash = excluded.request_hash, response = excluded.response, created = excluded.created
		WHERE tokens.created < $7`,
		tok.Account, tok.Operation, tok.Token, tok.RequestHash, resp, tok.Created.UnixNano(), t.cutoff())
	if err != nil {
		return fmt.Errorf("postgres: put token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: token %s/%s/%s", store.ErrExists, tok.Account, tok.Operation, tok.Token)
	}
	return nil
}
