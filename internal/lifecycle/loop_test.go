package lifecycle

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when the test advances it; After registrations
// are announced on waiting so the test knows the loop is asleep.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []fakeTimer
	waiting chan struct{}
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	c.mu.Unlock()
	c.waiting <- struct{}{}
	return ch
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.at.After(c.now) {
			tm.ch <- c.now
		} else {
			kept = append(kept, tm)
		}
	}
	c.timers = kept
}

// fakeService is due what the test says; firing a policy moves it one
// interval on, and the first firing of "flaky" fails.
type fakeService struct {
	mu    sync.Mutex
	clock *fakeClock
	due   map[string]time.Time
	fired chan string
	flaky bool
}

func (s *fakeService) LifecycleDue(ctx context.Context, interval time.Duration) (map[string]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]time.Time{}
	for k, v := range s.due {
		out[k] = v
	}
	return out, nil
}

func (s *fakeService) FireLifecycle(ctx context.Context, key string, interval time.Duration) error {
	s.mu.Lock()
	if key == "flaky" && !s.flaky {
		s.flaky = true
		s.mu.Unlock()
		s.fired <- key + " failed"
		return errors.New("store unavailable")
	}
	s.due[key] = s.clock.Now().Add(interval)
	s.mu.Unlock()
	s.fired <- key
	return nil
}

// TestLoop: what is due fires once, in due order; what is not waits for
// the clock; a failed firing is retried.
func TestLoop(t *testing.T) {
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start, waiting: make(chan struct{})}
	svc := &fakeService{clock: clock, fired: make(chan string), due: map[string]time.Time{
		"old":   start.Add(-2 * time.Hour),
		"late":  start.Add(-time.Hour),
		"next":  start.Add(30 * time.Minute),
		"flaky": start.Add(10 * time.Minute),
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	l := &Loop{Service: svc, Interval: 24 * time.Hour, Clock: clock, Refresh: time.Hour}
	go func() { defer close(done); l.Run(ctx) }()
	defer func() { cancel(); <-done }() // the loop is asleep in After: each expect waited for it

	// expect waits for the loop to fire want (in any order when items
	// are due at the same time) and go back to sleep.
	expect := func(want ...string) {
		t.Helper()
		var got []string
		for range want {
			got = append(got, <-svc.fired)
		}
		<-clock.waiting // asleep again, nothing else fired
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("fired %q, want %q", got, want)
		}
	}
	expect("old", "late")
	clock.advance(10 * time.Minute)
	expect("flaky failed")
	clock.advance(retry)
	expect("flaky")
	clock.advance(20*time.Minute - retry)
	expect("next")
	clock.advance(24 * time.Hour)
	expect("old", "late", "next", "flaky")
}
