package parentimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/kiln-build/kiln/internal/progress"
)

// Defaults of a Fetcher's bounds. A distribution's base layer is tens of
// megabytes; 2 GiB leaves room for fat images while stopping a mirror
// that streams without end. A minute without a byte is a dead transfer on
// any link a build could use.
const (
	DefaultMaxBlobSize  = 2 << 30
	DefaultStallTimeout = 60 * time.Second
	// maxIndexSize bounds the small documents (latest-releases.yaml).
	maxIndexSize = 1 << 20
)

// Fetcher gets a parent image into a local working directory.
type Fetcher struct {
	// Transport carries the requests (nil: http.DefaultTransport).
	Transport http.RoundTripper
	// Progress receives the progress bars and what debootstrap says (nil:
	// nothing); Terminal makes the bars redraw in place.
	Progress io.Writer
	Terminal bool
	// MaxBlobSize refuses any layer or tarball larger (0: DefaultMaxBlobSize).
	MaxBlobSize int64
	// StallTimeout ends a transfer that received nothing for this long
	// (0: DefaultStallTimeout).
	StallTimeout time.Duration
	// Insecure allows plain HTTP, to loopback hosts only.
	Insecure bool
	Platform v1.Platform
	// Workdir holds the downloaded blobs until they are pushed.
	Workdir string
}

func (f *Fetcher) maxBlob() int64 {
	if f.MaxBlobSize > 0 {
		return f.MaxBlobSize
	}
	return DefaultMaxBlobSize
}

func (f *Fetcher) stallTimeout() time.Duration {
	if f.StallTimeout > 0 {
		return f.StallTimeout
	}
	return DefaultStallTimeout
}

func (f *Fetcher) transport() http.RoundTripper {
	if f.Transport != nil {
		return f.Transport
	}
	return http.DefaultTransport
}

func (f *Fetcher) progressWriter() io.Writer {
	if f.Progress != nil {
		return f.Progress
	}
	return io.Discard
}

// ErrStalled is the cause of a transfer ended by the stall timeout.
var ErrStalled = errors.New("transfer stalled")

// watchdog cancels its context when nothing was received for the stall
// timeout; Touch says something was.
type watchdog struct {
	last atomic.Int64 // unix nanoseconds
}

func (w *watchdog) Touch() { w.last.Store(time.Now().UnixNano()) }

// watch returns ctx bounded by a stall watchdog of f's timeout, and the
// function that stops it.
func (f *Fetcher) watch(ctx context.Context) (context.Context, *watchdog, func()) {
	return watchStall(ctx, f.stallTimeout())
}

// watchStall returns ctx bounded by a watchdog that ends it when nothing
// was received for limit, and the function that stops it. The watchdog
// compares wall time between reads: no unit test depends on it, the
// end-to-end tests give it a generous timeout.
func watchStall(ctx context.Context, limit time.Duration) (context.Context, *watchdog, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{}
	w.Touch()
	tick := min(limit/4, time.Second)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				if now.Sub(time.Unix(0, w.last.Load())) > limit {
					cancel(fmt.Errorf("%w: nothing received for %s", ErrStalled, limit))
					return
				}
			}
		}
	}()
	return ctx, w, func() { close(done); cancel(nil) }
}

// cause is err, or why ctx ended when that explains it better (a stall).
func cause(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && errors.Is(c, ErrStalled) {
		return c
	}
	return err
}

// saveVerified copies r into path — at most size bytes when size > 0,
// else at most the blob limit — showing a bar labelled label, and checks
// that what arrived is exactly size bytes (when known) with the sha256
// want (hex). A blob that fails is removed.
func (f *Fetcher) saveVerified(w *watchdog, r io.Reader, path, label string, size int64, want string) (err error) {
	limit := f.maxBlob()
	if size > limit {
		return fmt.Errorf("%s is %s, over the limit of %s (--max-blob-mib)", label, progress.Size(size), progress.Size(limit))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	bar := progress.New(f.progressWriter(), f.Terminal, label, size)
	h := sha256.New()
	read := limit + 1
	if size > 0 {
		read = size + 1
	}
	n, err := io.Copy(io.MultiWriter(out, h), &progress.Reader{R: io.LimitReader(r, read), Bar: bar, Touch: w.Touch})
	bar.Finish()
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	switch {
	case size > 0 && n != size:
		return fmt.Errorf("%s: received %d bytes, the source said %d", label, n, size)
	case n > limit:
		return fmt.Errorf("%s is over the limit of %s (--max-blob-mib)", label, progress.Size(limit))
	}
	if got := hexSum(h); got != want {
		return fmt.Errorf("%s: sha256 is %s, the source published %s: refusing it", label, got, want)
	}
	return nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// isLoopbackHost reports whether host ("host" or "host:port") is this
// machine, the only place plain HTTP may go.
func isLoopbackHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// get fetches u with ctx and returns the response when it is 200.
func (f *Fetcher) get(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: f.transport()}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return resp, nil
}
