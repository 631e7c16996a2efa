package vm

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// tailLines is how many console lines errors quote.
const tailLines = 40

// tail passes output on to w (if any) and keeps its last lines, as log
// text (see ConsoleText), so an error about a guest that never came up can
// say what the guest printed.
type tail struct {
	w io.Writer

	mu      sync.Mutex
	text    io.Writer // ConsoleText into keep
	lines   []string  // complete lines, oldest first, at most tailLines
	partial []byte    // the line being written
}

func newTail(w io.Writer) *tail {
	t := &tail{w: w}
	t.text = ConsoleText(writerFunc(t.keep))
	return t
}

// writerFunc is a function as an io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.text.Write(p)
	t.mu.Unlock()
	if t.w != nil {
		// A failing console writer must not stop QEMU's output.
		_, _ = t.w.Write(p)
	}
	return len(p), nil
}

// keep adds text (no control bytes but newline and tab) to the lines.
func (t *tail) keep(rest []byte) (int, error) {
	n := len(rest)
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			t.partial = append(t.partial, rest...)
			if len(t.partial) > 4096 { // a line without end: keep its end
				t.partial = append(t.partial[:0], t.partial[len(t.partial)-4096:]...)
			}
			return n, nil
		}
		t.lines = append(t.lines, string(append(t.partial, rest[:i]...)))
		t.partial = t.partial[:0]
		if len(t.lines) > tailLines {
			t.lines = append(t.lines[:0], t.lines[len(t.lines)-tailLines:]...)
		}
		rest = rest[i+1:]
	}
}

// String returns the kept lines, the unfinished one last.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		lines = append(lines, string(t.partial))
	}
	return strings.Join(lines, "\n")
}

// suffix is String formatted to end an error message, or "".
func (t *tail) suffix() string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	return ": " + s
}
