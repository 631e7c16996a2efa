package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

const testRegion = "us-east-1"

// fakeClock is the engines' time in these tests; it moves only when the
// test says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newEngine is an engine on st that reads time from clock, with a lease
// of 10 clock seconds.
func newEngine(st store.Store, clock *fakeClock) *Engine {
	e := &Engine{Store: st, Region: testRegion, Now: clock.Now, Lease: 10 * time.Second}
	e.init()
	return e
}

func imageARN(i int) string {
	return fmt.Sprintf("arn:aws:imagebuilder:%s:111122223333:image/img/1.0.0/%d", testRegion, i)
}

// enqueue stores a PENDING image and its job, enqueued at the clock's
// time.
func enqueue(t *testing.T, st store.Store, clock *fakeClock, i int) string {
	t.Helper()
	a := imageARN(i)
	doc, _ := json.Marshal(awsapi.Image{Arn: a, State: &awsapi.ImageState{Status: awsapi.ImageStatusPending}})
	img := store.Resource{ARN: a, Kind: "image", Account: "111122223333", Region: testRegion,
		Name: "img", Version: "1.0.0", Build: i, Doc: doc}
	err := st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Insert(context.Background(), img); err != nil {
			return err
		}
		return Enqueue(context.Background(), tx, img, Spec{}, clock.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func job(t *testing.T, st store.Store, image string) (Job, error) {
	t.Helper()
	var j Job
	err := st.View(context.Background(), func(tx store.Tx) error {
		var err error
		j, err = GetJob(context.Background(), tx, image)
		return err
	})
	return j, err
}

func imageStatus(t *testing.T, st store.Store, image string) string {
	t.Helper()
	r, err := st.Get(context.Background(), image)
	if err != nil {
		t.Fatal(err)
	}
	img, err := decode[awsapi.Image](r)
	if err != nil || img.State == nil {
		t.Fatalf("image %s: %v", image, err)
	}
	return img.State.Status
}

func TestClaimOldestFirst(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	var images []string
	for i := range 3 {
		images = append(images, enqueue(t, st, clock, i+1))
		clock.Advance(time.Second)
	}
	e := newEngine(st, clock)
	ctx := context.Background()
	for _, want := range images {
		j, ok, _, err := e.claim(ctx)
		if err != nil || !ok {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		if j.Image != want || j.Attempt != 1 || j.Worker != e.id || !j.LeaseUntil.Equal(clock.Now().Add(e.Lease)) {
			t.Errorf("claimed %+v, want %s, attempt 1, held by %s until %s", j, want, e.id, clock.Now().Add(e.Lease))
		}
		stored, err := job(t, st, want)
		if err != nil || stored.Worker != e.id || stored.Attempt != 1 {
			t.Errorf("stored job %+v, %v", stored, err)
		}
	}
	if j, ok, _, err := e.claim(ctx); ok || err != nil {
		t.Errorf("claim with every job held = %+v, %v, %v", j, ok, err)
	}
}

// TestClaimConcurrentEngines has engines sharing a store claim at once:
// each job goes to exactly one of them.
func TestClaimConcurrentEngines(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	const jobs, engines = 12, 4
	for i := range jobs {
		enqueue(t, st, clock, i+1)
	}
	var (
		mu      sync.Mutex
		claimed = map[string]string{}
		wg      sync.WaitGroup
	)
	for range engines {
		e := newEngine(st, clock)
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

// TestLeaseExpiryTakeover: a job whose holder stops renewing is taken
// over once the lease lapses, counts a new attempt, and the old holder's
// next renewal fails.
func TestLeaseExpiryTakeover(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	image := enqueue(t, st, clock, 1)
	a, b := newEngine(st, clock), newEngine(st, clock)
	ctx := context.Background()
	if _, ok, _, err := a.claim(ctx); !ok || err != nil {
		t.Fatalf("a's claim = %v, %v", ok, err)
	}
	clock.Advance(a.Lease - time.Second)
	if j, ok, _, err := b.claim(ctx); ok || err != nil {
		t.Fatalf("b claimed a held job: %+v, %v", j, err)
	}
	// a renews: the lease runs from now again.
	if cancel, err := a.renew(ctx, image); cancel || err != nil {
		t.Fatalf("a's renewal = %v, %v", cancel, err)
	}
	clock.Advance(a.Lease - time.Second)
	if _, ok, _, _ := b.claim(ctx); ok {
		t.Fatal("b claimed a job whose lease a renewed")
	}
	clock.Advance(2 * time.Second) // past the renewed lease
	j, ok, _, err := b.claim(ctx)
	if !ok || err != nil || j.Image != image || j.Attempt != 2 || j.Worker != b.id {
		t.Fatalf("b's takeover = %+v, %v, %v", j, ok, err)
	}
	if _, err := a.renew(ctx, image); err == nil || !strings.Contains(err.Error(), "taken over") {
		t.Errorf("a's renewal after the takeover = %v, want taken over", err)
	}
	if _, err := b.renew(ctx, image); err != nil {
		t.Errorf("b's renewal = %v", err)
	}
}

func TestRenewNoticesCancel(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	image := enqueue(t, st, clock, 1)
	e := newEngine(st, clock)
	ctx := context.Background()
	if _, ok, _, err := e.claim(ctx); !ok || err != nil {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	var going bool
	err := st.Update(ctx, func(tx store.Tx) error {
		var err error
		going, err = RequestCancel(ctx, tx, image, clock.Now())
		return err
	})
	if err != nil || !going {
		t.Fatalf("RequestCancel of a held job = %v, %v", going, err)
	}
	if got := imageStatus(t, st, image); got != awsapi.ImageStatusPending {
		t.Errorf("a held job's image became %s at the request; its worker stops it", got)
	}
	if cancel, err := e.renew(ctx, image); !cancel || err != nil {
		t.Errorf("renew after RequestCancel = %v, %v, want cancel", cancel, err)
	}
}

func TestRequestCancelOfQueuedJob(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	image := enqueue(t, st, clock, 1)
	ctx := context.Background()
	err := st.Update(ctx, func(tx store.Tx) error {
		going, err := RequestCancel(ctx, tx, image, clock.Now())
		if err == nil && !going {
			err = errors.New("RequestCancel reported no build")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := imageStatus(t, st, image); got != awsapi.ImageStatusCancelled {
		t.Errorf("image = %s, want CANCELLED", got)
	}
	if _, err := job(t, st, image); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("job after cancel = %v, want gone", err)
	}
	if j, ok, _, err := newEngine(st, clock).claim(ctx); ok || err != nil {
		t.Errorf("claim after cancel = %+v, %v, %v", j, ok, err)
	}
}

func TestFinish(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	image := enqueue(t, st, clock, 1)
	e := newEngine(st, clock)
	ctx := context.Background()
	j, ok, _, err := e.claim(ctx)
	if !ok || err != nil {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	e.finish(j, awsapi.ImageStatusAvailable, "")
	if got := imageStatus(t, st, image); got != awsapi.ImageStatusAvailable {
		t.Errorf("image = %s, want AVAILABLE", got)
	}
	if _, err := job(t, st, image); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("job after finish = %v, want gone", err)
	}
	// A second finish (the job already gone) changes nothing: only the
	// job's holder records an outcome.
	e.finish(j, awsapi.ImageStatusFailed, "again")
	if got := imageStatus(t, st, image); got != awsapi.ImageStatusAvailable {
		t.Errorf("image after a second finish = %s, want AVAILABLE", got)
	}
	if _, err := e.renew(ctx, image); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("renew of a finished job = %v, want ErrNotFound", err)
	}
}

// TestFinishOfASettledJob: a worker whose job was settled without it — a
// cancel that found its lease lapsed, or another node's takeover — does
// not overwrite the outcome when its own build ends.
func TestFinishOfASettledJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("CancelledWhileLapsed", func(t *testing.T) {
		t.Parallel()
		st, clock := openStore(t), newClock()
		image := enqueue(t, st, clock, 1)
		e := newEngine(st, clock)
		j, ok, _, err := e.claim(ctx)
		if !ok || err != nil {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		clock.Advance(2 * e.Lease)
		if err := st.Update(ctx, func(tx store.Tx) error {
			_, err := RequestCancel(ctx, tx, image, clock.Now())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		e.finish(j, awsapi.ImageStatusFailed, "lost the build job")
		if got := imageStatus(t, st, image); got != awsapi.ImageStatusCancelled {
			t.Errorf("image = %s, want CANCELLED", got)
		}
	})
	t.Run("TakenOver", func(t *testing.T) {
		t.Parallel()
		st, clock := openStore(t), newClock()
		image := enqueue(t, st, clock, 1)
		first := newEngine(st, clock)
		j, ok, _, err := first.claim(ctx)
		if !ok || err != nil {
			t.Fatalf("claim = %v, %v", ok, err)
		}
		clock.Advance(2 * first.Lease)
		second := &Engine{Store: st, Region: testRegion, Now: clock.Now, Lease: 10 * time.Second, NodeID: "node-b"}
		second.init()
		if _, ok, _, err := second.claim(ctx); !ok || err != nil {
			t.Fatalf("takeover claim = %v, %v", ok, err)
		}
		first.finish(j, awsapi.ImageStatusFailed, "lost the build job")
		if got := imageStatus(t, st, image); got == awsapi.ImageStatusFailed {
			t.Errorf("image = %s after the first worker's late finish; the second worker holds it", got)
		}
		if _, err := job(t, st, image); err != nil {
			t.Errorf("the second worker's job = %v, want it kept", err)
		}
	})
}

func TestDeadWorker(t *testing.T) {
	t.Parallel()
	e := newEngine(nil, newClock())
	e2 := &Engine{NodeID: "node-b"}
	e2.init()
	host, _ := os.Hostname()
	// A process that has exited (and been reaped) is dead.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	exited := cmd.ProcessState.Pid()
	tests := []struct {
		name   string
		engine *Engine
		worker string
		want   bool
	}{
		{"Self", e, e.id, false},
		{"OtherSelf", e2, e2.id, false},
		// Worker ids written before nodes had ids: HOST/PID/RANDOM.
		{"LegacyLiveProcess", e, fmt.Sprintf("%s/%d/other", host, os.Getpid()), false},
		{"LegacyExitedProcess", e, fmt.Sprintf("%s/%d/abc", host, exited), true},
		{"LegacyOtherHost", e, fmt.Sprintf("%s-elsewhere/%d/abc", host, exited), false},
		// This node's earlier process: dead when it exited, or when it ran
		// on another host (the node moved); a live one is not.
		{"SameNodeExited", e2, fmt.Sprintf("node-b/%s/%d/abc", host, exited), true},
		{"SameNodeOtherHost", e2, fmt.Sprintf("node-b/%s-elsewhere/%d/abc", host, os.Getpid()), true},
		{"SameNodeLive", e2, fmt.Sprintf("node-b/%s/%d/abc", host, os.Getpid()), false},
		// Another node's worker waits for its lease, even on this host
		// with a process id that looks dead (another PID namespace).
		{"OtherNodeExited", e2, fmt.Sprintf("node-a/%s/%d/abc", host, exited), false},
		{"OtherNodeOtherHost", e2, fmt.Sprintf("node-a/%s-elsewhere/%d/abc", host, exited), false},
		{"Malformed", e, "just-a-name", false},
		{"TooManyFields", e, "a/b/c/1/d", false},
		{"BadPid", e, host + "/x/abc", false},
		{"ZeroPid", e, host + "/0/abc", false},
		{"NodeBadPid", e2, "node-b/" + host + "/x/abc", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.engine.deadWorker(tt.worker); got != tt.want {
				t.Errorf("deadWorker(%q) = %v, want %v", tt.worker, got, tt.want)
			}
		})
	}
}

// TestClaimTakesDeadWorkersJob: a job held by a dead process of
// this host is taken at once, without waiting for its lease.
func TestClaimTakesDeadWorkersJob(t *testing.T) {
	t.Parallel()
	st, clock := openStore(t), newClock()
	image := enqueue(t, st, clock, 1)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	ctx := context.Background()
	err := st.Update(ctx, func(tx store.Tx) error {
		j, err := GetJob(ctx, tx, image)
		if err != nil {
			return err
		}
		j.Attempt, j.Worker, j.LeaseUntil = 1, fmt.Sprintf("%s/%d/dead", host, cmd.ProcessState.Pid()), clock.Now().Add(time.Hour)
		return tx.Put(ctx, jobRow(testRegion, j, clock.Now()))
	})
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(st, clock)
	j, ok, _, err := e.claim(ctx)
	if !ok || err != nil || j.Attempt != 2 || j.Worker != e.id {
		t.Errorf("claim of a dead worker's job = %+v, %v, %v", j, ok, err)
	}
}

// stubExecutor stands in for the container and machine executors, whose
// steps the end-to-end tests run for real: here only the engine's own
// bookkeeping is under test.
type stubExecutor struct {
	openErr error
	mu      sync.Mutex
	closed  int
}

type stubInstance struct{ x *stubExecutor }

func (x *stubExecutor) Open(ctx context.Context, b *Build) (Instance, error) {
	if x.openErr != nil {
		return nil, x.openErr
	}
	return stubInstance{x}, nil
}

func (i stubInstance) Do(ctx context.Context, s *Step) error { return ErrUnsupportedAction }
func (i stubInstance) Close(keep bool) error {
	i.x.mu.Lock()
	defer i.x.mu.Unlock()
	i.x.closed++
	return nil
}

// waitStatus waits until Run has moved image to a terminal status.
func waitStatus(t *testing.T, st store.Store, image string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a fail-safe, not a measure
	for {
		if s := imageStatus(t, st, image); IsTerminal(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s never finished", image)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunBuildsQueuedJobs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		imageType  string
		exec       *stubExecutor
		attempt    int // the job's attempts before Run claims it
		wantStatus string
		wantReason string
	}{
		{"Available", "DOCKER", &stubExecutor{}, 0, awsapi.ImageStatusAvailable, ""},
		{"OpenFails", "DOCKER", &stubExecutor{openErr: errors.New("no room")}, 0, awsapi.ImageStatusFailed, "no room"},
		{"UnknownType", "FLOPPY", &stubExecutor{}, 0, awsapi.ImageStatusFailed, "cannot build images of type FLOPPY"},
		{"TooManyAttempts", "DOCKER", &stubExecutor{}, maxAttempts, awsapi.ImageStatusFailed, "not resumed again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, clock := openStore(t), newClock()
			image := enqueue(t, st, clock, 1)
			ctx := context.Background()
			err := st.Update(ctx, func(tx store.Tx) error {
				r, err := tx.Get(ctx, image)
				if err != nil {
					return err
				}
				img, _ := decode[awsapi.Image](r)
				img.Type = tt.imageType
				r.Doc, _ = json.Marshal(img)
				if err := tx.Put(ctx, r); err != nil {
					return err
				}
				j, err := GetJob(ctx, tx, image)
				if err != nil {
					return err
				}
				j.Attempt = tt.attempt
				return tx.Put(ctx, jobRow(testRegion, j, clock.Now()))
			})
			if err != nil {
				t.Fatal(err)
			}
			e := &Engine{Store: st, Region: testRegion, Now: clock.Now, DataDir: t.TempDir(),
				Executors: map[string]Executor{"DOCKER": tt.exec}, Poll: 10 * time.Millisecond}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); e.Run(runCtx) }()
			e.Wake()
			got := waitStatus(t, st, image)
			stop()
			<-done
			r, _ := st.Get(ctx, image)
			img, _ := decode[awsapi.Image](r)
			if got != tt.wantStatus || !strings.Contains(img.State.Reason, tt.wantReason) {
				t.Errorf("image %s (%q), want %s (%q)", got, img.State.Reason, tt.wantStatus, tt.wantReason)
			}
			if _, err := job(t, st, image); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("job after the build = %v, want gone", err)
			}
			if tt.wantStatus == awsapi.ImageStatusAvailable && tt.exec.closed != 1 {
				t.Errorf("instance closed %d times, want once", tt.exec.closed)
			}
		})
	}
}
