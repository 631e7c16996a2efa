package store

import (
	"context"
	"sync"
)

// Notifier lets idle workers on every node wake when work appears instead of polling.
type Notifier interface {
	// Notify wakes the subscribers of channel on every node sharing the store.
	Notify(ctx context.Context, channel string) error
	// Subscribe returns a channel that receives (coalesced) wake-ups; stop ends it.
	Subscribe(channel string) (wake <-chan struct{}, stop func())
}

// Wakeups is the in-process half of a Notifier: the subscribers of each
// channel, each with a one-slot buffer so that wake-ups coalesce and a
// slow subscriber never blocks the one who wakes it. A wake-up says only
// "look again", so losing the second of two unread ones loses nothing.
// The SQLite store notifies through it alone; the PostgreSQL store feeds it
// from its LISTEN connection. The zero value is ready to use.
type Wakeups struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// Subscribe adds a subscriber to channel; stop removes it (and may be
// called more than once). The wake channel is never closed, so a select on
// it stays valid after stop.
func (w *Wakeups) Subscribe(channel string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.subs == nil {
		w.subs = map[string]map[chan struct{}]struct{}{}
	}
	if w.subs[channel] == nil {
		w.subs[channel] = map[chan struct{}]struct{}{}
	}
	w.subs[channel][ch] = struct{}{}
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.subs[channel], ch)
		if len(w.subs[channel]) == 0 {
			delete(w.subs, channel)
		}
	}
}

// Wake wakes every subscriber of channel.
func (w *Wakeups) Wake(channel string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.subs[channel] {
		select {
		case ch <- struct{}{}:
		default: // one is pending already
		}
	}
}

// WakeAll wakes every subscriber of every channel, for when wake-ups may
// have been missed (a lost database connection).
func (w *Wakeups) WakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, subs := range w.subs {
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// Channels returns the channels that have subscribers.
func (w *Wakeups) Channels() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]string, 0, len(w.subs))
	for c := range w.subs {
		out = append(out, c)
	}
	return out
}
