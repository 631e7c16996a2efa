package testclock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOffset(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "clock")
	c := New(path)
	if got := c.Offset(); got != 0 {
		t.Errorf("Offset without a file = %v", got)
	}
	for _, off := range []time.Duration{time.Hour, -time.Minute, 0} {
		if err := c.Set(off); err != nil {
			t.Fatal(err)
		}
		if got := c.Offset(); got != off {
			t.Errorf("Offset after Set(%v) = %v", off, got)
		}
	}
	if err := os.WriteFile(path, []byte("soon"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.Offset(); got != 0 {
		t.Errorf("Offset of an unreadable file = %v", got)
	}
	if got := c.Env(); got != EnvVar+"="+path {
		t.Errorf("Env = %q", got)
	}
}

// TestAfterFollowsOffset shows that moving the clock forward delivers a
// pending After that wall time alone would deliver only in an hour.
func TestAfterFollowsOffset(t *testing.T) {
	t.Parallel()
	c := New(filepath.Join(t.TempDir(), "clock"))
	start := c.Now()
	ch := c.After(time.Hour)
	if err := c.SetNow(start.Add(time.Hour + time.Second)); err != nil {
		t.Fatal(err)
	}
	if at := <-ch; at.Before(start.Add(time.Hour)) {
		t.Errorf("After(1h) delivered at %v, started %v", at, start)
	}
}

// FuzzOffset: whatever the file holds, Offset does not panic, and what
// Set writes reads back unchanged.
func FuzzOffset(f *testing.F) {
	f.Add([]byte("1000000000\n"), int64(5))
	f.Add([]byte("-3"), int64(-1))
	f.Add([]byte("9223372036854775808"), int64(0))
	f.Fuzz(func(t *testing.T, content []byte, n int64) {
		path := filepath.Join(t.TempDir(), "clock")
		if err := os.WriteFile(path, content, 0o644); err != nil {
			t.Fatal(err)
		}
		c := New(path)
		_ = c.Offset()
		if err := c.Set(time.Duration(n)); err != nil {
			t.Fatal(err)
		}
		if got := c.Offset(); got != time.Duration(n) {
			t.Errorf("Set(%d) then Offset = %d", n, got)
		}
	})
}
