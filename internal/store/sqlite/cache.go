package sqlite

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/kiln-build/kiln/internal/store"
)

// maxCached bounds the read cache; when it is full it starts over, which
// costs a round of misses and keeps memory flat without LRU bookkeeping.
const maxCached = 1 << 16

// readCache serves Store.Get from memory. SQLite reads are cheap but not
// free (a statement, a B-tree walk, a copy of the row, and modernc's
// mutexes on every call), and Get by ARN is the API's hottest path.
//
// Coherence: the writer, after each COMMIT, bumps gen and drops every ARN
// the batch wrote, under mu. A reader remembers gen before it reads the
// database and caches what it read only if gen has not moved, also under
// mu. So a value read before a commit can never be cached after that
// commit's invalidation: either the reader's check runs first (and the
// writer then drops the entry) or it sees the new gen and caches nothing.
type readCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]store.Resource
}

func (c *readCache) get(arn string) (store.Resource, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.entries[arn]
	return r, c.gen, ok
}

func (c *readCache) put(gen uint64, r store.Resource) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.entries == nil || len(c.entries) >= maxCached {
		c.entries = map[string]store.Resource{}
	}
	c.entries[r.ARN] = r
}

// invalidate is called by the writer after a commit that wrote arns.
func (c *readCache) invalidate(arns []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, a := range arns {
		delete(c.entries, a)
	}
}

// clone copies r's maps and slices so callers may change what they get
// without touching the cached value.
func clone(r store.Resource) store.Resource {
	r.Tags = maps.Clone(r.Tags)
	r.SharedWith = slices.Clone(r.SharedWith)
	r.Doc = slices.Clone(r.Doc)
	return r
}

// Get reads one resource by ARN outside any transaction, from the read
// cache when it holds it.
func (s *Store) Get(ctx context.Context, arn string) (store.Resource, error) {
	if r, _, ok := s.cache.get(arn); ok {
		return clone(r), nil
	}
	_, gen, _ := s.cache.get("")
	var r store.Resource
	err := s.View(ctx, func(t store.Tx) error {
		var err error
		r, err = t.Get(ctx, arn)
		return err
	})
	if err != nil {
		return r, err
	}
	s.cache.put(gen, clone(r))
	return r, nil
}
