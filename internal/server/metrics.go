package server

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the histogram's upper bounds in seconds, spanning a
// cached Get (tens of microseconds) to a slow durable write.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// metrics keeps per-operation request counts and latency histograms and
// writes them in the Prometheus text exposition format. It needs no client
// library: the format is a few lines of text.
type metrics struct {
	mu  sync.RWMutex
	ops map[string]*opStats
}

type opStats struct {
	mu      sync.Mutex
	codes   map[string]uint64
	buckets []atomic.Uint64 // cumulative counts are computed when written
	count   atomic.Uint64
	sumNano atomic.Uint64
}

func (m *metrics) stats(op string) *opStats {
	m.mu.RLock()
	st := m.ops[op]
	m.mu.RUnlock()
	if st != nil {
		return st
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ops == nil {
		m.ops = map[string]*opStats{}
	}
	if st = m.ops[op]; st == nil {
		st = &opStats{codes: map[string]uint64{}, buckets: make([]atomic.Uint64, len(latencyBuckets))}
		m.ops[op] = st
	}
	return st
}

func (m *metrics) observe(op, code string, d time.Duration) {
	st := m.stats(op)
	st.mu.Lock()
	st.codes[code]++
	st.mu.Unlock()
	secs := d.Seconds()
	for i, le := range latencyBuckets {
		if secs <= le {
			st.buckets[i].Add(1)
			break
		}
	}
	st.count.Add(1)
	st.sumNano.Add(uint64(d.Nanoseconds()))
}

func (m *metrics) write(w io.Writer) {
	m.mu.RLock()
	names := make([]string, 0, len(m.ops))
	for name := range m.ops {
		names = append(names, name)
	}
	m.mu.RUnlock()
	sort.Strings(names)

	fmt.Fprintln(w, "# HELP kiln_api_requests_total Image Builder API requests by operation and result code.")
	fmt.Fprintln(w, "# TYPE kiln_api_requests_total counter")
	for _, name := range names {
		st := m.stats(name)
		st.mu.Lock()
		codes := make([]string, 0, len(st.codes))
		for c := range st.codes {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		for _, c := range codes {
			fmt.Fprintf(w, "kiln_api_requests_total{operation=%q,code=%q} %d\n", name, c, st.codes[c])
		}
		st.mu.Unlock()
	}
	fmt.Fprintln(w, "# HELP kiln_api_request_duration_seconds Time to answer an Image Builder API request.")
	fmt.Fprintln(w, "# TYPE kiln_api_request_duration_seconds histogram")
	for _, name := range names {
		st := m.stats(name)
		var cum uint64
		for i, le := range latencyBuckets {
			cum += st.buckets[i].Load()
			fmt.Fprintf(w, "kiln_api_request_duration_seconds_bucket{operation=%q,le=\"%g\"} %d\n", name, le, cum)
		}
		count := st.count.Load()
		fmt.Fprintf(w, "kiln_api_request_duration_seconds_bucket{operation=%q,le=\"+Inf\"} %d\n", name, count)
		fmt.Fprintf(w, "kiln_api_request_duration_seconds_sum{operation=%q} %g\n", name, float64(st.sumNano.Load())/1e9)
		fmt.Fprintf(w, "kiln_api_request_duration_seconds_count{operation=%q} %d\n", name, count)
	}
}
