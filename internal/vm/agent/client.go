package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"
)

// Hello is what the guest agent says about itself when it connects.
type Hello struct {
	Version int    // ProtocolVersion of the agent
	Kernel  string // the guest kernel's release (uname -r)
	PID1    bool   // the agent is the guest's init
}

// ErrClosed is returned by requests after the connection to the agent
// ended (the guest powered off, QEMU exited, or Close was called).
var ErrClosed = errors.New("agent: connection to the guest agent closed")

// Client talks to one guest agent. Its methods may be called from several
// goroutines at once; each request has its own id on the wire.
type Client struct {
	codec  *codec
	closer io.Closer
	hello  Hello

	mu     sync.Mutex
	nextID uint64
	calls  map[uint64]*call

	done    chan struct{} // closed when the reader stops
	readErr error         // why it stopped; set before done closes
}

// call is one request in flight: the reader delivers its frames.
type call struct {
	id     uint64
	frames chan frame
	done   chan struct{} // closed by finish; the reader stops delivering
}

// NewClient waits for the agent's hello on rw and returns a client. It
// skips lines that are not frames (leftovers on the port), and fails when
// rw ends first or the agent speaks another protocol version. To give up
// waiting, close rw.
func NewClient(rw io.ReadWriteCloser) (*Client, error) {
	c := &Client{codec: newCodec(rw), closer: rw, calls: map[uint64]*call{}, done: make(chan struct{})}
	for {
		f, err := c.codec.recv()
		if isBadFrame(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("agent: waiting for the guest agent's hello: %w", err)
		}
		if f.Op != opHello {
			continue
		}
		if f.Version != ProtocolVersion {
			return nil, fmt.Errorf("agent: guest agent speaks protocol %d, this kiln speaks %d", f.Version, ProtocolVersion)
		}
		c.hello = Hello{Version: f.Version, Kernel: f.Kernel, PID1: f.PID1}
		break
	}
	go c.read()
	return c, nil
}

// Hello returns what the agent announced.
func (c *Client) Hello() Hello { return c.hello }

// Done is closed when the connection to the agent ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the connection; requests in flight fail with ErrClosed.
func (c *Client) Close() error {
	err := c.closer.Close()
	<-c.done
	return err
}

// read delivers frames to their calls until the stream ends. Frames for
// calls that already finished are dropped; a repeated hello (the port was
// reconnected) is ignored.
func (c *Client) read() {
	var err error
	for {
		var f frame
		f, err = c.codec.recv()
		if isBadFrame(err) {
			continue
		}
		if err != nil {
			break
		}
		c.mu.Lock()
		cl := c.calls[f.ID]
		c.mu.Unlock()
		if cl == nil {
			continue
		}
		select {
		case cl.frames <- f:
		case <-cl.done:
		}
	}
	if errors.Is(err, io.EOF) {
		err = ErrClosed
	} else {
		err = fmt.Errorf("%w: %v", ErrClosed, err)
	}
	c.readErr = err
	close(c.done)
}

// start registers a call and sends its request frame.
func (c *Client) start(f frame) (*call, error) {
	c.mu.Lock()
	c.nextID++
	cl := &call{id: c.nextID, frames: make(chan frame, 16), done: make(chan struct{})}
	c.calls[cl.id] = cl
	c.mu.Unlock()
	f.ID = cl.id
	if err := c.send(f); err != nil {
		c.finish(cl)
		return nil, err
	}
	return cl, nil
}

