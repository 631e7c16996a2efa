package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/kiln-build/kiln/internal/blob"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/store"
)

// Defaults of the engine's timing. A lease is renewed every renewEvery, so
// a worker that dies frees its jobs within defaultLease; the same renewal
// notices cancellation requests, which bounds how long a cancelled build
// keeps running.
const (
	defaultLease   = 10 * time.Second
	renewEvery     = time.Second
	defaultPoll    = 2 * time.Second
	defaultWorkers = 2
	// maxAttempts bounds restarts after crashes: a build interrupted that
	// often is failed rather than tried forever.
	maxAttempts = 2
)

// Engine runs queued builds. Several engines (processes) may share one
// store: a job is claimed in a transaction and held by a lease.
type Engine struct {
	Store  store.Store
	Region string
	// Executors implement the workflow actions per image type
	// (awsapi.ImageTypeDocker, awsapi.ImageTypeAmi).
	Executors map[string]Executor
	// Workers is the most builds this process runs at once.
	Workers int
	// DataDir is kiln's data directory: step logs go to DataDir/logs,
	// builds work in DataDir/builds.
	DataDir string
	Log     *slog.Logger
	Now     func() time.Time
	// Blobs, when set, is the store shared by every node (kiln serve
	// --blob-store) that build logs are shipped to and read from, so any
	// node serves any build's logs (logsegments.go). Nil keeps logs in
	// DataDir only.
	Blobs blob.Store
	// UploadLog, when set, ships build logs to the S3 bucket an
	// infrastructure configuration's logging.s3Logs names.
	UploadLog LogUploader
	// Vulns is the vulnerability database image scans match against (nil:
	// none, and scans end ABANDONED saying so); ScanMetrics, when set,
	// counts what they find.
	Vulns       scan.Database
	ScanMetrics *scan.Metrics
	// NodeID names this kiln process among the nodes sharing the store
	// (DefaultNodeID when empty); see node.go.
	NodeID string
	// Lease and Poll override the defaults (tests).
	Lease, Poll time.Duration

	id   string
	wake chan struct{}
	once sync.Once

	mu      sync.Mutex
	running map[string]context.CancelCauseFunc // image ARN → cancel of its build

	metrics nodeMetrics
}

// errCancelled is the cause a build's context carries when
// CancelImageCreation stopped it.
var errCancelled = errors.New("the image build was cancelled")

