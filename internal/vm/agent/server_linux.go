package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errPowerOff ends serving: the host asked for power off and was answered.
var errPowerOff = errors.New("agent: power off requested")

// outputGrace is how long a run's output is still collected after its
// process exited: a daemon it started in the background may hold the
// pipes open forever, and the step's result must not wait for it.
const outputGrace = 2 * time.Second

// server answers one host's requests. Handlers of different requests run
// concurrently; frames for a request in flight (data, eof, cancel) reach
// its handler through its inbox.
type server struct {
	codec   *codec
	hello   frame
	procs   *reaper
	baseEnv []string

	mu     sync.Mutex
	inboxs map[uint64]*inbox
}

type inbox struct {
	frames chan frame
	done   chan struct{}
}

func newServer(rw io.ReadWriter, procs *reaper, hello frame) *server {
	env := os.Environ()
	if !hasKey(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	if !hasKey(env, "HOME") {
		env = append(env, "HOME=/root")
	}
	return &server{codec: newCodec(rw), hello: hello, procs: procs, baseEnv: env, inboxs: map[uint64]*inbox{}}
}

// serve announces the agent and handles requests until the host asks for
// power off (errPowerOff, after the answer was sent) or the stream ends
// (io.EOF: on a virtio port that means the host side disconnected, and
// serving may start again once it reconnects). Requests in flight keep
// running across a reconnect.
func (s *server) serve() error {
	if err := s.codec.send(s.hello); err != nil {
		return err
	}
	for {
		f, err := s.codec.recv()
		if isBadFrame(err) {
			continue
		}
		if err != nil {
			return err
		}
		switch f.Op {
		case opRun:
			in := s.register(f.ID)
			go s.run(f, in)
		case opWrite:
			in := s.register(f.ID)
			go s.write(f, in)
		case opRead:
			in := s.register(f.ID)
			go s.read(f, in)
		case opData, opEOF, opCancel:
			s.deliver(f)
		case opPowerOff:
			if err := s.codec.send(frame{ID: f.ID, Op: opDone}); err != nil {
				return err
			}
			return errPowerOff
		default:
			s.fail(f.ID, fmt.Errorf("unknown operation %q", f.Op))
		}
	}
}

func (s *server) register(id uint64) *inbox {
	in := &inbox{frames: make(chan frame, 16), done: make(chan struct{})}
	s.mu.Lock()
	s.inboxs[id] = in
	s.mu.Unlock()
	return in
}

func (s *server) finish(id uint64, in *inbox) {
	s.mu.Lock()
	delete(s.inboxs, id)
	s.mu.Unlock()
	close(in.done)
}

// deliver passes f to its request's handler; frames of finished requests
// are dropped.
func (s *server) deliver(f frame) {
	s.mu.Lock()
	in := s.inboxs[f.ID]
	s.mu.Unlock()
	if in == nil {
		return
	}
	select {
	case in.frames <- f:
	case <-in.done:
	}
}

func (s *server) fail(id uint64, err error) {
	_ = s.codec.send(frame{ID: id, Op: opError, Error: err.Error()})
}

// run starts a process and streams its output and exit code.
func (s *server) run(f frame, in *inbox) {
	defer s.finish(f.ID, in)
	if len(f.Argv) == 0 {
		s.fail(f.ID, errors.New("empty argv"))
		return
	}
	env := mergeEnv(s.baseEnv, f.Env)
	dir := f.Dir
	if dir == "" {
		dir = "/"
	}
	path, err := lookPath(f.Argv[0], env, dir)
	if err != nil {
		s.fail(f.ID, err)
		return
	}
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		s.fail(f.ID, err)
		return
	}
	stdinW.Close() // the process reads EOF
	outR, outW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		s.fail(f.ID, err)
		return
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		outR.Close()
		outW.Close()
		s.fail(f.ID, err)
		return
	}
	pid, exited, err := s.procs.start(path, f.Argv, env, dir, []uintptr{stdinR.Fd(), outW.Fd(), errW.Fd()})
	stdinR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		s.fail(f.ID, fmt.Errorf("start %s: %w", f.Argv[0], err))
		return
	}

	var pumps sync.WaitGroup
	pumps.Add(2)
	go s.pump(&pumps, f.ID, opStdout, outR)
	go s.pump(&pumps, f.ID, opStderr, errR)

	var ws unix.WaitStatus