// send writes a frame, reporting a closed connection as ErrClosed.
func (c *Client) send(f frame) error {
	select {
	case <-c.done:
		return c.readErr
	default:
	}
	if err := c.codec.send(f); err != nil {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	return nil
}

func (c *Client) finish(cl *call) {
	c.mu.Lock()
	delete(c.calls, cl.id)
	c.mu.Unlock()
	close(cl.done)
}

// next returns the call's next frame. Frames already delivered are
// returned even after the connection ended.
func (c *Client) next(ctx context.Context, cl *call) (frame, error) {
	select {
	case f := <-cl.frames:
		return f, nil
	case <-ctx.Done():
		return frame{}, ctx.Err()
	case <-c.done:
		select {
		case f := <-cl.frames:
			return f, nil
		default:
			return frame{}, c.readErr
		}
	}
}

// Run runs argv in the guest and streams its output to stdout and stderr
// (either may be nil) as it arrives. env entries ("KEY=value") are added
// to the agent's environment, overriding keys it has; argv[0] without a
// slash is looked up in the resulting PATH. dir "" means "/". The process
// gets an empty standard input and its own process group; when ctx ends
// the whole group is killed and Run returns ctx.Err(). A process killed by
// a signal reports 128+signal, as shells do. err is non-nil only when the
// command could not be run at all (not found, connection lost).
func (c *Client) Run(ctx context.Context, argv []string, env []string, dir string, stdout, stderr io.Writer) (exitCode int, err error) {
	if len(argv) == 0 {
		return -1, errors.New("agent: run: empty argv")
	}
	cl, err := c.start(frame{Op: opRun, Argv: argv, Env: env, Dir: dir})
	if err != nil {
		return -1, err
	}
	defer c.finish(cl)
	var writeErr error
	for {
		f, err := c.next(ctx, cl)
		if err != nil {
			if ctx.Err() != nil {
				// Best effort: the guest kills the process group.
				_ = c.send(frame{ID: cl.id, Op: opCancel})
			}
			return -1, err
		}
		switch f.Op {
		case opStdout, opStderr:
			w := stdout
			if f.Op == opStderr {
				w = stderr
			}
			if w != nil && writeErr == nil {
				// Keep draining after a failed write so the guest side
				// never stalls; report the failure at the end.
				_, writeErr = w.Write(f.Data)
			}
		case opExit:
			if writeErr != nil {
				return f.Code, fmt.Errorf("agent: run %s: writing output: %w", argv[0], writeErr)
			}
			return f.Code, nil
		case opError:
			return -1, fmt.Errorf("agent: run %s: %s", argv[0], f.Error)
		}
	}
}

// WriteFile creates or replaces path in the guest with r's content and
// mode's permission bits (0 means 0644), creating missing parent
// directories (0755). path must be absolute. The
// file appears complete or not at all (written beside it, then renamed).
func (c *Client) WriteFile(ctx context.Context, path string, mode fs.FileMode, r io.Reader) error {
	cl, err := c.start(frame{Op: opWrite, Path: path, Mode: uint32(mode.Perm())})
	if err != nil {
		return err
	}
	defer c.finish(cl)
	buf := make([]byte, chunkSize)
	for {
		// The guest answers early when it cannot create the file.
		select {
		case f := <-cl.frames:
			if f.Op == opError {
				return fmt.Errorf("agent: write %s: %s", path, f.Error)
			}
		case <-ctx.Done():
			_ = c.send(frame{ID: cl.id, Op: opCancel})
			return ctx.Err()
		default:
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := c.send(frame{ID: cl.id, Op: opData, Data: buf[:n]}); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			_ = c.send(frame{ID: cl.id, Op: opCancel})
			return fmt.Errorf("agent: write %s: reading source: %w", path, rerr)
		}
	}
	if err := c.send(frame{ID: cl.id, Op: opEOF}); err != nil {
		return err
	}
	for {
		f, err := c.next(ctx, cl)
		if err != nil {
			if ctx.Err() != nil {
				_ = c.send(frame{ID: cl.id, Op: opCancel})
			}
			return err
		}
		switch f.Op {
		case opDone:
			return nil
		case opError:
			return fmt.Errorf("agent: write %s: %s", path, f.Error)
		}
	}
}

// ReadFile copies the guest's file at path to w: logs and results a test
// step left behind.
func (c *Client) ReadFile(ctx context.Context, path string, w io.Writer) error {
	cl, err := c.start(frame{Op: opRead, Path: path})
	if err != nil {
		return err
	}
	defer c.finish(cl)
	for {
		f, err := c.next(ctx, cl)
		if err != nil {
			if ctx.Err() != nil {
				_ = c.send(frame{ID: cl.id, Op: opCancel})
			}
			return err
		}
		switch f.Op {
		case opData:
			if _, err := w.Write(f.Data); err != nil {
				_ = c.send(frame{ID: cl.id, Op: opCancel})
				return fmt.Errorf("agent: read %s: %w", path, err)
			}
		case opDone:
			return nil
		case opError:
			return fmt.Errorf("agent: read %s: %s", path, f.Error)
		}
	}
}

// PowerOff asks the guest to sync its filesystems and power off. It
// returns once the guest acknowledged (or the connection ended, which is
// what a powered-off guest looks like); QEMU exits soon after, so
// Machine.Wait returns.
func (c *Client) PowerOff(ctx context.Context) error {
	cl, err := c.start(frame{Op: opPowerOff})
	if err != nil {
		return err
	}
	defer c.finish(cl)
	for {
		f, err := c.next(ctx, cl)
		if errors.Is(err, ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		switch f.Op {
		case opDone:
			return nil
		case opError:
			return fmt.Errorf("agent: power off: %s", f.Error)
		}
	}
}
