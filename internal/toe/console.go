package toe

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// consoleWriter writes the console: console.log always gets everything; the
// terminal gets the same lines, or with progress on, engine lines and one
// live status line per step instead of command output.
type consoleWriter struct {
	mu        sync.Mutex
	file      io.Writer
	term      io.Writer
	progress  bool
	status    string
	stepStart time.Time
}

func (c *consoleWriter) line(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.file, s)
	if c.progress && c.status != "" {
		fmt.Fprintf(c.term, "\r\x1b[K%s\n%s", s, c.status)
		return
	}
	fmt.Fprintln(c.term, s)
}

// output writes one line of command output.
func (c *consoleWriter) output(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(c.file, s)
	if !c.progress {
		fmt.Fprintln(c.term, s)
	}
}

func (c *consoleWriter) stepStarted(phase, step, action string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stepStart = time.Now()
	msg := fmt.Sprintf("Step %s/%s (%s) started", phase, step, action)
	fmt.Fprintln(c.file, msg)
	if c.progress {
		c.status = fmt.Sprintf("… %s/%s (%s)", phase, step, action)
		fmt.Fprintf(c.term, "\r\x1b[K%s", c.status)
		return
	}
	fmt.Fprintln(c.term, msg)
}

func (c *consoleWriter) stepFinished(phase, step, status, failure string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msg := fmt.Sprintf("Step %s/%s %s", phase, step, status)
	if failure != "" {
		msg += ": " + failure
	}
	fmt.Fprintln(c.file, msg)
	if c.progress {
		mark := "✓"
		switch status {
		case StatusFailed:
			mark = "✗"
		case StatusIgnoredFailure:
			mark = "!"
		case StatusSkipped:
			mark = "-"
		}
		fmt.Fprintf(c.term, "\r\x1b[K%s %s (%s)\n", mark, msg, time.Since(c.stepStart).Round(time.Millisecond))
		c.status = ""
		return
	}
	fmt.Fprintln(c.term, msg)
}

func (c *consoleWriter) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.progress && c.status != "" {
		fmt.Fprint(c.term, "\r\x1b[K")
		c.status = ""
	}
}

// maxStepOutput bounds the output a step keeps for reports (JUnit).
const maxStepOutput = 64 << 10

// stepOutput turns a step's stdout and stderr into console lines
// ("CmdExecution: Stdout: ...", the prefixes Image Builder's logs show) and
// keeps the tail for reports. hidden (disableLogging) drops everything.
type stepOutput struct {
	mu      sync.Mutex
	console *consoleWriter
	prefix  string
	hidden  bool
	partial map[string]*bytes.Buffer
	tail    tail
}

func (o *stepOutput) writer(stream string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		if o.hidden {
			return len(p), nil
		}
		o.mu.Lock()
		defer o.mu.Unlock()
		o.tail.Write(p)
		if o.partial == nil {
			o.partial = map[string]*bytes.Buffer{}
		}
		buf := o.partial[stream]
		if buf == nil {
			buf = &bytes.Buffer{}
			o.partial[stream] = buf
		}
		buf.Write(p)
		for {
			i := bytes.IndexByte(buf.Bytes(), '\n')
			if i < 0 {
				break
			}
			line := strings.TrimSuffix(string(buf.Next(i+1)), "\n")
			o.console.output(o.prefix + stream + line)
		}
		return len(p), nil
	})
}

// flush writes partial last lines.
func (o *stepOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for stream, buf := range o.partial {
		if buf.Len() > 0 {
			o.console.output(o.prefix + stream + buf.String())
			buf.Reset()
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// tail keeps the last maxStepOutput bytes written.
type tail struct{ b []byte }

func (t *tail) Write(p []byte) {
	t.b = append(t.b, p...)
	if len(t.b) > maxStepOutput {
		t.b = append([]byte(nil), t.b[len(t.b)-maxStepOutput:]...)
	}
}

func (t *tail) String() string { return string(t.b) }