wait:
	for {
		select {
		case ws = <-exited:
			break wait
		case g := <-in.frames:
			if g.Op == opCancel {
				_ = unix.Kill(-pid, unix.SIGKILL)
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	pumped := make(chan struct{})
	go func() { pumps.Wait(); close(pumped) }()
	select {
	case <-pumped:
	case <-time.After(outputGrace):
		outR.Close()
		errR.Close()
		<-pumped
	}
	outR.Close()
	errR.Close()
	code := ws.ExitStatus()
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	_ = s.codec.send(frame{ID: f.ID, Op: opExit, Code: code})
}

// pump sends what r yields as op frames until r ends.
func (s *server) pump(wg *sync.WaitGroup, id uint64, op string, r io.Reader) {
	defer wg.Done()
	buf := make([]byte, chunkSize)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if s.codec.send(frame{ID: id, Op: op, Data: buf[:n]}) != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// write receives a file: it is written beside its destination and renamed
// into place at eof, so a cancelled or failed write leaves nothing behind.
func (s *server) write(f frame, in *inbox) {
	defer s.finish(f.ID, in)
	if !filepath.IsAbs(f.Path) {
		s.fail(f.ID, fmt.Errorf("path %q is not absolute", f.Path))
		return
	}
	mode := fs.FileMode(f.Mode).Perm()
	if mode == 0 {
		mode = 0o644
	}
	dir, base := filepath.Split(f.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.fail(f.ID, err)
		return
	}
	tmp, err := os.CreateTemp(dir, "."+base+".kiln-*")
	if err != nil {
		s.fail(f.ID, err)
		return
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	for g := range in.frames {
		switch g.Op {
		case opData:
			if _, err := tmp.Write(g.Data); err != nil {
				s.fail(f.ID, err)
				return
			}
		case opCancel:
			return
		case opEOF:
			if err := tmp.Chmod(mode); err != nil {
				s.fail(f.ID, err)
				return
			}
			if err := tmp.Close(); err != nil {
				s.fail(f.ID, err)
				return
			}
			if err := os.Rename(tmp.Name(), f.Path); err != nil {
				s.fail(f.ID, err)
				return
			}
			ok = true
			_ = s.codec.send(frame{ID: f.ID, Op: opDone})
			return
		}
	}
}

// read sends a file's content.
func (s *server) read(f frame, in *inbox) {
	defer s.finish(f.ID, in)
	file, err := os.Open(f.Path)
	if err != nil {
		s.fail(f.ID, err)
		return
	}
	defer file.Close()
	buf := make([]byte, chunkSize)
	for {
		select {
		case g := <-in.frames:
			if g.Op == opCancel {
				return
			}
		default:
		}
		n, err := file.Read(buf)
		if n > 0 {
			if s.codec.send(frame{ID: f.ID, Op: opData, Data: buf[:n]}) != nil {
				return
			}
		}
		if err == io.EOF {
			_ = s.codec.send(frame{ID: f.ID, Op: opDone})
			return
		}
		if err != nil {
			s.fail(f.ID, err)
			return
		}
	}
}

func hasKey(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// mergeEnv returns base with add's entries replacing those of the same key
// and the rest appended, in order.
func mergeEnv(base, add []string) []string {
	out := make([]string, 0, len(base)+len(add))
	index := map[string]int{}
	for _, kv := range append(append([]string(nil), base...), add...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := index[k]; ok {
			out[i] = kv
			continue
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// lookPath finds name the way a shell would with env's PATH; a name with a
// slash is used as given (relative to dir, where the process starts).
func lookPath(name string, env []string, dir string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", name)
}

// reaper starts processes and collects their exit statuses. As PID 1 it
// also reaps every orphan the kernel hands to init; otherwise it waits only
// for its own children, leaving the rest of the process alone. Starting a
// process and registering its pid happen under the lock reaping takes, so
// an early exit is never collected before anyone waits for it.
type reaper struct {
	all bool // reap any child (PID 1)

	mu      sync.Mutex
	waiting map[int]chan unix.WaitStatus
}

func newReaper(all bool) *reaper {
	r := &reaper{all: all, waiting: map[int]chan unix.WaitStatus{}}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	go func() {
		for range sigs {
			r.reap()
		}
	}()
	return r
}

// start runs path in its own process group with files as fds 0, 1, 2.
func (r *reaper) start(path string, argv, env []string, dir string, files []uintptr) (int, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   dir,
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan unix.WaitStatus, 1)
	r.waiting[pid] = ch
	// A SIGCHLD that arrived before registration was not lost: reaping
	// waits for this lock, and the reap that follows finds the child.
	return pid, ch, nil
}

func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.all {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if pid <= 0 || err != nil {
				return
			}
			r.deliver(pid, ws)
		}
	}
	for pid := range r.waiting {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if got == pid && err == nil {
			r.deliver(pid, ws)
		}
	}
}

func (r *reaper) deliver(pid int, ws unix.WaitStatus) {
	if ch, ok := r.waiting[pid]; ok {
		ch <- ws
		delete(r.waiting, pid)
	}
}