func (e *Engine) init() {
	e.once.Do(func() {
		b := make([]byte, 6)
		rand.Read(b)
		host, _ := os.Hostname()
		if e.NodeID == "" {
			e.NodeID = DefaultNodeID()
		}
		e.id = fmt.Sprintf("%s/%s/%d/%s", e.NodeID, host, os.Getpid(), hex.EncodeToString(b))
		e.wake = make(chan struct{}, 1)
		e.running = map[string]context.CancelCauseFunc{}
		if e.Log == nil {
			e.Log = slog.New(slog.DiscardHandler)
		}
		if e.Workers <= 0 {
			e.Workers = defaultWorkers
		}
		if e.Lease <= 0 {
			e.Lease = defaultLease
		}
		if e.Poll <= 0 {
			e.Poll = defaultPoll
			if _, ok := e.Store.(store.Notifier); ok {
				e.Poll = notifiedPoll
			}
		}
	})
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

// Wake tells the engine a job was enqueued, so an idle worker claims it
// now rather than at its next poll; when the store can notify, the other
// nodes' engines are told too.
func (e *Engine) Wake() {
	e.init()
	e.wakeLocal()
	e.notify()
}

// wakeLocal wakes this engine only: a slot came free here.
func (e *Engine) wakeLocal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx is done, then waits for the running
// builds to stop. Builds stopped that way keep their jobs, whose leases
// lapse, so the next start resumes them: shutting down never leaves an
// image half-written and never loses a build.
func (e *Engine) Run(ctx context.Context) {
	e.init()
	if e.DataDir != "" {
		go SweepTrash(e.DataDir)
	}
	slots := make(chan struct{}, e.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	notified, unsubscribe := e.subscribe()
	defer unsubscribe()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-e.wake:
		case <-notified:
		}
		// The next look: at the poll, or sooner when a job another
		// worker holds has a lease that lapses first (its worker may
		// have died), so a takeover waits for the lease and no longer.
		next := e.Poll
		// Claim as many jobs as there are free slots.
		for {
			select {
			case slots <- struct{}{}:
			default:
				goto wait
			}
			j, ok, lapse, err := e.claim(ctx)
			if !lapse.IsZero() {
				next = min(next, max(lapse.Sub(e.now())+50*time.Millisecond, 50*time.Millisecond))
			}
			if err != nil && ctx.Err() == nil {
				e.Log.Error("claiming a build job", "err", err)
			}
			if !ok {
				<-slots
				break
			}
			wg.Add(1)
			sl := &slot{ch: slots, held: true}
			go func() {
				defer wg.Done()
				defer func() { sl.release(); e.wakeLocal() }()
				e.runJob(context.WithValue(ctx, slotKey{}, sl), j)
			}()
		}
	wait:
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// claim takes the oldest job no live worker holds. It writes the claim
// with Replace, a compare-and-set on the job as it was read, so that two
// engines reading the same free job cannot both take it even on a store
// whose Updates are not serializable: the loser moves on to the next job.
// fn resets what it found on entry, as Update may run it more than once.
//
// It also returns the earliest lease among the jobs other live workers
// hold (zero when none), when one of them may next be free.
func (e *Engine) claim(ctx context.Context) (Job, bool, time.Time, error) {
	var (
		got          Job
		ok           bool
		lapse        time.Time
		waiting      int
		waitedFor    time.Duration
		now          time.Time
		claimStarted = time.Now()
	)
	err := e.Store.Update(ctx, func(tx store.Tx) error {
		got, ok, lapse, waiting, waitedFor = Job{}, false, time.Time{}, 0, 0
		now = e.now()
		rows, err := tx.List(ctx, store.Query{Kind: KindJob, Region: e.Region})
		if err != nil {
			return err
		}
		type free struct {
			job Job
			doc []byte
		}
		var candidates []free
		for _, r := range rows {
			j, err := decode[Job](r)
			if err != nil {
				return err
			}
			if j.Worker != "" && now.Before(j.LeaseUntil) && !e.deadWorker(j.Worker) {
				if lapse.IsZero() || j.LeaseUntil.Before(lapse) {
					lapse = j.LeaseUntil
				}
				continue
			}
			candidates = append(candidates, free{j, r.Doc})
		}
		waiting = len(candidates)
		slices.SortStableFunc(candidates, func(a, b free) int { return a.job.Enqueued.Compare(b.job.Enqueued) })
		for _, c := range candidates {
			j := c.job
			// How long the job waited to be claimed: since it was
			// enqueued, or since the lease of a worker that died lapsed
			// (a dead process of this node: not at all).
			since := j.Enqueued
			if j.Worker != "" {
				since = j.LeaseUntil
				if since.After(now) {
					since = now
				}
			}
			waitedFor = max(now.Sub(since), 0)
			j.Attempt++
			j.Worker, j.LeaseUntil = e.id, now.Add(e.Lease)
			err := tx.Replace(ctx, jobRow(e.Region, j, now), c.doc)
			if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
				continue // another engine took or finished it since we read it
			}
			if err != nil {
				return err
			}
			got, ok = j, true
			waiting--
			return nil
		}
		return nil
	})
	if err != nil {
		return Job{}, false, time.Time{}, err
	}
	e.metrics.sawQueue(waiting)
	if ok {
		e.metrics.claimed(waitedFor, time.Since(claimStarted))
		e.Log.Info("build claimed", "image", got.Image, "attempt", got.Attempt, "worker", got.Worker, "waited", waitedFor)
	}
	return got, ok, lapse, nil
}

// renew extends j's lease and reports whether cancellation was asked for.
// It fails when the job is gone or another worker took it over.
func (e *Engine) renew(ctx context.Context, image string) (cancel bool, err error) {
	err = e.Store.Update(ctx, func(tx store.Tx) error {
		r, err := tx.Get(ctx, jobKey(image))
		if err != nil {
			return err
		}
		j, err := decode[Job](r)
		if err != nil {
			return err
		}
		if j.Worker != e.id {
			return fmt.Errorf("the build job of %s was taken over by %s", image, j.Worker)
		}
		now := e.now()
		j.LeaseUntil = now.Add(e.Lease)
		cancel = j.CancelRequested
		// Replace, not Put: a takeover committed since the Get must not
		// be overwritten by this lease.
		return tx.Replace(ctx, jobRow(e.Region, j, now), r.Doc)
	})
	return cancel, err
}

// runJob runs one claimed job to a terminal state, renewing its lease
// meanwhile. When ctx ends first (kiln is stopping), the job is left for
// the next start.
func (e *Engine) runJob(ctx context.Context, j Job) {
	buildCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	e.mu.Lock()
	e.running[j.Image] = cancel
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.running, j.Image)
		e.mu.Unlock()
	}()

	renewDone := make(chan struct{})
	go func() {
		defer close(renewDone)
		t := time.NewTicker(renewEvery)
		defer t.Stop()
		for {
			select {
			case <-buildCtx.Done():
				return
			case <-t.C:
			}
			cancelAsked, err := e.renew(ctx, j.Image)
			switch {
			case err != nil && ctx.Err() == nil:
				e.Log.Error("renewing a build lease", "image", j.Image, "err", err)
				cancel(fmt.Errorf("lost the build job: %w", err))
				return
			case cancelAsked:
				cancel(errCancelled)
				return
			}
		}
	}()

	status, reason := e.execute(buildCtx, j)
	cancel(nil)
	<-renewDone
	if ctx.Err() != nil && status != awsapi.ImageStatusAvailable {
		// kiln is stopping: leave the job to the next start.
		e.Log.Info("build interrupted by shutdown; it resumes at the next start", "image", j.Image)
		return
	}
	e.finish(j, status, reason)
}

