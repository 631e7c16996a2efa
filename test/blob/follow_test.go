package blob

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// TestFollowFromEitherNode runs two nodes on one store and one bucket and
// follows a build's logs from both at once: one of them runs the build,
// the other reads only the bucket's segments, and both print the build's
// output as it happens and end with it; afterwards `kiln logs` prints the
// same on both. The two nodes share state through
// one SQLite file (the second node's kiln.db is a symlink to the first's;
// SQLite follows it, WAL and locks included), which stands in here for
// the shared PostgreSQL store of a real deployment.
func TestFollowFromEitherNode(t *testing.T) {
	kilntest.RequireRoot(t)
	gw := s3gw.Start(t)
	for _, kv := range gw.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	args := []string{"--blob-store", "s3://" + gw.Bucket + "/follow", "--s3-endpoint", gw.Endpoint}
	a := kilntest.StartIn(t, t.TempDir(), args...)
	dirB := t.TempDir()
	if err := os.Symlink(filepath.Join(a.DataDir, "kiln.db"), filepath.Join(dirB, "kiln.db")); err != nil {
		t.Fatal(err)
	}
	b := kilntest.StartIn(t, dirB, args...)
	arn := startContainerBuild(t, a)

	type follower struct {
		cmd  *exec.Cmd
		out  *kilntest.SyncBuffer
		done chan error
	}
	var fs []follower
	for _, n := range []*kilntest.Server{a, b} {
		f := follower{out: &kilntest.SyncBuffer{}, done: make(chan error, 1)}
		f.cmd = exec.Command(kilntest.Binary(t), "logs", "--follow", "--endpoint", n.URL, arn)
		f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
		if err := f.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { f.done <- f.cmd.Wait() }()
		fs = append(fs, f)
	}
	for i, f := range fs {
		select {
		case err := <-f.done:
			if err != nil {
				t.Fatalf("kiln logs --follow on node %d: %v\n%s", i, err, f.out.String())
			}
		case <-time.After(4 * time.Minute):
			f.cmd.Process.Kill()
			t.Fatalf("kiln logs --follow on node %d did not end:\n%s\nnode a:\n%s\nnode b:\n%s", i, f.out.String(), a.Log(), b.Log())
		}
		out := f.out.String()
		if !strings.Contains(out, "marker-line-from-the-component") || !strings.Contains(out, "is AVAILABLE <==") {
			t.Errorf("kiln logs --follow on node %d printed:\n%s", i, out)
		}
	}
	// Followers interleave step headers as their polls fall; the finished
	// logs are the same from either node.
	var whole []string
	for _, n := range []*kilntest.Server{a, b} {
		out, err := exec.Command(kilntest.Binary(t), "logs", "--endpoint", n.URL, arn).CombinedOutput()
		if err != nil {
			t.Fatalf("kiln logs: %v\n%s", err, out)
		}
		whole = append(whole, string(out))
	}
	if whole[0] != whole[1] {
		t.Errorf("the two nodes print different logs:\n--- a\n%s\n--- b\n%s", whole[0], whole[1])
	}
	built := 0
	for _, n := range []*kilntest.Server{a, b} {
		if _, err := os.Stat(filepath.Join(n.DataDir, "logs")); err == nil {
			built++
		}
	}
	if built != 1 {
		t.Errorf("%d nodes hold local logs; one node should have built the image", built)
	}
}
