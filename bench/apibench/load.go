package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Request is one API call a scenario wants made, before signing.
type Request struct {
	Method string
	Path   string // path and query, e.g. "/GetComponent?componentBuildVersionArn=..."
	Body   []byte
}

// Worker produces the requests one load-generator goroutine sends. Each
// goroutine owns its Worker, so implementations need no locking.
type Worker interface {
	// Next returns the next request to send.
	Next() Request
	// Observe is given the body of every 200 response to the request Next
	// last returned; it is valid only during the call.
	Observe(body []byte)
}

// Scenario is one thing the benchmark measures.
type Scenario struct {
	Name string
	// NewWorker returns the request source for goroutine id of n.
	NewWorker func(id, n int) Worker
}

// Signer signs requests with SigV4 as an AWS SDK would: the body's SHA-256
// in the signature and in X-Amz-Content-Sha256. Every scenario, the floor
// included, pays this cost, so the client's share of the CPU is the same
// whichever server it talks to.
type Signer struct {
	Creds   aws.Credentials
	Service string
	Region  string
}

// sign adds the SigV4 headers to req, whose body is body.
func (s Signer) sign(ctx context.Context, v *v4.Signer, req *http.Request, body []byte) error {
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	return v.SignHTTP(ctx, s.Creds, req, hash, s.Service, s.Region, time.Now())
}

// Generator sends signed requests from a fixed number of goroutines over
// one keep-alive client and records every latency.
type Generator struct {
	BaseURL     string // "http://127.0.0.1:port"
	Signer      Signer
	Concurrency int
	Warmup      time.Duration // sent but not counted
	Duration    time.Duration // counted
	// ServerPID, when set, is the server's process, whose CPU time over
	// the measured window Result.ServerCPU reports.
	ServerPID int
}

// Result is what one run of a scenario measured.
type Result struct {
	Scenario    string        `json:"scenario"`
	Concurrency int           `json:"concurrency"`
	Requests    int           `json:"requests"` // completed in the measured window
	Elapsed     time.Duration `json:"elapsed_ns"`
	PerSecond   float64       `json:"requests_per_second"`
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	Max         time.Duration `json:"max_ns"`
	Errors      int           `json:"errors"` // non-200s and transport errors, warm-up included
	FirstError  string        `json:"first_error,omitempty"`
	// ServerCPU is the CPU time (user and system, all threads) the
	// server process spent per measured request, 0 when unknown. It moves
	// less than throughput when other work shares the machine (though a
	// contended machine inflates it too, the floor's figure shows by how
	// much), so it helps compare runs made under different loads.
	ServerCPU time.Duration `json:"server_cpu_per_request_ns,omitempty"`
	// ClientCPU is the same for this process, the load generator (its
	// signing, HTTP client and reading of responses): on a machine where
	// client and server share the CPUs it bounds the rate of every row,
	// the floor's included.
	ClientCPU time.Duration `json:"client_cpu_per_request_ns,omitempty"`
}

// newClient returns a client that keeps one idle connection per goroutine,
// so the measured window never pays for TCP handshakes.
func newClient(conns int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
		Timeout: 30 * time.Second,
	}
}

// workerStats is one goroutine's record; merged when all have stopped.
type workerStats struct {
	latencies []time.Duration
	errors    int
	firstErr  string
	lastDone  time.Time
}

