package service

import (
	"context"
	"errors"
	"testing"

	"github.com/kiln-build/kiln/internal/store"
)

// TestPipelineTickCompareAndSet: a tick is written only over the record
// it was read as, so of two nodes that read the same due tick one claims
// it and the other's write is refused as raced, on any store isolation.
func TestPipelineTickCompareAndSet(t *testing.T) {
	t.Parallel()
	clock := &runClock{}
	s, _ := newRunTest(t, clock)
	ctx := context.Background()
	pipeline := store.Resource{ARN: "arn:aws:imagebuilder:us-east-1:111122223333:image-pipeline/race", Account: testAccount, Region: "us-east-1"}
	read := func() pipelineTick {
		var tick pipelineTick
		err := s.view(ctx, func(tx store.Tx) error {
			var err error
			tick, err = getPipelineTick(ctx, tx, pipeline.ARN)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return tick
	}
	write := func(tick pipelineTick) error {
		return s.update(ctx, func(tx store.Tx) error { return putPipelineTick(ctx, tx, pipeline, tick, clock.Now()) })
	}
	// Both nodes see no tick yet; the first to insert wins.
	a, b := read(), read()
	if err := write(a); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := write(b); !errors.Is(err, errTickRaced) {
		t.Fatalf("second claim of a new tick = %v, want raced", err)
	}
	// Both read the stored tick; again one write wins.
	a, b = read(), read()
	a.Good = &builtImage{Image: "a"}
	b.Good = &builtImage{Image: "b"}
	if err := write(a); err != nil {
		t.Fatalf("claim of a stored tick: %v", err)
	}
	if err := write(b); !errors.Is(err, errTickRaced) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale claim = %v, want raced (a store conflict)", err)
	}
	if got := read(); got.Good == nil || got.Good.Image != "a" {
		t.Errorf("stored tick %+v, want the winner's", got.Good)
	}
}
