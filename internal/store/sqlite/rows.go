package sqlite

import (
	"sync"

	"github.com/kiln-build/kiln/internal/store"
)

// rowCacheBytes bounds the row cache's memory (its documents and a
// fixed overhead per row): 128 MiB holds some 150,000 components. Past
// it, each new row evicts arbitrary others (Go's map order), so a store
// larger than the cache keeps a random part of its rows cached instead of
// thrashing, and never more memory than this.
const rowCacheBytes = 128 << 20

// rowOverhead is what a cached row costs besides its Doc: the map entry,
// the Resource, its strings.
const rowOverhead = 400

// rowCache holds resources List has read, each with the revision of the
// row it was read from.
//
// Why: reading a whole row through modernc's driver (fourteen columns,
// each a locked cgo-free call, the tags and grants aggregates, the Doc
// copied out) costs several times what walking the index does, and a
// List page mostly returns rows it returned before.
//
// Why it never serves a stale row: every write of a row gives it a new
// revision, taken from a counter stored in the database (the revision
// table) that only grows, even across deletes and restarts, so an (ARN,
// revision) pair names one content for good. List reads each row's
// revision from the index inside its own read transaction and takes the
// cached copy only when the revisions are equal; which rows a page holds
// and in which version is always decided by the database, never by the
// cache. The cache therefore needs no invalidation, and stays correct
// when other processes write the same database.
type rowCache struct {
	mu    sync.Mutex
	m     map[string]cachedRow
	bytes int // sum of rowSize over m
	limit int // bytes allowed; 0 means rowCacheBytes
}

func rowSize(r store.Resource) int { return rowOverhead + len(r.Doc) + 2*len(r.ARN) + len(r.Policy) }

type cachedRow struct {
	rev int64
	r   store.Resource
}

// lookup fills out[i] for every ref the cache holds at its revision and
// returns the indexes of the others.
func (c *rowCache) lookup(refs []rowRef, out []store.Resource) (miss []int) {
	c.mu.Lock()
	for i, ref := range refs {
		if e, ok := c.m[ref.arn]; ok && e.rev == ref.rev {
			out[i] = e.r
		} else {
			miss = append(miss, i)
		}
	}
	c.mu.Unlock()
	// Callers own what List returns; the cached copies stay untouched.
	for i := range out {
		if out[i].ARN != "" {
			out[i] = cloneSharingDoc(out[i])
		}
	}
	return miss
}

// cloneSharingDoc is clone without copying the Doc: callers may replace a
// Resource's Doc but never write into it (store.Resource says so), and the
// cached Doc's capacity is its length, so even an append reallocates.
func cloneSharingDoc(r store.Resource) store.Resource {
	doc := r.Doc
	r.Doc = nil
	r = clone(r)
	r.Doc = doc
	return r
}

// put remembers r as read from a row at revision rev.
func (c *rowCache) put(rev int64, r store.Resource) {
	r = clone(r)
	r.Doc = r.Doc[:len(r.Doc):len(r.Doc)]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedRow{}
	}
	if e, ok := c.m[r.ARN]; ok {
		if e.rev > rev {
			return // a newer revision is already there
		}
		c.bytes -= rowSize(e.r)
		delete(c.m, r.ARN)
	}
	limit := c.limit
	if limit == 0 {
		limit = rowCacheBytes
	}
	size := rowSize(r)
	if size > limit/64 {
		return // a huge document is not worth the room
	}
	for arn, e := range c.m {
		if c.bytes+size <= limit {
			break
		}
		c.bytes -= rowSize(e.r)
		delete(c.m, arn)
	}
	c.m[r.ARN] = cachedRow{rev: rev, r: r}
	c.bytes += size
}