// Run drives sc for g.Warmup+g.Duration and returns what the measured part
// saw. It returns an error only if it could not run at all; failed requests
// are counted in Result.Errors.
func (g *Generator) Run(ctx context.Context, sc Scenario) (Result, error) {
	n := g.Concurrency
	if n < 1 {
		return Result{}, fmt.Errorf("concurrency %d: want at least 1", n)
	}
	client := newClient(n)
	defer client.CloseIdleConnections()

	start := time.Now()
	measureFrom := start.Add(g.Warmup)
	stopAt := measureFrom.Add(g.Duration)
	stats := make([]workerStats, n)
	// CPU times at the start of the measured window: the server's and
	// this process's (the client's).
	type cpuTimes struct{ server, client time.Duration }
	cpuStart := make(chan cpuTimes, 1)
	go func() {
		time.Sleep(time.Until(measureFrom))
		t := cpuTimes{client: benchkit.ProcessCPU(os.Getpid())}
		if g.ServerPID > 0 {
			t.server = benchkit.ProcessCPU(g.ServerPID)
		}
		cpuStart <- t
	}()
	var wg sync.WaitGroup
	for i := range n {
		w := sc.NewWorker(i, n)
		st := &stats[i]
		st.latencies = make([]time.Duration, 0, 4096)
		c := newCaller(g.BaseURL, client, g.Signer)
		wg.Go(func() { g.drive(ctx, c, w, st, measureFrom, stopAt) })
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}

	res := Result{Scenario: sc.Name, Concurrency: n}
	var all []time.Duration
	last := measureFrom
	for i := range stats {
		st := &stats[i]
		all = append(all, st.latencies...)
		res.Errors += st.errors
		if res.FirstError == "" {
			res.FirstError = st.firstErr
		}
		if st.lastDone.After(last) {
			last = st.lastDone
		}
	}
	slices.Sort(all)
	res.Requests = len(all)
	res.Elapsed = last.Sub(measureFrom)
	if res.Elapsed > 0 {
		res.PerSecond = float64(res.Requests) / res.Elapsed.Seconds()
	}
	if res.Requests > 0 {
		before := <-cpuStart
		if after := benchkit.ProcessCPU(os.Getpid()); before.client > 0 && after > before.client {
			res.ClientCPU = (after - before.client) / time.Duration(res.Requests)
		}
		if g.ServerPID > 0 {
			if after := benchkit.ProcessCPU(g.ServerPID); before.server > 0 && after > before.server {
				res.ServerCPU = (after - before.server) / time.Duration(res.Requests)
			}
		}
	}
	res.P50 = benchkit.Percentile(all, 50)
	res.P99 = benchkit.Percentile(all, 99)
	if len(all) > 0 {
		res.Max = all[len(all)-1]
	}
	return res, nil
}

// caller sends signed requests over a shared client. It is used by one
// goroutine at a time: it reuses its signer and body buffer.
type caller struct {
	base   string
	client *http.Client
	signer Signer
	v4     *v4.Signer
	buf    bytes.Buffer
}

func newCaller(base string, client *http.Client, s Signer) *caller {
	return &caller{base: base, client: client, signer: s, v4: v4.NewSigner()}
}

// do sends r and returns the response body, valid until the next call. Any
// status but 200 is an error.
func (c *caller) do(ctx context.Context, r Request) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, c.base+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return nil, err
	}
	if r.Body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := c.signer.sign(ctx, c.v4, req, r.Body); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	c.buf.Reset()
	if _, err := io.Copy(&c.buf, resp.Body); err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", r.Method, r.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %.200s: %s: %.300s", r.Method, r.Path, resp.Status, c.buf.Bytes())
	}
	return c.buf.Bytes(), nil
}

// drive is one goroutine: send, wait, record, until stopAt. A request is
// counted when it started inside the measured window.
func (g *Generator) drive(ctx context.Context, c *caller, w Worker, st *workerStats, measureFrom, stopAt time.Time) {
	for {
		r := w.Next()
		t0 := time.Now()
		if !t0.Before(stopAt) || ctx.Err() != nil {
			return
		}
		body, err := c.do(ctx, r)
		done := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			st.errors++
			if st.firstErr == "" {
				st.firstErr = err.Error()
			}
		} else {
			w.Observe(body)
		}
		if !t0.Before(measureFrom) {
			st.latencies = append(st.latencies, done.Sub(t0))
			st.lastDone = done
		}
	}
}
