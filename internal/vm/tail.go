package vm

import (
	"bytes"
	"io"
	"strings"
	"sync"
)

// tailLines is how many console lines errors quote.
const tailLines = 40

// tail passes output on to w (if any) and keeps its last lines, so an
// error about a guest that never came up can say what the guest printed.
type tail struct {
	w io.Writer

	mu      sync.Mutex
	lines   []string // complete lines, oldest first, at most tailLines
	partial []byte   // the line being written
}

func newTail(w io.Writer) *tail { return &tail{w: w} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	rest := p
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			t.partial = append(t.partial, rest...)
			if len(t.partial) > 4096 { // a line without end: keep its end
				t.partial = append(t.partial[:0], t.partial[len(t.partial)-4096:]...)
			}
			break
		}
		line := append(t.partial, rest[:i]...)
		t.partial = t.partial[:0]
		t.lines = append(t.lines, clean(line))
		if len(t.lines) > tailLines {
			t.lines = append(t.lines[:0], t.lines[len(t.lines)-tailLines:]...)
		}
		rest = rest[i+1:]
	}
	t.mu.Unlock()
	if t.w != nil {
		// A failing console writer must not stop QEMU's output.
		_, _ = t.w.Write(p)
	}
	return len(p), nil
}

// clean drops carriage returns and other control bytes a serial console
// emits (terminal escapes would garble an error message).
func clean(line []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, string(line))
}

// String returns the kept lines, the unfinished one last.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		lines = append(lines, clean(t.partial))
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
