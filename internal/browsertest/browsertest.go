// Package browsertest drives Debian's chromium, headless, from Go tests of
// kiln's web console: it opens pages at a phone or a desktop width, keeps
// every console message and uncaught exception the pages produce so a test
// can assert that no page logged a JavaScript error, and saves full-page
// screenshots where a person (or the README) can look at them.
//
// It is a test helper: nothing outside _test.go files imports it.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// The two widths the console promises to work at.
const (
	DesktopWidth = 1280
	PhoneWidth   = 390
)

// Browser is one headless chromium with one tab, sized to one width.
type Browser struct {
	t     testing.TB
	ctx   context.Context
	width int

	mu       sync.Mutex
	messages []chromedp.ConsoleMessage
}

// Require skips a test when chromium is missing, or fails it under CI,
// where .ci/run installs it.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run must install chromium", ChromiumPath)
		}
		t.Skipf("%s is not installed (apt-get install chromium)", ChromiumPath)
	}
}

// New starts a headless chromium whose tab is width pixels wide (use
// DesktopWidth or PhoneWidth). The browser ends with the test.
//
// The browser runs as root, so without its own sandbox; it is kept off every
// network but loopback by a proxy that does not exist: chromium always goes
// direct to loopback addresses, and everything else fails at once instead of
// leaving the machine.
func New(t testing.TB, width int) *Browser {
	t.Helper()
	Require(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.ProxyServer("http://127.0.0.1:9"),
		chromedp.WindowSize(width, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &Browser{t: t, ctx: ctx, width: width}
	// The first action starts the browser and opens the tab; the console
	// subscription needs the tab to exist.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), 900, mobile(width)...)); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.messages = append(b.messages, m)
			b.mu.Unlock()
		}
	}()
	return b
}

// mobile makes a phone-width tab behave as a phone's browser does: it
// honours the page's viewport meta tag and reports touch.
func mobile(width int) []chromedp.EmulateViewportOption {
	if width > 600 {
		return nil
	}
	return []chromedp.EmulateViewportOption{chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait}
}

// Context is the tab's context, for chromedp actions the helpers here do not
// wrap. Give it a deadline per action with context.WithTimeout.
func (b *Browser) Context() context.Context { return b.ctx }

// Width is the tab's width in CSS pixels.
func (b *Browser) Width() int { return b.width }

// Do runs actions in the tab, failing the test on the first error. Each call
// gets a minute: a page that never becomes what the test waits for fails
// the test instead of hanging it.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v%s", err, b.shows())
	}
}

// Run runs one action that returns a value, failing the test on error.
func Run[T any](b *Browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v%s", err, b.shows())
	}
	return v
}

// Open navigates to url and waits until the page's main heading shows.
func (b *Browser) Open(url string) {
	b.t.Helper()
	b.Do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("h1")))
}

// Text is the visible text of the first element matching a CSS selector.
func (b *Browser) Text(css string) string {
	b.t.Helper()
	return Run(b, chromedp.Text(chromedp.CSS(css)))
}

// Body is the visible text of the whole page.
func (b *Browser) Body() string {
	b.t.Helper()
	return b.Text("body")
}

// Location is the tab's current URL.
func (b *Browser) Location() string {
	b.t.Helper()
	return Run(b, chromedp.Location())
}

// Messages are the console messages and uncaught exceptions seen so far.
func (b *Browser) Messages() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.messages...)
}

// JSErrors are the messages that say something went wrong: uncaught
// exceptions, console.error calls and error entries of the browser log
// (a failed script or stylesheet load, a refused connection).
func (b *Browser) JSErrors() []string {
	var errs []string
	for _, m := range b.Messages() {
		if m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleError {
			where := m.URL
			if where != "" {
				where = fmt.Sprintf(" (%s:%d)", where, m.Line+1)
			}
			errs = append(errs, m.String()+where)
		}
	}
	return errs
}

// NoJSErrors fails the test when any page logged a JavaScript error.
func (b *Browser) NoJSErrors() {
	b.t.Helper()
	for _, e := range b.JSErrors() {
		b.t.Errorf("JavaScript error at %d px: %s", b.width, e)
	}
}

