package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/pgtest"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// nodeEngine is an engine of node id node on st.
func nodeEngine(st store.Store, clock *fakeClock, node string) *Engine {
	e := &Engine{Store: st, Region: testRegion, Now: clock.Now, Lease: 10 * time.Second, NodeID: node}
	e.init()
	return e
}

// TestNodesTakeOverAfterLease: two nodes on one store. A job another node
// holds is left alone until its lease lapses, whatever its process id
// looks like here, and then taken over as a restart.
func TestNodesTakeOverAfterLease(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	image := enqueue(t, st, clock, 1)
	a, b := nodeEngine(st, clock, "node-a"), nodeEngine(st, clock, "node-b")
	ctx := context.Background()
	j, ok, _, err := a.claim(ctx)
	if !ok || err != nil || !strings.HasPrefix(j.Worker, "node-a/") {
		t.Fatalf("node-a's claim = %+v, %v, %v", j, ok, err)
	}
	_, ok, lapse, err := b.claim(ctx)
	if ok || err != nil {
		t.Fatalf("node-b claimed a held job: %v, %v", ok, err)
	}
	if want := clock.Now().Add(a.Lease); !lapse.Equal(want) {
		t.Errorf("node-b's next look = %s, want the lease's end %s", lapse, want)
	}
	clock.Advance(a.Lease + time.Second)
	j, ok, _, err = b.claim(ctx)
	if !ok || err != nil || j.Image != image || j.Attempt != 2 || !strings.HasPrefix(j.Worker, "node-b/") {
		t.Fatalf("node-b's takeover = %+v, %v, %v", j, ok, err)
	}
	if _, err := a.renew(ctx, image); err == nil || !strings.Contains(err.Error(), "taken over by node-b/") {
		t.Errorf("node-a's renewal after the takeover = %v, want taken over by node-b", err)
	}
	var out bytes.Buffer
	b.WriteMetrics(&out)
	for _, want := range []string{
		`kiln_build_claims_total{node="node-b"} 1`,
		`kiln_build_queue_depth{node="node-b"} 0`,
		`kiln_build_claim_latency_seconds_bucket{node="node-b",le="1"} 1`,
		`kiln_build_claim_latency_seconds_count{node="node-b"} 1`,
		`kiln_build_claim_transaction_seconds_count{node="node-b"} 1`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("node-b's metrics lack %q:\n%s", want, out.String())
		}
	}
}

// TestRestartedNodeTakesItsJobAtOnce: a job of this node's earlier,
// exited process is taken without waiting for its lease; the same job
// held by another node's exited process waits.
func TestRestartedNodeTakesItsJobAtOnce(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	tests := []struct {
		name, holder string
		want         bool
	}{
		{"ThisNode", "node-a", true},
		{"OtherNode", "node-c", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, clock := openStore(t), newClock()
			image := enqueue(t, st, clock, 1)
			ctx := context.Background()
			err := st.Update(ctx, func(tx store.Tx) error {
				j, err := GetJob(ctx, tx, image)
				if err != nil {
					return err
				}
				j.Attempt, j.LeaseUntil = 1, clock.Now().Add(time.Hour)
				j.Worker = fmt.Sprintf("%s/%s/%d/dead", tt.holder, host, cmd.ProcessState.Pid())
				return tx.Put(ctx, jobRow(testRegion, j, clock.Now()))
			})
			if err != nil {
				t.Fatal(err)
			}
			_, ok, _, err := nodeEngine(st, clock, "node-a").claim(ctx)
			if ok != tt.want || err != nil {
				t.Errorf("claim = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
}

// notifyingStore is a store that notifies within this process, standing
// in for PostgreSQL's LISTEN/NOTIFY in a unit test; test/nodes runs the
// real one across processes.
type notifyingStore struct {
	store.Store
	mu   sync.Mutex
	subs map[string][]chan struct{}
}

func (s *notifyingStore) Notify(ctx context.Context, channel string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.subs[channel] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
	return nil
}

func (s *notifyingStore) Subscribe(channel string) (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[string][]chan struct{}{}
	}
	s.subs[channel] = append(s.subs[channel], c)
	return c, func() {}
}

// TestNotifiedNodeBuilds: a build enqueued through one node is run by an
// idle node whose poll is an hour away, woken by the store's
// notification.
func TestNotifiedNodeBuilds(t *testing.T) {
	t.Parallel()
	clock := newClock()
	st := &notifyingStore{Store: openStore(t)}
	a := nodeEngine(st, clock, "node-a")
	b := &Engine{Store: st, Region: testRegion, Now: clock.Now, NodeID: "node-b", DataDir: t.TempDir(),
		Executors: map[string]Executor{"DOCKER": &stubExecutor{}}, Poll: time.Hour}
	if b.init(); b.Poll != time.Hour {
		t.Fatalf("poll = %s, want the hour asked for", b.Poll)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); b.Run(ctx) }()
	defer func() { stop(); <-done }()
	// Wait until node-b is idle, its first look done and subscribed.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		st.mu.Lock()
		n := len(st.subs[JobsChannel])
		st.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node-b never subscribed")
		}
	}
	image := enqueue(t, st, clock, 1)
	a.Wake()
	if got := waitStatus(t, st, image); !IsTerminal(got) {
		t.Fatalf("status %s", got)
	}
	r, _ := st.Get(context.Background(), image)
	img, _ := decode[awsapi.Image](r)
	if !strings.Contains(img.State.Reason, "cannot build images of type") {
		t.Errorf("reason %q, want node-b's executor lookup", img.State.Reason)
	}
}

