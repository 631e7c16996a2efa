// Package agent is kiln's guest agent and its host-side client: the guest
// half runs inside a booted machine image (as PID 1 or started by the
// image's own init) and serves requests arriving on a virtio-serial port;
// the client half, used by package vm, runs commands, writes and reads
// files and powers the guest off.
//
// The wire protocol is one JSON object per line in both directions. Every
// request carries an id chosen by the client; every frame the guest sends
// about that request carries the same id, so several requests may be in
// flight at once (a test step running while the host writes a file). The
// guest speaks first: a "hello" frame, repeated whenever the host side of
// the port (re)connects, tells the client which agent it talks to. Binary
// payloads travel base64-encoded in "data" (encoding/json's []byte), in
// chunks of at most chunkSize bytes, so one frame stays small.
package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"sync"
)

// DefaultPort is the name of the virtio-serial port the host creates and
// the agent opens (/dev/virtio-ports/org.kiln.agent under udev).
const DefaultPort = "org.kiln.agent"

// ProtocolVersion is announced in the hello frame; a client refuses an
// agent speaking a different version, which would happen when an image
// carries an older kiln than the host.
const ProtocolVersion = 1

// Frame operations. Requests (host → guest) and replies (guest → host)
// share one namespace to keep one frame type.
const (
	opHello    = "hello"    // guest: announces itself (Version, Kernel, PID1)
	opRun      = "run"      // host: start Argv with Env in Dir
	opCancel   = "cancel"   // host: kill the run with this id (its process group)
	opWrite    = "write"    // host: create Path with Mode; data frames and eof follow
	opRead     = "read"     // host: send Path's content as data frames, then done
	opPowerOff = "poweroff" // host: sync and power off after replying done
	opData     = "data"     // both: a chunk of a file's content
	opEOF      = "eof"      // host: end of a write's data
	opStdout   = "stdout"   // guest: a chunk of a run's standard output
	opStderr   = "stderr"   // guest: a chunk of a run's standard error
	opExit     = "exit"     // guest: the run ended with Code
	opDone     = "done"     // guest: write, read or poweroff finished
	opError    = "error"    // guest: the request failed with Error
)

// chunkSize bounds the payload of one data/stdout/stderr frame.
const chunkSize = 32 << 10

// maxFrameSize bounds one encoded line; a longer line is a protocol error
// rather than an unbounded allocation. A chunk encodes to about 44 KiB.
const maxFrameSize = 1 << 20

// frame is every message of the protocol; which fields matter depends on
// Op (see the op constants).
type frame struct {
	ID      uint64   `json:"id,omitempty"`
	Op      string   `json:"op"`
	Argv    []string `json:"argv,omitempty"`
	Env     []string `json:"env,omitempty"`
	Dir     string   `json:"dir,omitempty"`
	Path    string   `json:"path,omitempty"`
	Mode    uint32   `json:"mode,omitempty"`
	Data    []byte   `json:"data,omitempty"`
	Code    int      `json:"code,omitempty"`
	Error   string   `json:"error,omitempty"`
	Version int      `json:"version,omitempty"`
	Kernel  string   `json:"kernel,omitempty"`
	PID1    bool     `json:"pid1,omitempty"`
}

// errFrameTooLong reports a line longer than maxFrameSize.
var errFrameTooLong = errors.New("agent: frame longer than 1 MiB")

// badFrameError is one line that is not a frame.
type badFrameError struct{ reason string }

func (e *badFrameError) Error() string { return "agent: bad frame: " + e.reason }

// decodeFrame parses one line (without its newline).
func decodeFrame(line []byte) (frame, error) {
	var f frame
	line = bytes.TrimRight(line, "\r")
	if err := json.Unmarshal(line, &f); err != nil {
		return frame{}, &badFrameError{err.Error()}
	}
	if f.Op == "" {
		return frame{}, &badFrameError{"no op"}
	}
	return f, nil
}

// codec reads and writes frames on one stream. Writes are serialised so
// frames from concurrent requests never interleave; reads belong to one
// goroutine.
type codec struct {
	r   *bufio.Reader
	wmu sync.Mutex
	w   io.Writer
}

func newCodec(rw io.ReadWriter) *codec {
	return &codec{r: bufio.NewReaderSize(rw, 64<<10), w: rw}
}

// send writes f as one line with a single Write call.
func (c *codec) send(f frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err = c.w.Write(b)
	return err
}

// readLine returns the next line without its newline, refusing lines
// longer than maxFrameSize. A final line without newline is returned
// before io.EOF.
func (c *codec) readLine() ([]byte, error) {
	var line []byte
	for {
		part, err := c.r.ReadSlice('\n')
		if len(line)+len(part) > maxFrameSize+1 {
			// Skip the rest of the oversized line so the stream stays
			// in sync for whoever reads next.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = c.r.ReadSlice('\n')
			}
			return nil, errFrameTooLong
		}
		line = append(line, part...)
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(line) > 0:
			return line, nil
		default:
			return nil, err
		}
	}
}

// recv returns the next well-formed frame. Lines that are not frames are
// returned as errors the caller may choose to skip (see isBadFrame).
func (c *codec) recv() (frame, error) {
	line, err := c.readLine()
	if err != nil {
		return frame{}, err
	}
	return decodeFrame(line)
}

// isBadFrame says err is about one malformed line, not the stream: the
// reader may skip it and go on. Before the guest's hello, a port may carry
// leftovers of an earlier agent or kernel noise.
func isBadFrame(err error) bool {
	var bad *badFrameError
	return errors.Is(err, errFrameTooLong) || errors.As(err, &bad)
}
