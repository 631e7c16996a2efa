package sqlite

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/kiln-build/kiln/internal/store"
)

// readCacheBytes bounds the read cache's memory, counted as the row
// cache counts it (rowSize). Past it each new entry evicts arbitrary
// others, so a store larger than the cache keeps a random part of it
// cached rather than starting over and missing on everything.
const readCacheBytes = 64 << 20

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
	bytes   int // sum of rowSize over entries
	limit   int // bytes allowed; 0 means readCacheBytes
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
	c.putLocked(r)
}

func (c *readCache) putLocked(r store.Resource) {
	if c.entries == nil {
		c.entries = map[string]store.Resource{}
	}
	if old, ok := c.entries[r.ARN]; ok {
		c.bytes -= rowSize(old)
		delete(c.entries, r.ARN)
	}
	limit := c.limit
	if limit == 0 {
		limit = readCacheBytes
	}
	size := rowSize(r)
	if size > limit/64 {
		return
	}
	for arn, e := range c.entries {
		if c.bytes+size <= limit {
			break
		}
		c.bytes -= rowSize(e)
		delete(c.entries, arn)
	}
	c.entries[r.ARN] = r
	c.bytes += size
}

// batchWrites is what one group commit wrote, for the read cache.
type batchWrites struct {
	// touched is every ARN written, by Updates rolled back too (dropping
	// a few extra entries is harmless).
	touched []string
	// inserted is every row inserted by an Update that was kept, as Get
	// would read it back, with its revision.
	inserted []cachedRow
}

// invalidate is called by the writer after a commit that wrote arns, and
// inserted the rows fresh (with a failed commit, arns alone). It drops
// every ARN written and then caches the inserted rows whose ARN nothing
// else in the batch wrote: a resource is most often read right after it
// is created (an SDK's create-then-describe, Terraform's read after
// apply), and this spares that first read its trip to the database.
func (c *readCache) invalidate(arns []string, inserted []cachedRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, a := range arns {
		if e, ok := c.entries[a]; ok {
			c.bytes -= rowSize(e)
			delete(c.entries, a)
		}
	}
	if len(inserted) == 0 {
		return
	}
	writes := make(map[string]int, len(arns))
	for _, a := range arns {
		writes[a]++
	}
	for _, e := range inserted {
		if writes[e.r.ARN] == 1 { // its Insert alone
			c.putLocked(e.r)
		}
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
