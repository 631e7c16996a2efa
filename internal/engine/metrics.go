package engine

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// claimBuckets are the upper bounds, in seconds, of the claim-latency
// histogram: from a notified wake (milliseconds) through a poll (seconds)
// to a takeover after a lease lapsed or a queue that waited for a free
// worker (minutes).
var claimBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}

// nodeMetrics is what /metrics says about this node's engine.
type nodeMetrics struct {
	mu sync.Mutex
	// queue is how many jobs no live worker held at this node's last
	// look (those it then left for others or for a free slot).
	queue int
	// wait is the claim latency: how long each job this node claimed
	// waited for a claim. tx is how long the claiming transaction took.
	wait, tx histogram
	claims   int64
}

type histogram struct {
	counts []int64 // per claimBuckets entry, not cumulative
	sum    float64
	n      int64
}

func (h *histogram) observe(d time.Duration) {
	if h.counts == nil {
		h.counts = make([]int64, len(claimBuckets))
	}
	s := d.Seconds()
	for i, b := range claimBuckets {
		if s <= b {
			h.counts[i]++
			break
		}
	}
	h.sum += s
	h.n++
}

func (m *nodeMetrics) sawQueue(n int) {
	m.mu.Lock()
	m.queue = n
	m.mu.Unlock()
}

func (m *nodeMetrics) claimed(waited, took time.Duration) {
	m.mu.Lock()
	m.wait.observe(waited)
	m.tx.observe(took)
	m.claims++
	m.mu.Unlock()
}

// WriteMetrics writes the engine's metrics in the Prometheus text format,
// each labelled with the node id, so one dashboard over every node's
// /metrics shows where builds queue and which node claims them.
func (e *Engine) WriteMetrics(w io.Writer) {
	e.init()
	e.mu.Lock()
	running := len(e.running)
	e.mu.Unlock()
	m := &e.metrics
	m.mu.Lock()
	defer m.mu.Unlock()
	node := fmt.Sprintf("node=%q", e.NodeID)
	fmt.Fprintf(w, "# HELP kiln_build_queue_depth Build jobs no live worker held at this node's last claim.\n# TYPE kiln_build_queue_depth gauge\n")
	fmt.Fprintf(w, "kiln_build_queue_depth{%s} %d\n", node, m.queue)
	fmt.Fprintf(w, "# HELP kiln_builds_running Builds this node runs now (waiting ones included).\n# TYPE kiln_builds_running gauge\n")
	fmt.Fprintf(w, "kiln_builds_running{%s} %d\n", node, running)
	fmt.Fprintf(w, "# HELP kiln_build_claims_total Build jobs this node claimed.\n# TYPE kiln_build_claims_total counter\n")
	fmt.Fprintf(w, "kiln_build_claims_total{%s} %d\n", node, m.claims)
	writeHistogram(w, "kiln_build_claim_latency_seconds", "How long a job waited, from enqueue or lease lapse, until this node claimed it.", node, &m.wait)
	writeHistogram(w, "kiln_build_claim_transaction_seconds", "How long this node's claiming transactions took.", node, &m.tx)
}

func writeHistogram(w io.Writer, name, help, labels string, h *histogram) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum int64
	for i, b := range claimBuckets {
		if h.counts != nil {
			cum += h.counts[i]
		}
		fmt.Fprintf(w, "%s_bucket{%s,le=\"%s\"} %d\n", name, labels, strconv.FormatFloat(b, 'g', -1, 64), cum)
	}
	fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, h.n)
	fmt.Fprintf(w, "%s_sum{%s} %g\n%s_count{%s} %d\n", name, labels, h.sum, name, labels, h.n)
}
