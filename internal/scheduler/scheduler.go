// Package scheduler is the loop that fires image pipelines when their
// schedules come due. It keeps no schedule state of its own: it asks the
// pipeline service when each pipeline is next due, sleeps until the
// earliest, and asks the service to fire it. The firing itself is a claim in
// the store (read the pipeline's due time and write it forward in one
// transaction), so several kiln processes sharing a store may all run a
// Scheduler and each tick still fires once, and a tick that came due while
// kiln was down fires at the next start.
//
// Time comes from a Clock, so tests drive the loop with a fake clock and
// never sleep on wall time.
package scheduler

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"time"
)

// Due says when one pipeline's schedule next comes due.
type Due struct {
	Pipeline string // image pipeline ARN
	At       time.Time
}

// Pipelines is what the scheduler needs from the pipeline service.
type Pipelines interface {
	// Scheduled returns the next due time of every pipeline whose schedule
	// runs (ENABLED, with a schedule expression). A due time may be in the
	// past: a tick nobody claimed yet.
	Scheduled(ctx context.Context) ([]Due, error)
	// Fire claims the pipeline's tick if it is due and acts on it (builds,
	// or records why not). It returns the pipeline's next due time, or the
	// zero time when its schedule no longer runs. Firing a pipeline that is
	// not due (another process claimed the tick, its schedule changed) does
	// nothing but return the next due time.
	Fire(ctx context.Context, pipeline string) (time.Time, error)
}

// Clock is the scheduler's source of time.
type Clock interface {
	Now() time.Time
	// After delivers once d has passed.
	After(d time.Duration) <-chan time.Time
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of the loop's timing.
const (
	// DefaultRefresh bounds how long a change made through another kiln
	// process (or directly in the store) takes to be noticed. Changes made
	// through this process call Wake and are noticed at once, and every
	// process runs a scheduler, so a change is missed for this long only
	// when the process that made it dies at once. A refresh reads every
	// pipeline: with 10,000 of them about 0.3 s of CPU, which every 30 s
	// was 1% of a core spent while nothing is due (bench/schedbench).
	DefaultRefresh = 2 * time.Minute
	// DefaultRetry is how soon a pipeline whose firing failed (store
	// unavailable, say) is tried again.
	DefaultRetry = 5 * time.Second
	// DefaultParallel is how many pipelines due at the same moment are
	// fired at once; the store commits their transactions together, so
	// more in flight means fewer commits (fsyncs) per tick: with 300
	// pipelines due on the minute, 8 made about 40 commits and the last
	// firing came more than half a second after the first.
	DefaultParallel = 32
	// refreshGuard is the least time kept free of refreshes before a
	// firing (see Run).
	refreshGuard = time.Second
)

// Scheduler fires due pipelines until its context ends.
type Scheduler struct {
	Pipelines Pipelines
	Clock     Clock // nil: the wall clock
	Log       *slog.Logger
	// Refresh, Retry and Parallel override the defaults.
	Refresh, Retry time.Duration
	Parallel       int

	once sync.Once
	wake chan struct{}
	// refreshTook is how long the last refresh took.
	refreshTook time.Duration
}

func (s *Scheduler) init() {
	s.once.Do(func() {
		s.wake = make(chan struct{}, 1)
		if s.Clock == nil {
			s.Clock = wallClock{}
		}
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		if s.Refresh <= 0 {
			s.Refresh = DefaultRefresh
		}
		if s.Retry <= 0 {
			s.Retry = DefaultRetry
		}
		if s.Parallel <= 0 {
			s.Parallel = DefaultParallel
		}
	})
}

// Wake makes the loop read every pipeline's due time again now, rather
// than at its next refresh: a pipeline was created, changed or enabled.
func (s *Scheduler) Wake() {
	s.init()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires due pipelines until ctx ends. A firing in progress when ctx
// ends is let finish (its transaction either committed or not; the claim
// makes a repeat at the next start impossible or harmless).
//
// Firing comes before refreshing: a refresh reads every pipeline, which
// with thousands takes a noticeable time, and a refresh that came due
// just before a firing would delay it by that long. So a refresh waits
// while a firing is due within twice the last refresh's duration (at
// least refreshGuard), and runs once that firing is done.
func (s *Scheduler) Run(ctx context.Context) {
	s.init()
	var q dueQueue
	var nextRefresh time.Time
	for ctx.Err() == nil {
		now := s.Clock.Now()
		var due []string
		for q.Len() > 0 && !q.items[0].At.After(now) {
			due = append(due, heap.Pop(&q).(Due).Pipeline)
		}
		if len(due) > 0 {
			for _, d := range s.fire(ctx, due, now) {
				heap.Push(&q, d)
			}
			continue // firing took time; look at the clock again
		}
		guard := max(refreshGuard, 2*s.refreshTook)
		if !now.Before(nextRefresh) && (q.Len() == 0 || q.items[0].At.Sub(now) > guard) {
			list, err := s.Pipelines.Scheduled(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.Log.Error("reading pipeline schedules", "err", err)
				nextRefresh = now.Add(s.Retry)
			} else {
				q = q.reset(list)
				nextRefresh = now.Add(s.Refresh)
			}
			s.refreshTook = s.Clock.Now().Sub(now)
			continue // the refresh took time, and may have found due pipelines
		}
		// Sleep until the next firing or refresh, whichever is first; a
		// refresh held back for a firing (nextRefresh passed) waits for it.
		wait := nextRefresh.Sub(now)
		if q.Len() > 0 {
			if d := q.items[0].At.Sub(now); d < wait || wait <= 0 {
				wait = d
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-s.Clock.After(wait):
		case <-s.wake:
			nextRefresh = time.Time{}
		}
	}
}

// fire fires the pipelines, at most Parallel at once, and returns their
// next due times.
func (s *Scheduler) fire(ctx context.Context, pipelines []string, now time.Time) []Due {
	out := make([]Due, len(pipelines))
	sem := make(chan struct{}, s.Parallel)
	var wg sync.WaitGroup
	for i, p := range pipelines {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			next, err := s.Pipelines.Fire(ctx, p)
			if err != nil {
				if ctx.Err() == nil {
					s.Log.Error("firing a pipeline", "pipeline", p, "err", err)
				}
				next = now.Add(s.Retry)
			} else if !next.IsZero() && !next.After(now) {
				// The service saw the tick as not due yet: its clock is
				// behind ours. Look again shortly rather than spin.
				next = now.Add(s.Retry)
			}
			out[i] = Due{Pipeline: p, At: next}
		}()
	}
	wg.Wait()
	kept := out[:0]
	for _, d := range out {
		if !d.At.IsZero() {
			kept = append(kept, d)
		}
	}
	return kept
}

// dueQueue is a min-heap of due times.
type dueQueue struct{ items []Due }

func (q dueQueue) reset(list []Due) dueQueue {
	q.items = append(q.items[:0], list...)
	heap.Init(&q)
	return q
}

func (q dueQueue) Len() int           { return len(q.items) }
func (q dueQueue) Less(i, j int) bool { return q.items[i].At.Before(q.items[j].At) }
func (q dueQueue) Swap(i, j int)      { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *dueQueue) Push(x any)        { q.items = append(q.items, x.(Due)) }
func (q *dueQueue) Pop() any {
	n := len(q.items) - 1
	d := q.items[n]
	q.items = q.items[:n]
	return d
}
