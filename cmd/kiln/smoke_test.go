package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	t.Parallel()
	runCLISmoke(t, "cli.sh", false)
}

// TestBoto3Smoke runs test/smoke/boto3_smoke.py: Debian's boto3 against kiln.
func TestBoto3Smoke(t *testing.T) {
	t.Parallel()
	runBoto3Smoke(t, "boto3_smoke.py", false)
}

// requireBoto3 skips a test when /usr/bin/python3 cannot import boto3 —
// except in CI, where its absence is a failure.
func requireBoto3(t *testing.T) {
	t.Helper()
	requireTool(t, "/usr/bin/python3")
	if exec.Command("/usr/bin/python3", "-c", "import boto3").Run() != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("boto3 is not importable by /usr/bin/python3; .ci/run must install python3-boto3")
		}
		t.Skip("python3-boto3 is not installed")
	}
}

// runCLISmoke runs the bash script test/smoke/<script> (Debian's AWS CLI)
// against a fresh kiln, given its URL and, with newerModel, an
// AWS_DATA_PATH directory holding the newer model (newerModelDir).
func runCLISmoke(t *testing.T, script string, newerModel bool) {
	t.Helper()
	requireTool(t, "/usr/bin/aws")
	runSmokeScript(t, "bash", script, newerModel)
}

// runBoto3Smoke runs the Python script test/smoke/<script> (Debian's
// boto3) as runCLISmoke runs a CLI script.
func runBoto3Smoke(t *testing.T, script string, newerModel bool) {
	t.Helper()
	requireBoto3(t)
	runSmokeScript(t, "/usr/bin/python3", script, newerModel)
}

func runSmokeScript(t *testing.T, interpreter, script string, newerModel bool) {
	t.Helper()
	var models string
	if newerModel {
		models = newerModelDir(t)
	}
	srv := kilntest.Start(t)
	args := []string{filepath.Join(kilntest.RepoRoot(), "test/smoke", script), srv.URL}
	if newerModel {
		args = append(args, models)
	}
	runSmoke(t, interpreter, args...)
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

// newerModelDir writes an AWS_DATA_PATH directory holding the newer
// Image Builder model (aws-sdk-go v1.55.7's api-2.json, botocore's format),
// which Debian's botocore lacks lifecycle policies and newer members in.
func newerModelDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "github.com/aws/aws-sdk-go@v1.55.7/models/apis/imagebuilder/2019-12-02/api-2.json")
	model, err := os.ReadFile(src)
	if err != nil {
		dl := exec.Command("go", "mod", "download", "-json", "github.com/aws/aws-sdk-go@v1.55.7")
		dl.Dir = t.TempDir() // outside kiln's module: go.mod and go.sum stay untouched
		if dlOut, dlErr := dl.CombinedOutput(); dlErr != nil {
			t.Skipf("newer model unavailable: %v\n%s", dlErr, dlOut)
		}
		if model, err = os.ReadFile(src); err != nil {
			t.Skipf("newer model unavailable: %v", err)
		}
	}
	dir := t.TempDir()
	modelDir := filepath.Join(dir, "imagebuilder", "2019-12-02")
	if err := os.MkdirAll(modelDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(modelDir, "service-2.json"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
