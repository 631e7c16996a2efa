package nodes

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// TestNodeBench is bench/run-nodes.sh's benchmark, not a test: for 1, 2
// and 3 nodes on this host it measures container builds per minute and
// the failover time of a build whose node is killed. It runs only with
// KILN_NODEBENCH=1 (KILN_NODEBENCH_BUILDS sets the builds per row,
// default 6) and prints a Markdown table.
func TestNodeBench(t *testing.T) {
	if os.Getenv("KILN_NODEBENCH") != "1" {
		t.Skip("a benchmark: bench/run-nodes.sh runs it")
	}
	kilntest.RequireRoot(t)
	builds := 6
	if v := os.Getenv("KILN_NODEBENCH_BUILDS"); v != "" {
		fmt.Sscan(v, &builds)
	}
	type row struct {
		nodes             int
		elapsed, failover time.Duration
		spread            string
		failoverHow       string
	}
	var rows []row
	for n := 1; n <= 3; n++ {
		var r row
		ok := t.Run(fmt.Sprintf("%dnodes", n), func(t *testing.T) {
			r.nodes = n
			r.elapsed, r.spread = benchThroughput(t, n, builds)
			r.failover, r.failoverHow = benchFailover(t, n)
		})
		if !ok {
			t.FailNow()
		}
		rows = append(rows, r)
	}
	var out strings.Builder
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&out, "\n## Nodes: builds per minute and failover (%s, %d builds per row, load %s)\n\n", host, builds, strings.Fields(string(load) + " ?")[0])
	fmt.Fprintln(&out, "| nodes | builds | wall time | builds/min | builds per node | failover: kill → AVAILABLE | how |")
	fmt.Fprintln(&out, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(&out, "| %d | %d | %s | %.1f | %s | %s | %s |\n", r.nodes, builds, r.elapsed.Round(100*time.Millisecond),
			float64(builds)/r.elapsed.Minutes(), r.spread, r.failover.Round(100*time.Millisecond), r.failoverHow)
	}
	t.Log(out.String())
}

// benchThroughput asks node-0 for builds container builds at once and
// returns how long until all were AVAILABLE, and how many each node ran.
func benchThroughput(t *testing.T, n, builds int) (time.Duration, string) {
	lb := startBalancer(t)
	f := startFactory(t, n, nil, "--registry-host", lb.Addr())
	for _, node := range f.nodes {
		lb.add(node.Addr)
	}
	f.registryHost = lb.Addr()
	recipe, infra := buildFixture(t, f, "bench", "echo built > /etc/marker")
	start := time.Now()
	var images []string
	for i := range builds {
		images = append(images, createImage(t, f.client(i%n), recipe, infra))
	}
	for _, image := range images {
		if img := waitImage(t, f, f.client(0), image, 20*time.Minute); img.State.Status != types.ImageStatusAvailable {
			t.Fatalf("%s: %s %s", image, img.State.Status, aws.ToString(img.State.Reason))
		}
	}
	elapsed := time.Since(start)
	per := make([]int, n)
	for _, image := range images {
		if i := claimer(f, image, 1); i >= 0 {
			per[i]++
		}
	}
	var spread []string
	for i, k := range per {
		spread = append(spread, fmt.Sprintf("node-%d: %d", i, k))
	}
	return elapsed, strings.Join(spread, ", ")
}

// benchFailover starts a build held at a gate, kills the node running it
// and returns the time from the kill to AVAILABLE. With one node, the
// node is started again on its data directory and node id (a restart);
// with more, another node takes the build over once its lease lapses.
func benchFailover(t *testing.T, n int) (time.Duration, string) {
	var open atomic.Bool
	var asked atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if !open.Load() {
			http.Error(w, "wait", http.StatusServiceUnavailable)
		}
	})}
	go gate.Serve(ln)
	t.Cleanup(func() { gate.Close() })
	lb := startBalancer(t)
	f := startFactory(t, n, nil, "--build-network", "host", "--registry-host", lb.Addr())
	for _, node := range f.nodes {
		lb.add(node.Addr)
	}
	f.registryHost = lb.Addr()
	recipe, infra := buildFixture(t, f, "failover", fmt.Sprintf("until wget -q -O /dev/null http://%s/; do sleep 0.5; done", ln.Addr()))
	image := createImage(t, f.client(0), recipe, infra)
	for deadline := time.Now().Add(10 * time.Minute); asked.Load() == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the build never reached the gate")
		}
	}
	victim := claimer(f, image, 1)
	if victim < 0 {
		t.Fatal("no node logged the claim")
	}
	open.Store(true)
	f.nodes[victim].Kill()
	killed := time.Now()
	how := "another node, after the lease"
	watcher := f.client((victim + 1) % n)
	if n == 1 {
		f.nodes[0].Restart()
		watcher = f.client(0)
		how = "the node restarted (same node id): at once"
	}
	img := waitImage(t, f, watcher, image, 5*time.Minute)
	took := time.Since(killed)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("after the kill: %s %s", img.State.Status, aws.ToString(img.State.Reason))
	}
	return took, how
}
