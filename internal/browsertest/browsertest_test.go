package browsertest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The harness's own checks against a page served from loopback: it sees
// uncaught exceptions and console errors, leaves clean pages clean, honours
// the width, and writes PNG screenshots.
func TestHarness(t *testing.T) {
	t.Parallel()
	Require(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/clean", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><meta name="viewport" content="width=device-width"><title>t</title><link rel="icon" href="data:,"><h1>clean</h1><script>console.log("hello")</script>`))
	})
	mux.HandleFunc("/throws", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><title>t</title><h1>throws</h1><script>console.error("said no"); undefinedFunction();</script>`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, width := range []int{DesktopWidth, PhoneWidth} {
		b := New(t, width)
		b.Open(srv.URL + "/clean")
		if got := b.Text("h1"); got != "clean" {
			t.Errorf("h1 = %q", got)
		}
		if got := Run(b, chromedp.Evaluate[int](`window.innerWidth`)); got != width {
			t.Errorf("innerWidth = %d, want %d", got, width)
		}
		if errs := b.JSErrors(); len(errs) != 0 {
			t.Errorf("a clean page logged errors: %q", errs)
		}
		dir := t.TempDir()
		path := b.Screenshot(dir, "clean page")
		png, err := os.ReadFile(path)
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG (%v)", path, err)
		}

		b.Open(srv.URL + "/throws")
		// The exception arrives as an event, after the page has loaded.
		b.Do(chromedp.Poll[chromedp.Void](`document.readyState === "complete"`))
		var errs []string
		for range 50 {
			if errs = b.JSErrors(); len(errs) >= 2 {
				break
			}
			time.Sleep(100 * time.Millisecond) // events arrive asynchronously; bounded at 5 s
		}
		joined := strings.Join(errs, "\n")
		if !strings.Contains(joined, "said no") || !strings.Contains(joined, "undefinedFunction") {
			t.Errorf("errors seen = %q, want the console.error and the ReferenceError", errs)
		}
	}
}