// ScreenshotDir is where screenshots go: $KILN_SCREENSHOTS when set (made
// if missing), otherwise a directory of the test's own.
func ScreenshotDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("KILN_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot saves a full-page PNG of the tab as NAME-WIDTH.png in the
// screenshot directory, logs its path and returns it.
func (b *Browser) Screenshot(dir, name string) string {
	b.t.Helper()
	png := Run(b, chromedp.FullScreenshot(100))
	name = strings.Trim(unsafeName.ReplaceAllString(name, "-"), "-")
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, b.width))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// ClickAndLoad clicks the element a CSS selector finds (a link or a
// submit button) and waits for the page it leads to, returning that
// page's HTTP status.
func (b *Browser) ClickAndLoad(css string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("browser: clicking %s: %v%s", css, err, b.shows())
	}
	if resp == nil {
		return 0
	}
	return resp.Status
}

// WaitFor waits until a JavaScript expression is truthy in the page, for
// at most timeout (a build the test waits for can take minutes on a
// loaded machine), and fails the test with what the page shows if it
// never is.
func (b *Browser) WaitFor(expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			left = time.Millisecond
		}
		ctx, cancel := context.WithTimeout(b.ctx, left+10*time.Second)
		_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(left), chromedp.WithPollingInterval(250*time.Millisecond)))
		cancel()
		if err == nil {
			return
		}
		// A page that reloads itself (the image page does when its
		// build ends) ends the poll; poll the new page.
		if time.Now().Before(deadline) && navigatedAway(err) {
			b.settle()
			continue
		}
		b.t.Fatalf("browser: waiting for %s: %v%s", expr, err, b.shows())
	}
}

// settle waits for the tab's new document after a navigation ended a
// poll. chromedp's view of it normally arrives within moments; where it
// stays stale (seen in CI after "Cannot find context with specified id": a
// wait for the new body hung for a minute) the page is reloaded, which
// makes Chrome report the document afresh. A reload sent while the
// navigation is still under way is refused ("Not attached to an active
// page"), so it is tried only after a short wait, and again.
func (b *Browser) settle() {
	b.t.Helper()
	var errs []error
	for range 5 {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("body")))
		cancel()
		if err == nil {
			return
		}
		ctx, cancel = context.WithTimeout(b.ctx, 10*time.Second)
		rerr := chromedp.Do(ctx, chromedp.Reload())
		cancel()
		if rerr == nil {
			return
		}
		errs = append(errs, err, rerr)
		time.Sleep(250 * time.Millisecond)
	}
	b.t.Fatalf("browser: the page did not settle after a navigation: %v%s", errors.Join(errs...), b.shows())
}

// navigatedAway reports whether err is how Chrome ends an evaluation whose
// page went away under it. Which message comes depends on the moment: the
// frame navigated, its execution context was destroyed, or the poll's next
// call named a context that no longer exists ("Cannot find context with
// specified id", seen when the image page reloaded at its build's end).
func navigatedAway(err error) bool {
	msg := err.Error()
	for _, s := range []string{"navigated or closed", "context was destroyed", "Cannot find context with specified id"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// HTML is the page's whole document as it is now.
func (b *Browser) HTML() string {
	b.t.Helper()
	return Run(b, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
}

// TabTo presses Tab up to limit times until the focused element matches
// a CSS selector, and reports whether it got there: the keyboard-only
// path to a page's actions.
func (b *Browser) TabTo(css string, limit int) bool {
	b.t.Helper()
	for range limit {
		b.Do(chromedp.KeyEvent("\t"))
		if Run(b, chromedp.Evaluate[bool](fmt.Sprintf(`!!document.activeElement && document.activeElement.matches(%q)`, css))) {
			return true
		}
	}
	return false
}

// shows is what the tab shows, for a failure's message: its address and
// text, read within a few seconds (the tab may be what failed).
func (b *Browser) shows() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	url, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return fmt.Sprintf("\nthe tab at %s shows:\n%s", url, text)
}