// TestDefaultPollWithNotifier: an engine whose store notifies polls
// slowly, one whose store cannot polls often.
func TestDefaultPollWithNotifier(t *testing.T) {
	t.Parallel()
	plain := openStore(t)
	tests := []struct {
		name string
		st   store.Store
		want time.Duration
	}{
		{"WithoutNotifier", struct{ store.Store }{plain}, defaultPoll},
		{"SQLite", plain, notifiedPoll}, // its in-process wake-ups
		{"Notifying", &notifyingStore{Store: plain}, notifiedPoll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Engine{Store: tt.st}
			if e.init(); e.Poll != tt.want {
				t.Errorf("poll = %s, want %s", e.Poll, tt.want)
			}
		})
	}
}

func TestValidNodeID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id string
		ok bool
	}{
		{"node-a", true},
		{"build1.example.com:8080", true},
		{"a_b", true},
		{"", false},
		{"a/b", false},
		{"a b", false},
		{`a"b`, false},
		{strings.Repeat("x", 65), false},
		{strings.Repeat("x", 64), true},
	}
	for _, tt := range tests {
		if why := ValidNodeID(tt.id); (why == "") != tt.ok {
			t.Errorf("ValidNodeID(%q) = %q, want ok=%v", tt.id, why, tt.ok)
		}
	}
	if why := ValidNodeID(DefaultNodeID()); why != "" {
		t.Errorf("the default node id %q %s", DefaultNodeID(), why)
	}
}

// FuzzParseWorker: any worker id parses or is refused without panicking,
// and what parses has a positive pid and names a host.
func FuzzParseWorker(f *testing.F) {
	for _, s := range []string{"node-a/host/12/abc", "host/12/abc", "a/b/c/d/e", "//0/", "n/h/-1/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		w, ok := parseWorker(id)
		if !ok {
			return
		}
		if w.pid <= 0 || strings.Contains(w.host, "/") || strings.Contains(w.node, "/") {
			t.Errorf("parseWorker(%q) = %+v", id, w)
		}
	})
}

// TestNodesClaimConcurrentlyOnPostgreSQL: three nodes, each with its own
// connection pool to one PostgreSQL database (as separate processes have),
// claim a queue at once: each job goes to exactly one node, and every job
// is claimed.
func TestNodesClaimConcurrentlyOnPostgreSQL(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	open := func() store.Store {
		st, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	clock := newClock()
	first := open()
	const jobs, nodes = 12, 3
	for i := range jobs {
		enqueue(t, first, clock, i+1)
	}
	var (
		mu      sync.Mutex
		claimed = map[string]string{}
		wg      sync.WaitGroup
	)
	for n := range nodes {
		st := first
		if n > 0 {
			st = open()
		}
		e := nodeEngine(st, clock, fmt.Sprintf("node-%d", n))
		wg.Go(func() {
			for {
				j, ok, _, err := e.claim(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				if other, dup := claimed[j.Image]; dup {
					t.Errorf("%s claimed by %s and %s", j.Image, other, e.id)
				}
				claimed[j.Image] = e.id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != jobs {
		t.Errorf("%d of %d jobs claimed", len(claimed), jobs)
	}
}