// errJobSettled is finish's answer for a job this worker no longer holds.
var errJobSettled = errors.New("the build job was settled by another worker or a cancel")

// finish records a build's terminal state and removes its job, in one
// transaction. It uses a fresh context: a build that ended must be
// recorded even while kiln is shutting down.
func (e *Engine) finish(j Job, status, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, reason = j.finalState(status, reason)
	err := e.Store.Update(ctx, func(tx store.Tx) error {
		// Only the holder of the job records its end. A job that is gone
		// or held by another worker was settled without this one: a
		// cancel that found the lease lapsed (the image is CANCELLED), or
		// a takeover by another node that now runs the build. Writing
		// this worker's outcome would overwrite theirs.
		held, err := GetJob(ctx, tx, j.Image)
		if errors.Is(err, store.ErrNotFound) {
			return errJobSettled
		} else if err != nil {
			return err
		}
		if held.Worker != e.id || held.Attempt != j.Attempt {
			return errJobSettled
		}
		if err := setImageState(ctx, tx, j.Image, status, reason, e.now(), func(img *awsapi.Image) { abandonScan(img, status) }); err != nil {
			return err
		}
		return tx.Delete(ctx, jobKey(j.Image))
	})
	if errors.Is(err, errJobSettled) {
		e.Log.Warn("build ended after its job was settled elsewhere; its outcome is not recorded", "image", j.Image, "status", status, "reason", reason)
		return
	}
	if err != nil {
		e.Log.Error("recording the end of a build", "image", j.Image, "status", status, "err", err)
		return
	}
	e.Log.Info("build finished", "image", j.Image, "status", status, "reason", reason)
}

// slot is a build's place among the engine's Workers. A build waiting for
// a person (WaitForAction) gives its slot back, so waiting builds never
// keep the others from running, and takes one again before it goes on.
// Only the build's own goroutine uses it.
type slot struct {
	ch   chan struct{}
	held bool
}

type slotKey struct{}

func (s *slot) release() {
	if s.held {
		<-s.ch
		s.held = false
	}
}

func (s *slot) acquire(ctx context.Context) error {
	if s.held {
		return nil
	}
	select {
	case s.ch <- struct{}{}:
		s.held = true
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// buildSlot is the slot of the build ctx belongs to (nil outside Run).
func buildSlot(ctx context.Context) *slot {
	s, _ := ctx.Value(slotKey{}).(*slot)
	return s
}
