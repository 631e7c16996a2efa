package console

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// SignOuts shares sign-outs between the nodes that accept one session
// key. A session cookie is stateless, so without this a copy of a
// signed-out cookie would stay good on every other node until it expired.
type SignOuts interface {
	// SignOut records that session id ended; it need be remembered only
	// until the session would have expired.
	SignOut(ctx context.Context, id string, until time.Time) error
	// SignedOut reports whether session id was signed out.
	SignedOut(ctx context.Context, id string) (bool, error)
}

// signOutKind is the store kind of a sign-out's record; no API operation
// lists it.
const signOutKind = "kiln/console-signout"

// StoreSignOuts keeps sign-outs in the store the nodes share, one small
// record per signed-out session, removed once the session would have
// expired anyway.
type StoreSignOuts struct {
	Store  store.Store
	Region string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

func signOutKey(id string) string { return "kiln:console-signout:" + id }

// SignOut implements SignOuts. It also removes a bounded number of
// records whose sessions have expired, so they never pile up.
func (s StoreSignOuts) SignOut(ctx context.Context, id string, until time.Time) error {
	now := s.now()
	doc, err := json.Marshal(struct {
		Until time.Time `json:"until"`
	}{until})
	if err != nil {
		return err
	}
	return s.Store.Update(ctx, func(tx store.Tx) error {
		old, err := tx.List(ctx, store.Query{Kind: signOutKind, Region: s.Region, Limit: 100})
		if err != nil {
			return err
		}
		for _, r := range old {
			var rec struct {
				Until time.Time `json:"until"`
			}
			if json.Unmarshal(r.Doc, &rec) == nil && now.After(rec.Until) {
				if err := tx.Delete(ctx, r.ARN); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
		}
		err = tx.Insert(ctx, store.Resource{
			ARN: signOutKey(id), Kind: signOutKind, Account: "aws", Region: s.Region, Name: id,
			Doc: doc, Created: now, Updated: now,
		})
		if errors.Is(err, store.ErrExists) {
			return nil
		}
		return err
	})
}

// SignedOut implements SignOuts.
func (s StoreSignOuts) SignedOut(ctx context.Context, id string) (bool, error) {
	_, err := s.Store.Get(ctx, signOutKey(id))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

func (s StoreSignOuts) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
