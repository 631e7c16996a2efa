package lifecycle_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

const helloComponent = `name: hello
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands:
            - echo hello > /etc/hello
`

const minimalTemplate = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"

// buildContainers builds n container images of one recipe (sharing one
// repository, each under its build's own tag), one day apart by kiln's
// clock, the first tagged keep=yes; it returns their ARNs oldest first
// and their image URIs.
func (f *fixture) buildContainers(t *testing.T, n int) (arns, uris []string) {
	t.Helper()
	base := f.srv.PushBusyboxBase(t, "base/busybox")
	comp, err := f.client.CreateComponent(ctx(t), &imagebuilder.CreateComponentInput{
		Name: aws.String("hello"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(helloComponent),
	})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := f.client.CreateContainerRecipe(ctx(t), &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String("app"), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(base), DockerfileTemplateData: aws.String(minimalTemplate),
		Components:       []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("lifecycle/app")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		in := &imagebuilder.CreateImageInput{
			ContainerRecipeArn: recipe.ContainerRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
			ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
		}
		if i == 0 {
			in.Tags = map[string]string{"keep": "yes"}
		}
		out, err := f.client.CreateImage(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		img := f.wait(t, *out.ImageBuildVersionArn)
		arns = append(arns, *out.ImageBuildVersionArn)
		uris = append(uris, img.OutputResources.Containers[0].ImageUris[0])
		f.advance(t, 24*time.Hour)
	}
	return arns, uris
}

// inRegistry reports whether skopeo finds the image URI in kiln's
// registry.
func inRegistry(t *testing.T, uri string) bool {
	t.Helper()
	kilntest.RequireTool(t, "/usr/bin/skopeo", "skopeo")
	err := exec.Command("/usr/bin/skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+uri).Run()
	return err == nil
}

// TestContainerCountRule: a CONTAINER_IMAGE policy selecting a recipe by a
// wildcard version, DELETE by COUNT 1 with containers included and a tag
// exclusion. The dry run (`kiln lifecycle run --dry-run`) names only the
// middle build and changes nothing; the run deletes it (record DELETED,
// gone from ListImageBuildVersions, its image gone from the registry)
// while the newest (kept by the count) and the oldest (excluded by tag)
// stay. The execution is listed with per-resource outcomes through
// aws-sdk-go-v2 and the AWS CLI; StartResourceStateUpdate then deletes the
// newest, idempotently by clientToken, and refuses what AWS refuses.
func TestContainerCountRule(t *testing.T) {
	t.Parallel()
	f := start(t)
	arns, uris := f.buildContainers(t, 3)
	oldest, middle, newest := arns[0], arns[1], arns[2]

	pol, err := f.client.CreateLifecyclePolicy(ctx(t), &imagebuilder.CreateLifecyclePolicyInput{
		Name: aws.String("keep-one"), ExecutionRole: aws.String("arn:aws:iam::000000000000:role/lifecycle"),
		ResourceType: types.LifecyclePolicyResourceTypeContainerImage,
		PolicyDetails: []types.LifecyclePolicyDetail{{
			Action: &types.LifecyclePolicyDetailAction{Type: types.LifecyclePolicyDetailActionTypeDelete,
				IncludeResources: &types.LifecyclePolicyDetailActionIncludeResources{Containers: true}},
			Filter:         &types.LifecyclePolicyDetailFilter{Type: types.LifecyclePolicyDetailFilterTypeCount, Value: aws.Int32(1)},
			ExclusionRules: &types.LifecyclePolicyDetailExclusionRules{TagMap: map[string]string{"keep": "yes"}},
		}},
		ResourceSelection: &types.LifecyclePolicyResourceSelection{Recipes: []types.LifecyclePolicyResourceSelectionRecipe{{Name: aws.String("app"), SemanticVersion: aws.String("1.x.x")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	policy := *pol.LifecyclePolicyArn

	dry, err := f.kiln(t, "lifecycle", "run", "--dry-run", policy)
	if err != nil {
		t.Fatalf("kiln lifecycle run --dry-run: %v\n%s", err, dry)
	}
	if !strings.Contains(dry, middle) || strings.Contains(dry, oldest) || strings.Contains(dry, newest) || !strings.Contains(dry, "WOULD DELETE") {
		t.Fatalf("dry run names the wrong images:\n%s", dry)
	}
	if f.status(t, middle) != types.ImageStatusAvailable || !inRegistry(t, uris[1]) {
		t.Fatal("the dry run changed something")
	}
	if list, err := f.client.ListLifecycleExecutions(ctx(t), &imagebuilder.ListLifecycleExecutionsInput{ResourceArn: aws.String(policy)}); err != nil || len(list.LifecycleExecutions) != 0 {
		t.Fatalf("the dry run recorded an execution: %v %v", list, err)
	}

	run, err := f.kiln(t, "lifecycle", "run", policy)
	if err != nil {
		t.Fatalf("kiln lifecycle run: %v\n%s", err, run)
	}
	t.Logf("kiln lifecycle run:\n%s", run)
	execID := executionID(t, run)
	if got := f.status(t, middle); got != types.ImageStatusDeleted {
		t.Fatalf("the middle build is %s, want DELETED", got)
	}
	if img := f.image(t, middle); aws.ToString(img.LifecycleExecutionId) != execID {
		t.Errorf("image lifecycleExecutionId = %q, want %s", aws.ToString(img.LifecycleExecutionId), execID)
	}
	for i, want := range []bool{true, false, true} {
		if got := inRegistry(t, uris[i]); got != want {
			t.Errorf("%s in the registry: %v, want %v", uris[i], got, want)
		}
	}
	for _, a := range []string{oldest, newest} {
		if got := f.status(t, a); got != types.ImageStatusAvailable {
			t.Errorf("%s is %s, want AVAILABLE", a, got)
		}
	}
	versions, err := f.client.ListImageBuildVersions(ctx(t), &imagebuilder.ListImageBuildVersionsInput{ImageVersionArn: aws.String(strings.TrimSuffix(middle, "/2"))})
	if err != nil {
		t.Fatal(err)
	}
	if len(versions.ImageSummaryList) != 2 {
		t.Errorf("ListImageBuildVersions lists %d builds, want the 2 not deleted", len(versions.ImageSummaryList))
	}

	// The records, through the SDK and the AWS CLI.
	got, err := f.client.GetLifecycleExecution(ctx(t), &imagebuilder.GetLifecycleExecutionInput{LifecycleExecutionId: aws.String(execID)})
	if err != nil {
		t.Fatal(err)
	}
	if e := got.LifecycleExecution; e.State.Status != types.LifecycleExecutionStatusSuccess || !e.ResourcesImpactedSummary.HasImpactedResources || e.EndTime == nil || aws.ToString(e.LifecyclePolicyArn) != policy {
		t.Errorf("GetLifecycleExecution = %+v", e)
	}
	res := resourceOf(t, f.resources(t, execID, ""), middle)
	if res.State.Status != types.LifecycleExecutionResourceStatusSuccess || res.Action.Name != types.LifecycleExecutionResourceActionNameDelete ||
		len(res.ImageUris) != 1 || res.ImageUris[0] != uris[1] {
		t.Errorf("resource = %+v %+v %+v", res.State, res.Action, res.ImageUris)
	}
	var cli struct {
		LifecycleExecutions []struct {
			LifecycleExecutionId string
			State                struct{ Status string }
		} `json:"lifecycleExecutions"`
	}
	f.awsCLI(t, &cli, "list-lifecycle-executions", "--resource-arn", policy)
	if len(cli.LifecycleExecutions) != 1 || cli.LifecycleExecutions[0].LifecycleExecutionId != execID || cli.LifecycleExecutions[0].State.Status != "SUCCESS" {
		t.Errorf("aws imagebuilder list-lifecycle-executions = %+v", cli)
	}
	byImage, err := f.client.ListLifecycleExecutions(ctx(t), &imagebuilder.ListLifecycleExecutionsInput{ResourceArn: aws.String(middle)})
	if err != nil || len(byImage.LifecycleExecutions) != 1 || aws.ToString(byImage.LifecycleExecutions[0].LifecycleExecutionId) != execID {
		t.Errorf("the deleted image's executions: %+v %v", byImage, err)
	}
	_, err = f.client.CancelLifecycleExecution(ctx(t), &imagebuilder.CancelLifecycleExecutionInput{LifecycleExecutionId: aws.String(execID), ClientToken: aws.String("cancel-1")})
	expectCode(t, err, "ResourceInUseException", "SUCCESS")

	// A second run finds nothing more to do.
	again, err := f.kiln(t, "lifecycle", "run", policy)
	if err != nil || !strings.Contains(again, "no resources to act on") {
		t.Errorf("second run: %v\n%s", err, again)
	}

	// StartResourceStateUpdate: what AWS refuses, then a delete.
	_, err = f.client.StartResourceStateUpdate(ctx(t), &imagebuilder.StartResourceStateUpdateInput{
		ResourceArn: aws.String(newest), State: &types.ResourceState{Status: types.ResourceStatusDeprecated}, ClientToken: aws.String("dep-1"),
	})
	expectCode(t, err, "InvalidRequestException", "container image")
	_, err = f.client.StartResourceStateUpdate(ctx(t), &imagebuilder.StartResourceStateUpdateInput{
		ResourceArn: aws.String(newest), State: &types.ResourceState{Status: types.ResourceStatusDeleted}, ClientToken: aws.String("del-0"),
		IncludeResources: &types.ResourceStateUpdateIncludeResources{Amis: true},
	})
	expectCode(t, err, "InvalidParameterValueException", "includeResources")
	_, err = f.client.StartResourceStateUpdate(ctx(t), &imagebuilder.StartResourceStateUpdateInput{
		ResourceArn: aws.String(middle), State: &types.ResourceState{Status: types.ResourceStatusAvailable}, ClientToken: aws.String("back-1"),
	})
	expectCode(t, err, "InvalidRequestException", "DELETED")
	if f.status(t, newest) != types.ImageStatusAvailable {
		t.Fatal("a refused state update changed the image")
	}
	del := &imagebuilder.StartResourceStateUpdateInput{
		ResourceArn: aws.String(newest), State: &types.ResourceState{Status: types.ResourceStatusDeleted}, ClientToken: aws.String("del-1"),
		IncludeResources: &types.ResourceStateUpdateIncludeResources{Containers: true},
		ExecutionRole:    aws.String("arn:aws:iam::000000000000:role/lifecycle"),
	}
	first, err := f.client.StartResourceStateUpdate(ctx(t), del)
	if err != nil {
		t.Fatal(err)
	}
	if f.status(t, newest) != types.ImageStatusDeleted || inRegistry(t, uris[2]) {
		t.Errorf("after the state update: %s, in the registry %v", f.status(t, newest), inRegistry(t, uris[2]))
	}
	repeat, err := f.client.StartResourceStateUpdate(ctx(t), del)
	if err != nil || aws.ToString(repeat.LifecycleExecutionId) != aws.ToString(first.LifecycleExecutionId) {
		t.Errorf("repeat with the same clientToken: %v, %v; want execution %s", repeat, err, aws.ToString(first.LifecycleExecutionId))
	}
	del.State.Status = types.ResourceStatusAvailable
	_, err = f.client.StartResourceStateUpdate(ctx(t), del)
	expectCode(t, err, "IdempotentParameterMismatchException", "del-1")
	updates, err := f.client.ListLifecycleExecutions(ctx(t), &imagebuilder.ListLifecycleExecutionsInput{ResourceArn: aws.String(newest)})
	if err != nil || len(updates.LifecycleExecutions) != 1 {
		t.Errorf("the image's executions: %+v %v", updates, err)
	}
	if !strings.Contains(f.srv.Log(), "executionRole accepted and ignored") {
		t.Error("no log line for the ignored executionRole")
	}
}
