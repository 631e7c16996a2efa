package scan

import (
	"fmt"
	"io"
	"sync"
)

// Metrics counts what this process's scans found, for /metrics: findings
// recorded by severity, and scans by how they ended (scanState's status).
// They are counters since the process started, as Prometheus expects;
// the findings themselves are in the store.
type Metrics struct {
	mu       sync.Mutex
	findings map[string]uint64
	scans    map[string]uint64
}

// Observe counts one scan that ended with status and recorded findings.
func (m *Metrics) Observe(status string, findings []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.findings == nil {
		m.findings, m.scans = map[string]uint64{}, map[string]uint64{}
	}
	m.scans[status]++
	for _, s := range findings {
		m.findings[s]++
	}
}

// Write writes the counters in the Prometheus text format. Every severity
// and the usual statuses appear even at zero, so a dashboard's query has a
// series to read from the first scrape.
func (m *Metrics) Write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP kiln_image_scan_findings_total Vulnerability findings recorded by image scans, by severity.")
	fmt.Fprintln(w, "# TYPE kiln_image_scan_findings_total counter")
	for _, s := range Severities {
		fmt.Fprintf(w, "kiln_image_scan_findings_total{severity=%q} %d\n", s, m.findings[s])
	}
	fmt.Fprintln(w, "# HELP kiln_image_scans_total Image scans, by the scan state they ended in.")
	fmt.Fprintln(w, "# TYPE kiln_image_scans_total counter")
	for _, s := range []string{"COMPLETED", "ABANDONED", "FAILED", "TIMED_OUT"} {
		fmt.Fprintf(w, "kiln_image_scans_total{status=%q} %d\n", s, m.scans[s])
	}
}
