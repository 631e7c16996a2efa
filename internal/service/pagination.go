package service

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// defaultMaxResults is the page size when a List call gives none; the
// service's maximum (RestrictedInteger allows 1–25).
const defaultMaxResults = 25

// cursor is what a nextToken carries: the operation and a hash of the
// request's other parameters (so a token cannot be replayed against a
// different query) and the ARN of the last row already returned.
type cursor struct {
	Op    string `json:"o"`
	Query string `json:"q"`
	After string `json:"a"`
}

// encodeToken signs c with the service's token key. Tokens are opaque to
// clients; the HMAC lets the service reject any it did not issue.
func (s *Service) encodeToken(c cursor) string {
	payload, _ := json.Marshal(c)
	mac := hmac.New(sha256.New, s.TokenKey)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." +
		base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
}

func (s *Service) decodeToken(token, op, query string) (string, error) {
	bad := awsapi.Errorf(awsapi.ErrCodeInvalidPaginationTokenException, "The pagination token '%s' is not valid for %s.", token, op)
	body, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", bad
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(body)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return "", bad
	}
	mac := hmac.New(sha256.New, s.TokenKey)
	mac.Write(payload)
	if !hmac.Equal(got, mac.Sum(nil)[:16]) {
		return "", bad
	}
	var c cursor
	if json.Unmarshal(payload, &c) != nil || c.Op != op || c.Query != query {
		return "", bad
	}
	return c.After, nil
}

// listPage is one List call's paging inputs.
type listPage struct {
	op         string
	params     any // the request without nextToken/maxResults, for the token's query hash
	maxResults *int32
	nextToken  string
	query      store.Query
	// group, when set, folds consecutive rows with the same key into one
	// item (builds of one version, versions of one name); the item is
	// represented by the group's last row, which is the latest.
	group func(store.Resource) string
}

// page runs a keyset-paginated List over the store and returns the rows to
// render (one per group when grouping) and the next token ("" at the end).
func (s *Service) page(ctx context.Context, tx store.Tx, p listPage) ([]store.Resource, string, error) {
	limit := defaultMaxResults
	if p.maxResults != nil {
		limit = int(*p.maxResults)
	}
	qhash, err := requestHash(p.params)
	if err != nil {
		return nil, "", err
	}
	q := p.query
	if p.nextToken != "" {
		after, err := s.decodeToken(p.nextToken, p.op, qhash)
		if err != nil {
			return nil, "", err
		}
		q.After = after
	}
	next := func(last store.Resource) string {
		return s.encodeToken(cursor{Op: p.op, Query: qhash, After: last.ARN})
	}

	if p.group == nil {
		q.Limit = limit + 1
		rows, err := tx.List(ctx, q)
		if err != nil {
			return nil, "", err
		}
		if len(rows) > limit {
			return rows[:limit], next(rows[limit-1]), nil
		}
		return rows, "", nil
	}

	// Grouped: read in batches until limit groups are complete; a group is
	// complete once a row of the next group (or the end) is seen. Most
	// groups hold one row (one build per version), so the first batch is
	// sized to the page and later ones grow.
	batch := limit + 1
	out := make([]store.Resource, 0, limit)
	var cur *store.Resource
	curKey := ""
	for {
		q.Limit = batch
		rows, err := tx.List(ctx, q)
		if err != nil {
			return nil, "", err
		}
		for i := range rows {
			key := p.group(rows[i])
			if cur != nil && key != curKey {
				out = append(out, *cur)
				if len(out) == limit {
					return out, next(*cur), nil
				}
			}
			cur, curKey = &rows[i], key
		}
		if len(rows) < batch {
			break
		}
		q.After = rows[len(rows)-1].ARN
		batch = min(batch*2, 512)
	}
	if cur != nil {
		out = append(out, *cur)
	}
	return out, "", nil
}

// listRows reads one page of p in a read transaction and renders each row
// as a List entry. The entries are never nil, so that an empty page is
// `[]` on the wire, as the service sends it.
func listRows[T any](ctx context.Context, s *Service, p listPage, render func(store.Resource) (T, error)) ([]T, string, error) {
	var items []T
	var next string
	err := s.view(ctx, func(tx store.Tx) error {
		items = []T{}
		rows, token, err := s.page(ctx, tx, p)
		if err != nil {
			return err
		}
		for _, r := range rows {
			item, err := render(r)
			if err != nil {
				return err
			}
			items = append(items, item)
		}
		next = token
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return items, next, nil
}
