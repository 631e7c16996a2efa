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
	// through this process call Wake and are noticed at once.
	DefaultRefresh = 30 * time.Second
	// DefaultRetry is how soon a pipeline whose firing failed (store
	// unavailable, say) is tried again.
	DefaultRetry = 5 * time.Second
	// DefaultParallel is how many pipelines due at the same moment are
	// fired at once; the store commits their transactions together.
	DefaultParallel = 8
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
func (s *Scheduler) Run(ctx context.Context) {
	s.init()
	var q dueQueue
	var nextRefresh time.Time
	for ctx.Err() == nil {
		now := s.Clock.Now()
		if !now.Before(nextRefresh) {
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
		}
		var due []string
		for q.Len() > 0 && !q.items[0].At.After(now) {
			due = append(due, heap.Pop(&q).(Due).Pipeline)
		}
		for _, d := range s.fire(ctx, due, now) {
			heap.Push(&q, d)
		}
		if len(due) > 0 {
			continue // firing took time; look at the clock again
		}
		wait := nextRefresh.Sub(now)
		if q.Len() > 0 {
			if d := q.items[0].At.Sub(now); d < wait {
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
