package scheduler

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when the test advances it. Each
// After call is announced on asleep, so a test knows the loop is waiting.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
	asleep  chan time.Duration
}

type waiter struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, asleep: make(chan time.Duration, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	c.mu.Unlock()
	c.asleep <- d
	return ch
}

// Advance moves the clock and reports whether that woke the loop.
func (c *fakeClock) Advance(d time.Duration) (woke bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.c <- c.now
		woke = true
	}
	c.waiters = kept
	return woke
}

// fakePipelines schedules pipelines at fixed periods and records firings.
type fakePipelines struct {
	clock *fakeClock
	mu    sync.Mutex
	due   map[string]time.Time
	every map[string]time.Duration // 0: fires once
	fail  map[string]bool
	fired []string
	reads int // calls of Scheduled
}

func (f *fakePipelines) Scheduled(context.Context) ([]Due, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	var out []Due
	for p, at := range f.due {
		out = append(out, Due{p, at})
	}
	return out, nil
}

func (f *fakePipelines) Fire(_ context.Context, p string) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail[p] {
		delete(f.fail, p)
		return time.Time{}, errors.New("store unavailable")
	}
	now := f.clock.Now()
	at, ok := f.due[p]
	if !ok {
		return time.Time{}, nil
	}
	if at.After(now) {
		return at, nil // not due: the claim fails
	}
	f.fired = append(f.fired, p)
	if f.every[p] == 0 {
		delete(f.due, p)
		return time.Time{}, nil
	}
	// Like the pipeline service, the claim moves the due time past now:
	// ticks missed meanwhile fire as this one.
	for !at.After(now) {
		at = at.Add(f.every[p])
	}
	f.due[p] = at
	return at, nil
}

func (f *fakePipelines) takeFired() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.fired
	f.fired = nil
	slices.Sort(out)
	return out
}

func (f *fakePipelines) set(p string, at time.Time, every time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.due[p], f.every[p] = at, every
}

func TestSchedulerFiresWhenDue(t *testing.T) {
	t0 := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0)
	f := &fakePipelines{clock: clock, due: map[string]time.Time{}, every: map[string]time.Duration{}, fail: map[string]bool{}}
	f.set("minutely", t0.Add(time.Minute), time.Minute)
	f.set("once", t0.Add(90*time.Second), 0)
	f.set("overdue", t0.Add(-time.Hour), time.Hour) // came due while kiln was down
	s := &Scheduler{Pipelines: f, Clock: clock, Refresh: time.Hour, Retry: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()

	steps := []struct {
		name    string
		advance time.Duration
		do      func() (woke bool)
		want    []string
	}{
		{"start-up fires the overdue tick once", 0, nil, []string{"overdue"}},
		{"nothing is due before its time", 59 * time.Second, nil, nil},
		{"due", time.Second, nil, []string{"minutely"}},
		{"one-shot", 30 * time.Second, nil, []string{"once"}},
		{"next minute", 30 * time.Second, nil, []string{"minutely"}},
		{"a new pipeline is noticed on Wake", 0, func() bool {
			f.set("new", t0.Add(2*time.Minute+10*time.Second), 0)
			s.Wake()
			return true
		}, nil},
		{"and fires", 10 * time.Second, nil, []string{"new"}},
		{"a failed firing", 0, func() bool {
			f.mu.Lock()
			f.fail["minutely"] = true
			f.mu.Unlock()
			return false
		}, nil},
		{"is reported", 50 * time.Second, nil, nil},
		{"and retried", 5 * time.Second, nil, []string{"minutely"}},
		{"a pipeline late by a whole period fires once", 2 * time.Minute, nil, []string{"minutely"}},
	}
	<-clock.asleep // the loop read the schedules and is waiting
	for _, st := range steps {
		woke := st.do != nil && st.do()
		if clock.Advance(st.advance) || woke {
			<-clock.asleep
		}
		if got := f.takeFired(); !slices.Equal(got, st.want) {
			t.Errorf("%s: fired %v, want %v", st.name, got, st.want)
		}
	}
	cancel()
	<-done
}

func TestSchedulerRefreshesFromTheStore(t *testing.T) {
	t0 := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0)
	f := &fakePipelines{clock: clock, due: map[string]time.Time{}, every: map[string]time.Duration{}, fail: map[string]bool{}}
	s := &Scheduler{Pipelines: f, Clock: clock, Refresh: 30 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	if d := <-clock.asleep; d != 30*time.Second {
		t.Fatalf("idle loop sleeps %v, want the refresh interval", d)
	}
	// Another process created a pipeline due in 40 s; no Wake here.
	f.set("elsewhere", t0.Add(40*time.Second), 0)
	clock.Advance(30 * time.Second)
	if d := <-clock.asleep; d != 10*time.Second {
		t.Fatalf("after the refresh the loop sleeps %v, want 10s", d)
	}
	clock.Advance(10 * time.Second)
	<-clock.asleep
	if got := f.takeFired(); !slices.Equal(got, []string{"elsewhere"}) {
		t.Errorf("fired %v", got)
	}
}

// A refresh that comes due just before a firing waits until the firing is
// done: reading every pipeline takes a while, and the firing must not.
func TestSchedulerRefreshWaitsForAFiring(t *testing.T) {
	t0 := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	clock := newFakeClock(t0)
	f := &fakePipelines{clock: clock, due: map[string]time.Time{}, every: map[string]time.Duration{}, fail: map[string]bool{}}
	f.set("minutely", t0.Add(30*time.Second+500*time.Millisecond), time.Minute)
	s := &Scheduler{Pipelines: f, Clock: clock, Refresh: 30 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	reads := func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.reads }

	if d := <-clock.asleep; d != 30*time.Second || reads() != 1 {
		t.Fatalf("after the first refresh the loop sleeps %v (%d reads), want 30s until the next refresh", d, reads())
	}
	clock.Advance(30 * time.Second) // the refresh is due, the firing 0.5 s later
	if d := <-clock.asleep; d != 500*time.Millisecond || reads() != 1 {
		t.Fatalf("with a firing 0.5 s away the loop sleeps %v after %d reads, want 500ms and no refresh yet", d, reads())
	}
	clock.Advance(500 * time.Millisecond)
	if d := <-clock.asleep; d != 30*time.Second {
		t.Fatalf("after firing the loop sleeps %v, want the refresh interval", d)
	}
	if got := f.takeFired(); !slices.Equal(got, []string{"minutely"}) || reads() != 2 {
		t.Errorf("fired %v with %d reads; want minutely fired, then the held-back refresh", got, reads())
	}
}
