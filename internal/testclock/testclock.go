// Package testclock is a clock for end-to-end tests only: wall time plus
// an offset that a test moves forward by rewriting a file. `kiln serve`
// reads its time from one when the environment variable KILN_TEST_CLOCK
// names such a file, so a test can bring a pipeline's schedule due
// without waiting for a wall-clock minute. No deployment sets it.
package testclock

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// EnvVar names the offset file in kiln's environment.
const EnvVar = "KILN_TEST_CLOCK"

// poll is how often a pending After looks at the file again, so a test
// that moves the clock past a deadline is noticed within it.
const poll = 50 * time.Millisecond

// Clock is wall time plus the offset in its file (decimal nanoseconds;
// a missing or unreadable file is no offset).
type Clock struct{ path string }

// New returns the clock whose offset lives in path.
func New(path string) *Clock { return &Clock{path: path} }

// FromEnv returns the clock KILN_TEST_CLOCK names, or nil when it is
// unset.
func FromEnv() *Clock {
	if p := os.Getenv(EnvVar); p != "" {
		return New(p)
	}
	return nil
}

// Env is the environment entry that makes kiln use this clock.
func (c *Clock) Env() string { return EnvVar + "=" + c.path }

// Offset returns the current offset from wall time.
func (c *Clock) Offset() time.Duration {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(n)
}

// Set replaces the offset. The file is replaced by rename, so a reader
// never sees half of it.
func (c *Clock) Set(offset time.Duration) error {
	tmp := filepath.Join(filepath.Dir(c.path), "."+filepath.Base(c.path)+".tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d\n", int64(offset)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, c.path)
}

// SetNow moves the clock so that it now reads t.
func (c *Clock) SetNow(t time.Time) error { return c.Set(time.Until(t)) }

// Now is wall time plus the offset.
func (c *Clock) Now() time.Time { return time.Now().Add(c.Offset()) }

// After delivers once the clock has moved d past now, whether by wall
// time passing or by the offset growing.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	deadline := c.Now().Add(d)
	go func() {
		for {
			now := c.Now()
			left := deadline.Sub(now)
			if left <= 0 {
				ch <- now
				return
			}
			time.Sleep(min(left, poll))
		}
	}()
	return ch
}
