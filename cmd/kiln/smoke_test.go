package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// requireTool skips a test when a real client is not installed — except in
// CI, where .ci/run installs it and its absence is a failure.
func requireTool(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed; .ci/run must install it", path)
		}
		t.Skipf("%s is not installed (apt-get install awscli python3-boto3)", path)
	}
}

// TestAWSCLISmoke runs test/smoke/cli.sh: Debian's AWS CLI against kiln.
func TestAWSCLISmoke(t *testing.T) {
	requireTool(t, "/usr/bin/aws")
	srv := kilntest.Start(t)
	runSmoke(t, "bash", filepath.Join(kilntest.RepoRoot(), "test/smoke/cli.sh"), srv.URL)
}

// TestBoto3Smoke runs test/smoke/boto3_smoke.py: Debian's boto3 against kiln.
func TestBoto3Smoke(t *testing.T) {
	requireTool(t, "/usr/bin/python3")
	if exec.Command("/usr/bin/python3", "-c", "import boto3").Run() != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("boto3 is not importable by /usr/bin/python3; .ci/run must install python3-boto3")
		}
		t.Skip("python3-boto3 is not installed")
	}
	srv := kilntest.Start(t)
	runSmoke(t, "/usr/bin/python3", filepath.Join(kilntest.RepoRoot(), "test/smoke/boto3_smoke.py"), srv.URL)
}

func runSmoke(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
}
