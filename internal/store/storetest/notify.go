package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// wakeWait bounds how long the Notify case waits for a wake-up that must
// come: a guard against a hang, not a latency requirement.
const wakeWait = 30 * time.Second

// testNotify checks a backend's store.Notifier: a Notify wakes every
// subscriber of its channel, wake-ups coalesce
// rather than block the notifier, and a stopped subscription gets
// nothing more.
func (s suite) testNotify(t *testing.T) {
	st := s.store(t)
	n, ok := st.(store.Notifier)
	if !ok {
		t.Skip("the backend is not a store.Notifier")
	}
	ctx := context.Background()
	a1, stopA1 := n.Subscribe("kiln_jobs")
	defer stopA1()
	a2, stopA2 := n.Subscribe("kiln_jobs")
	other, stopOther := n.Subscribe("kiln_ticks")
	defer stopOther()

	waitWake := func(name string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(wakeWait):
			t.Fatalf("%s: no wake-up", name)
		}
	}
	// A subscription may take effect asynchronously (a LISTEN on another
	// connection): notify until the first wake-up arrives.
	deadline := time.Now().Add(wakeWait)
	for woke := false; !woke; {
		if err := n.Notify(ctx, "kiln_jobs"); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		select {
		case <-a1:
			woke = true
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("subscriber 1: no wake-up")
			}
		}
	}
	waitWake("subscriber 2", a2)
	drain(a1)
	drain(a2)
	// A backend may wake a subscriber spuriously (the PostgreSQL store
	// does after it starts to LISTEN, and after a reconnect, since a
	// notification may have been missed), so a wake-up of another
	// channel's subscriber is not an error; a missing one is.

	// Many notifications without a reader must not block Notify, and
	// leave at least one wake-up.
	for range 50 {
		if err := n.Notify(ctx, "kiln_jobs"); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	waitWake("subscriber 1 after a burst", a1)

	stopA2()
	drain(a2)
	if err := n.Notify(ctx, "kiln_ticks"); err != nil {
		t.Fatal(err)
	}
	waitWake("subscriber of kiln_ticks", other)
	if err := n.Notify(ctx, "kiln_jobs"); err != nil {
		t.Fatal(err)
	}
	waitWake("subscriber 1", a1)
	select {
	case <-a2:
		t.Error("a stopped subscription was woken")
	default:
	}
}

func drain(ch <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}
