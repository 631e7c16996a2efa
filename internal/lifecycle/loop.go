// Package lifecycle runs Image Builder lifecycle policies in `kiln serve`:
// the loop that evaluates every ENABLED policy once per interval (and
// carries out state updates scheduled with updateAt), and the removal of
// what their actions delete outside the store: AMI disks and images in
// kiln's registry.
//
// The loop keeps no state of its own. It asks the service what is due,
// waits until the earliest, and asks the service to fire it; firing is a
// claim in the store (a policy's dateLastRun rewritten in the transaction
// that starts its execution), so several kiln processes sharing a store
// may all run a Loop and a policy still runs once per interval.
package lifecycle

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// Service is what the loop needs from the Image Builder service.
type Service interface {
	// LifecycleDue says when each policy (by ARN) and each pending state
	// update (by execution ID) is next due; a time may be in the past.
	LifecycleDue(ctx context.Context, interval time.Duration) (map[string]time.Time, error)
	// FireLifecycle claims and carries out one due item; one no longer
	// due does nothing.
	FireLifecycle(ctx context.Context, key string, interval time.Duration) error
}

// Clock is the loop's source of time (the wall clock, or a test clock).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DefaultRefresh bounds how long a policy created or changed (here or
// through another process) waits before the loop sees it: the loop reads
// every policy this often even when nothing is due. Policies are few and
// the read is one query.
const DefaultRefresh = time.Minute

// retry is how soon an item whose firing failed is tried again.
const retry = 30 * time.Second

// Loop evaluates lifecycle policies every Interval until its context ends.
type Loop struct {
	Service  Service
	Interval time.Duration
	Clock    Clock // nil: the wall clock
	Log      *slog.Logger
	Refresh  time.Duration // 0: DefaultRefresh
}

// Run fires due items until ctx ends; an item being fired when ctx ends
// is let finish.
func (l *Loop) Run(ctx context.Context) {
	clock := l.Clock
	if clock == nil {
		clock = wallClock{}
	}
	log := l.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	refresh := l.Refresh
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	// notBefore holds back an item whose firing failed (for retry), or
	// that was just fired (a second, so an item the service still calls
	// due cannot spin the loop).
	notBefore := map[string]time.Time{}
	for ctx.Err() == nil {
		due, err := l.Service.LifecycleDue(ctx, l.Interval)
		if err != nil && ctx.Err() == nil {
			log.Error("lifecycle: reading the policies", "err", err)
		}
		now := clock.Now()
		keys := make([]string, 0, len(due))
		for k := range due {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return due[a].Compare(due[b]) })
		next := now.Add(refresh)
		for _, k := range keys {
			at := due[k]
			if nb, ok := notBefore[k]; ok && nb.After(at) {
				at = nb
			}
			if at.After(now) {
				if at.Before(next) {
					next = at
				}
				continue
			}
			if ctx.Err() != nil {
				return
			}
			if err := l.Service.FireLifecycle(ctx, k, l.Interval); err != nil {
				if ctx.Err() == nil {
					log.Error("lifecycle: running", "item", k, "err", err)
				}
				notBefore[k] = clock.Now().Add(retry)
				if notBefore[k].Before(next) {
					next = notBefore[k]
				}
				continue
			}
			notBefore[k] = clock.Now().Add(time.Second)
			next = now // look again: firing took time, and set the next due time
		}
		if !next.After(now) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-clock.After(next.Sub(now)):
		}
	}
}
