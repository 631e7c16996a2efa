package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// fakeClock advances only when told, so the lines are the same on any
// machine.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestLine(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		total   int64
		done    int64
		elapsed time.Duration
		final   bool
		want    string
	}{
		{"half way", 4 << 20, 2 << 20, 2 * time.Second, false, "layer  2.0 MiB / 4.0 MiB  50%  1.0 MiB/s  ETA 2s"},
		{"unknown total", 0, 1536, time.Second, false, "layer  1.5 KiB  1.5 KiB/s  ETA --"},
		{"nothing yet", 100, 0, 0, false, "layer  0 B / 100 B   0%  0 B/s  ETA --"},
		{"final", 3 << 20, 3 << 20, 90 * time.Second, true, "layer  3.0 MiB / 3.0 MiB  34.1 KiB/s  in 1m30s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New(&bytes.Buffer{}, false, "layer", tc.total)
			b.start, b.done = start, tc.done
			if got := b.Line(start.Add(tc.elapsed), tc.final); got != tc.want {
				t.Errorf("Line = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLogLinesEveryInterval(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	b := New(&out, false, "blob", 100)
	b.Now = clock.now
	for i := 0; i < 10; i++ {
		b.Add(10)
		clock.t = clock.t.Add(time.Second)
	}
	b.Finish()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// Adds at 0..9 s: lines at 5 s and at the end.
	if len(lines) != 2 || strings.Contains(out.String(), "\r") {
		t.Fatalf("log output = %q, want 2 plain lines", out.String())
	}
	if !strings.Contains(lines[1], "100 B / 100 B") || !strings.Contains(lines[1], "in 10s") {
		t.Errorf("final line = %q", lines[1])
	}
}

func TestTerminalRedraws(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	b := New(&out, true, "blob", 100)
	b.Now = clock.now
	for i := 0; i < 3; i++ {
		b.Add(10)
		clock.t = clock.t.Add(time.Second)
	}
	b.Finish()
	s := out.String()
	if strings.Count(s, "\r") != 3 || strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") {
		t.Errorf("terminal output = %q, want 3 redraws and one newline at the end", s)
	}
}

func TestSizeAndDuration(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {5 << 30, "5.0 GiB"}, {3 << 40, "3.0 TiB"}} {
		if got := Size(tc.n); got != tc.want {
			t.Errorf("Size(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{1400 * time.Millisecond, "1s"}, {65 * time.Second, "1m05s"}, {2*time.Hour + 3*time.Minute, "2h03m"}} {
		if got := Duration(tc.d); got != tc.want {
			t.Errorf("Duration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
