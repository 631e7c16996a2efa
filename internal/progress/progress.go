// Package progress reports a transfer's bytes as it happens: on a
// terminal one line redrawn in place (bytes of total, rate, time left), and
// elsewhere — CI logs, pipes, files — a plain line every few seconds, since
// carriage returns turn a log into one unreadable line.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// How often a Bar writes: a terminal redraw is cheap and should look live;
// a log line costs the reader a line, so it comes every few seconds.
const (
	TerminalInterval = 100 * time.Millisecond
	LogInterval      = 5 * time.Second
)

// IsTerminal reports whether w is a character device (a terminal), the
// only place a redrawn line makes sense.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Bar is the progress of one transfer of a known size. It is safe for
// one writer goroutine (Add) and any number of readers (Done).
type Bar struct {
	w        io.Writer
	terminal bool
	label    string
	total    int64
	// Now is the clock (time.Now when nil); tests set it, so what a Bar
	// prints never depends on how fast the machine is.
	Now func() time.Time

	mu       sync.Mutex
	done     int64
	start    time.Time
	lastDraw time.Time
}

// New starts a bar for a transfer of total bytes (0 or less: unknown)
// that writes to w, redrawing in place when terminal.
func New(w io.Writer, terminal bool, label string, total int64) *Bar {
	return &Bar{w: w, terminal: terminal, label: label, total: total}
}

func (b *Bar) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Add records n more bytes and writes a line when one is due.
func (b *Bar) Add(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.start.IsZero() {
		b.start, b.lastDraw = now, now
	}
	b.done += n
	interval := LogInterval
	if b.terminal {
		interval = TerminalInterval
	}
	if now.Sub(b.lastDraw) >= interval {
		b.draw(now, false)
	}
}

// Finish writes the final line: on a terminal it ends the redrawn line.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.start.IsZero() {
		b.start = now
	}
	b.draw(now, true)
}

// Bytes returns how many bytes were recorded.
func (b *Bar) Bytes() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

func (b *Bar) draw(now time.Time, final bool) {
	b.lastDraw = now
	line := b.Line(now, final)
	if b.terminal {
		// \r back to the start, the line, then erase what a longer
		// previous line left.
		fmt.Fprintf(b.w, "\r%s\x1b[K", line)
		if final {
			fmt.Fprintln(b.w)
		}
		return
	}
	fmt.Fprintln(b.w, line)
}

// Line is the text of one report at now: label, bytes of total, rate and
// the time left (or taken, when final).
func (b *Bar) Line(now time.Time, final bool) string {
	elapsed := now.Sub(b.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(b.done) / elapsed.Seconds()
	}
	s := b.label + "  " + Size(b.done)
	if b.total > 0 {
		s += " / " + Size(b.total)
		if !final {
			s += fmt.Sprintf(" %3d%%", b.done*100/b.total)
		}
	}
	s += "  " + Size(int64(rate)) + "/s"
	switch {
	case final:
		s += "  in " + Duration(elapsed)
	case b.total > 0 && rate > 0 && b.done <= b.total:
		s += "  ETA " + Duration(time.Duration(float64(b.total-b.done)/rate*float64(time.Second)))
	default:
		s += "  ETA --"
	}
	return s
}

// Size is n bytes in binary units, as a person reads them.
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n), ""
	for _, s := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= unit
		suffix = s
		if v < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}

// Duration is d rounded for a person: 4s, 1m05s, 2h03m.
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// Reader counts what is read through it on a Bar, and calls Touch (when
// set) on every read, so a watchdog can tell a stalled transfer from a
// slow one.
type Reader struct {
	R     io.Reader
	Bar   *Bar
	Touch func()
}

func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	if n > 0 {
		r.Bar.Add(int64(n))
		if r.Touch != nil {
			r.Touch()
		}
	}
	return n, err
}
