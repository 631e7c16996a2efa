package blob

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// TestContainerBuildOnBlobStore builds a container image on a node whose
// blob store is a bucket: skopeo pulls the image, `kiln logs --follow`
// streams the build while it runs, and once the node's local copy of the
// logs is gone `kiln logs` still prints them, byte for byte, from the
// bucket's segments.
func TestContainerBuildOnBlobStore(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	gw := s3gw.Start(t)
	srv := nodes(t, gw, "build", 1)[0]
	client := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	arn := startContainerBuild(t, srv)

	// Follow from the start, as a user watching the build would.
	var follow kilntest.SyncBuffer
	followCmd := exec.Command(kilntest.Binary(t), "logs", "--follow", "--endpoint", srv.URL, arn)
	followCmd.Stdout, followCmd.Stderr = &follow, &follow
	if err := followCmd.Start(); err != nil {
		t.Fatal(err)
	}
	followDone := make(chan error, 1)
	go func() { followDone <- followCmd.Wait() }()

	var img *types.Image
	deadline := time.Now().Add(4 * time.Minute)
	for img == nil {
		got, err := client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
		if err == nil && got.Image.State != nil {
			switch got.Image.State.Status {
			case types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled:
				img = got.Image
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s did not finish; server log:\n%s", arn, srv.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	logs := func() string {
		t.Helper()
		out, err := exec.Command(kilntest.Binary(t), "logs", "--endpoint", srv.URL, arn).CombinedOutput()
		if err != nil {
			t.Fatalf("kiln logs: %v\n%s", err, out)
		}
		return string(out)
	}
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), logs())
	}
	select {
	case err := <-followDone:
		if err != nil {
			t.Fatalf("kiln logs --follow: %v\n%s", err, follow.String())
		}
	case <-time.After(30 * time.Second):
		followCmd.Process.Kill()
		t.Fatalf("kiln logs --follow did not end with the build:\n%s", follow.String())
	}
	if f := follow.String(); !strings.Contains(f, "marker-line-from-the-component") || !strings.Contains(f, "is AVAILABLE <==") {
		t.Errorf("kiln logs --follow printed:\n%s", f)
	}

	// The image comes out of the bucket through the registry.
	uri := img.OutputResources.Containers[0].ImageUris[0]
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+uri, "dir:"+dir)
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	}

	before := logs()
	if !strings.Contains(before, "marker-line-from-the-component") {
		t.Fatalf("kiln logs:\n%s", before)
	}
	// Without the node's own copy, the bucket's segments are the logs.
	if err := os.RemoveAll(filepath.Join(srv.DataDir, "logs")); err != nil {
		t.Fatal(err)
	}
	if after := logs(); after != before {
		t.Errorf("logs differ once read from the bucket alone:\n--- before\n%s\n--- after\n%s", before, after)
	}
	if files := registryFiles(t, srv.DataDir); len(files) != 0 {
		t.Errorf("registry content in the data directory: %q", files)
	}
}

// startContainerBuild pushes a busybox base to srv and starts a container
// build whose one component prints a marker line; it returns the image.
func startContainerBuild(t *testing.T, srv *kilntest.Server) string {
	t.Helper()
	base := srv.PushBusyboxBase(t, "base/busybox")
	client := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)

	infra, err := client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	comp, err := client.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("marker"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String("name: marker\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo marker-line-from-the-component\n            - echo built > /etc/marker\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := client.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String("onbucket"), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(base), DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		Components:       []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("team/onbucket")},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ContainerRecipeArn: recipe.ContainerRecipeArn, InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn,
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := *out.ImageBuildVersionArn
	return arn
}
