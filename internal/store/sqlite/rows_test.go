package sqlite

import (
	"fmt"
	"testing"

	"github.com/kiln-build/kiln/internal/store"
)

// TestRowCacheBound checks that the row cache stays within its byte
// limit however many rows pass through it, keeps serving the rows it
// holds at their revision only, and never goes back to an older revision.
func TestRowCacheBound(t *testing.T) {
	limit := 64 * (rowOverhead + 200)
	c := &rowCache{limit: limit}
	for i := range 1000 {
		r := testResource(fmt.Sprintf("bound-%04d", i))
		c.put(int64(i+1), r)
		if c.bytes > limit {
			t.Fatalf("after %d rows the cache holds %d bytes, over its %d", i+1, c.bytes, limit)
		}
	}
	if len(c.m) == 0 || len(c.m) >= 1000 {
		t.Fatalf("cache holds %d rows", len(c.m))
	}
	for arn, e := range c.m {
		got := make([]store.Resource, 1)
		if miss := c.lookup([]rowRef{{arn: arn, rev: e.rev}}, got); len(miss) != 0 || got[0].ARN != arn {
			t.Errorf("%s at its revision: miss", arn)
		}
		if miss := c.lookup([]rowRef{{arn: arn, rev: e.rev + 1}}, make([]store.Resource, 1)); len(miss) != 1 {
			t.Errorf("%s at another revision: served", arn)
		}
		c.put(e.rev-1, e.r) // older: ignored
		if c.m[arn].rev != e.rev {
			t.Errorf("%s went back to revision %d", arn, c.m[arn].rev)
		}
		break
	}
	total := 0
	for _, e := range c.m {
		total += rowSize(e.r)
	}
	if total != c.bytes {
		t.Errorf("bytes = %d; the rows add up to %d", c.bytes, total)
	}
}

// TestReadCacheBound is TestRowCacheBound for Get's cache: within its
// byte limit however many rows pass, and its byte count right after
// invalidations.
func TestReadCacheBound(t *testing.T) {
	limit := 64 * (rowOverhead + 200)
	c := &readCache{limit: limit}
	var arns []string
	for i := range 1000 {
		r := testResource(fmt.Sprintf("bound-%04d", i))
		_, gen, _ := c.get("")
		c.put(gen, r)
		arns = append(arns, r.ARN)
		if c.bytes > limit {
			t.Fatalf("after %d rows the cache holds %d bytes, over its %d", i+1, c.bytes, limit)
		}
	}
	if len(c.entries) == 0 || len(c.entries) >= 1000 {
		t.Fatalf("cache holds %d rows", len(c.entries))
	}
	c.invalidate(arns[:500], nil)
	total := 0
	for _, e := range c.entries {
		total += rowSize(e)
	}
	if total != c.bytes {
		t.Errorf("bytes = %d; the rows add up to %d", c.bytes, total)
	}
}
