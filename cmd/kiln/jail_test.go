package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// infraWithInstanceType is an infrastructure configuration whose first
// instance type bounds the build.
func (f *buildFixture) infraWithInstanceType(t *testing.T, name, instanceType string) string {
	t.Helper()
	out, err := f.client.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String(name), InstanceProfileName: aws.String("kiln"),
		InstanceTypes: []string{instanceType}, TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.InfrastructureConfigurationArn
}

func (f *buildFixture) buildWith(t *testing.T, name, infra, doc string) *types.Image {
	t.Helper()
	comp := f.component(t, name, doc)
	recipe := f.recipe(t, name, minimalTemplate, types.ComponentConfiguration{ComponentArn: aws.String(comp)})
	out, err := f.client.CreateImage(kilntest.Context(t), &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(recipe), InfrastructureConfigurationArn: aws.String(infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	return f.waitImage(t, *out.ImageBuildVersionArn, 3*time.Minute)
}

func bashComponent(name string, commands ...string) string {
	doc := "name: " + name + "\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Run\n        action: ExecuteBash\n        inputs:\n          commands:\n"
	for _, c := range commands {
		doc += "            - " + c + "\n"
	}
	return doc
}

// TestBuildJailLimits: a build is bounded by its infrastructure
// configuration's instance type. A memory hog ends the image FAILED with
// the instance type's memory in the reason; a fork bomb stalls at the
// process limit, fails its step, and kiln keeps serving throughout.
func TestBuildJailLimits(t *testing.T) {
	t.Parallel()
	f := newBuildFixture(t, true)
	if strings.Contains(f.srv.Log(), "build limits: not enforced") {
		t.Skip("this host cannot enforce build limits")
	}
	small := f.infraWithInstanceType(t, "nano", "t3.nano")

	t.Run("memory hog", func(t *testing.T) {
		img := f.buildWith(t, "hog", small, bashComponent("hog",
			"echo hogging",
			"dd if=/dev/zero of=/dev/null bs=1024M count=1"))
		reason := aws.ToString(img.State.Reason)
		if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "the build ran out of memory: the instance type t3.nano allows 512 MiB") {
			t.Fatalf("image %s: %q\n%s", img.State.Status, reason, f.logs(t, *img.Arn))
		}
	})

	t.Run("fork bomb", func(t *testing.T) {
		img := f.buildWith(t, "bomb", small, bashComponent("bomb",
			"b() { b | b & }; b",
			"sleep 3",
			"exit 1"))
		if img.State.Status != types.ImageStatusFailed {
			t.Fatalf("image %s: %q", img.State.Status, aws.ToString(img.State.Reason))
		}
		// kiln answered every poll during the bomb; it still does, and
		// the host still starts programs.
		if _, err := f.client.ListImages(kilntest.Context(t), &imagebuilder.ListImagesInput{}); err != nil {
			t.Errorf("ListImages after the bomb: %v", err)
		}
		if err := exec.Command("true").Run(); err != nil {
			t.Errorf("the host cannot start a program after the bomb: %v", err)
		}
	})

	t.Run("within limits", func(t *testing.T) {
		img := f.buildWith(t, "fits", small, bashComponent("fits",
			"dd if=/dev/zero of=/dev/null bs=64M count=4"))
		if img.State.Status != types.ImageStatusAvailable {
			t.Fatalf("image %s: %q\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, *img.Arn))
		}
		if logs := f.logs(t, *img.Arn); !strings.Contains(logs, "limits of the instance type t3.nano: cpu 2.000, memory 512 MiB") &&
			!strings.Contains(logs, "limits of the instance type t3.nano: cpu 1.000, memory 512 MiB") {
			t.Errorf("the build log does not state its limits:\n%s", logs)
		}
	})
}

// TestBuildJailNetwork: under the default network a build cannot reach
// kiln's own API on the host's loopback, nor leave its namespaces through
// unshare; with --build-network host it can reach it (the control).
func TestBuildJailNetwork(t *testing.T) {
	t.Parallel()
	probe := func(t *testing.T, f *buildFixture) string {
		_, port, err := net.SplitHostPort(strings.TrimPrefix(f.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		img := f.buildWith(t, "net", f.infra, bashComponent("net",
			`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 127.0.0.1 `+port+` > /etc/api-out 2>&1 || true`,
			`if grep -q HTTP/ /etc/api-out; then echo reached > /etc/api; else echo unreachable > /etc/api; fi`,
			`if unshare -U -n true 2>/dev/null; then echo unshared > /etc/unshare; else echo refused > /etc/unshare; fi`))
		if img.State.Status != types.ImageStatusAvailable {
			t.Fatalf("image %s: %q\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, *img.Arn))
		}
		dir := filepath.Join(t.TempDir(), "pulled")
		kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+img.OutputResources.Containers[0].ImageUris[0], "dir:"+dir)
		_, files := readSkopeoDir(t, dir)
		if got := files["etc/unshare"]; got != "refused\n" {
			t.Errorf("unshare: %q", got)
		}
		t.Logf("from the build: %s", files["etc/api-out"])
		return files["etc/api"]
	}
	t.Run("private", func(t *testing.T) {
		f := newBuildFixture(t, true)
		if !strings.Contains(f.srv.Log(), "build network: private") {
			t.Fatalf("the default build network is not private:\n%s", f.srv.Log())
		}
		if got := probe(t, f); got != "unreachable\n" {
			t.Errorf("kiln's API from a build: %q, want unreachable", got)
		}
	})
	t.Run("host", func(t *testing.T) {
		f := newBuildFixture(t, true, "--build-network", "host")
		if got := probe(t, f); got != "reached\n" {
			t.Errorf("kiln's API from a build on the host network: %q, want reached", got)
		}
	})
}
