package pg

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/pgtest"
)

// TestBuildOnPostgres builds a busybox container image with kiln on
// PostgreSQL: the build engine's queue, claims, workflow state and build
// counters all live in the database. skopeo pulls the result.
func TestBuildOnPostgres(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	url := pgtest.URL(t)
	srv := kilntest.Start(t, "--store", url)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	base := srv.PushBusyboxBase(t, "base/busybox")

	infra, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	comp, err := createComponent(ctx, c, "marker", "1.0.0", nil)
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := c.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String("pg-busybox"), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(base), DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		Components:       []types.ComponentConfiguration{{ComponentArn: aws.String(comp)}},
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("pg/busybox")},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ContainerRecipeArn: recipe.ContainerRecipeArn, InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn,
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.ImageBuildVersionArn)
	if !strings.HasSuffix(arn, "/1.0.0/1") {
		t.Errorf("first build's ARN %s, want build number 1", arn)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var img *types.Image
	for img == nil {
		got, err := c.GetImage(wctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
		if err == nil && got.Image.State != nil {
			switch got.Image.State.Status {
			case types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled:
				img = got.Image
			}
		}
		if img == nil {
			select {
			case <-wctx.Done():
				t.Fatalf("image %s did not finish; server log:\n%s", arn, srv.Log())
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	if img.State.Status != types.ImageStatusAvailable {
		logs, _ := exec.Command(kilntest.Binary(t), "logs", "--endpoint", srv.URL, arn).CombinedOutput()
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), logs)
	}
	uri := img.OutputResources.Containers[0].ImageUris[0]
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+uri, "dir:"+dir)

	// The image and its build number outlive a restart.
	srv.Restart()
	c = srv.Client(kilntest.DefaultCreds)
	got, err := c.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
	if err != nil || got.Image.State.Status != types.ImageStatusAvailable {
		t.Fatalf("GetImage after restart: %v", err)
	}
}
