package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/internal/store"
)

// Several kiln processes ("nodes") may share one store and run builds
// together. Each has a node id (kiln serve --node-id); a worker id, the
// name a job's claim carries, is NODE/HOST/PID/RANDOM, so the record of a
// build says which node runs it, and a node that restarts recognises the
// jobs of its own earlier process.

// An engine whose store implements store.Notifier (PostgreSQL's
// LISTEN/NOTIFY; SQLite's in-process wake-ups) wakes through it: a Wake on
// one node reaches every node's idle workers. A store without it needs
// nothing more: its engine wakes in-process and polls as a safety net.

// JobsChannel is the Notifier channel an enqueued build is announced on.
const JobsChannel = "kiln_jobs"

// notifiedPoll is the poll of an engine whose store notifies: the
// notifications wake it, and the poll only covers one that was lost (a
// dropped database connection).
const notifiedPoll = 5 * time.Second

// ValidNodeID reports why a node id is unusable ("" when it is fine). A
// node id is a worker id's first field and a metrics label value, so it is
// short and has no '/', space or quote.
func ValidNodeID(id string) string {
	if id == "" {
		return "is empty"
	}
	if len(id) > 64 {
		return "is longer than 64 characters"
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r)
		if !ok {
			return fmt.Sprintf("has %q: use letters, digits and . _ : -", r)
		}
	}
	return ""
}

// DefaultNodeID is the node id of a kiln serve not given one: the host
// name. It stays the same across restarts, so a restarted node takes its
// earlier process's jobs at once; several nodes on one host must each be
// given their own.
func DefaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || ValidNodeID(host) != "" {
		return "kiln"
	}
	return host
}

// worker is a parsed worker id.
type worker struct {
	node, host string
	pid        int
}

// parseWorker reads a worker id: NODE/HOST/PID/RANDOM, or HOST/PID/RANDOM
// as kiln wrote them before nodes had ids (node is then "").
func parseWorker(id string) (worker, bool) {
	f := strings.Split(id, "/")
	var w worker
	switch len(f) {
	case 3:
		w.host = f[0]
	case 4:
		w.node, w.host = f[0], f[1]
	default:
		return worker{}, false
	}
	pid, err := strconv.Atoi(f[len(f)-2])
	if err != nil || pid <= 0 {
		return worker{}, false
	}
	w.pid = pid
	return w, true
}

// deadWorker reports whether a worker id names a process known to have
// ended, whose jobs need not wait for their leases to lapse:
//   - a process of this node other than this one: a node runs one process
//     at a time, so it is this node's earlier process (killed a moment
//     ago) — unless it is on this host and still alive, which means two
//     live processes were given one node id, and their jobs are left to
//     their leases;
//   - a process written before nodes had ids, of this host, that no longer
//     runs.
//
// Any other node's worker is judged by its lease alone: its process id
// means nothing here (another host, or another PID namespace of this
// host, where a live process can look dead).
func (e *Engine) deadWorker(id string) bool {
	if id == e.id {
		return false
	}
	w, ok := parseWorker(id)
	if !ok {
		return false
	}
	host, _ := os.Hostname()
	switch {
	case w.node != "" && w.node == e.NodeID:
		return w.host != host || !processAlive(w.pid)
	case w.node == "" && w.host == host:
		return !processAlive(w.pid)
	}
	return false
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) != syscall.ESRCH
}

// subscribe returns the channel notifications of enqueued jobs arrive on
// (nil when the store cannot notify) and how to stop it.
func (e *Engine) subscribe() (<-chan struct{}, func()) {
	n, ok := e.Store.(store.Notifier)
	if !ok {
		return nil, func() {}
	}
	return n.Subscribe(JobsChannel)
}

// notify tells the other nodes a job was enqueued, when the store can.
// It is best-effort: a lost notification costs the other nodes one poll.
func (e *Engine) notify() {
	n, ok := e.Store.(store.Notifier)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := n.Notify(ctx, JobsChannel); err != nil {
			e.Log.Warn("notifying other nodes of a queued build", "err", err)
		}
	}()
}
