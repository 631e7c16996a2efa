// Package wf tests custom workflows end to end: every step action, step
// inputs with references and parameters, if conditions, onFailure,
// timeouts, rollback, and WaitForAction with ListWaitingWorkflowSteps,
// SendWorkflowStepAction and `kiln workflow resume|stop` — through the
// real kiln binary, with aws-sdk-go-v2, the AWS CLI and kiln's own CLI.
// Builds are container builds on a busybox base (the fastest there are).
package wf

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/aws/smithy-go"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

const (
	minimalTemplate = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"
	otherAccount    = "222222222222"
)

// markerComponent marks the image in its build phase and checks the mark
// in its test phase.
const markerComponent = `name: marker
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Mark
        action: ExecuteBash
        inputs:
          commands: ["echo built > /etc/wf-component"]
  - name: test
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands: ["grep -q built /etc/wf-component"]
`

// otherCreds map to otherAccount through the credentials file fixture
// writes; DefaultCreds are in no file, so they act as the default account.
var otherCreds = kilntest.Creds{AccessKeyID: "AKIDOTHER", SecretAccessKey: "other-secret"}

// fixture is a kiln with a busybox base in its registry, an
// infrastructure configuration and a container recipe.
type fixture struct {
	srv    *kilntest.Server
	client *imagebuilder.Client
	infra  string
	recipe string
	// component is the marker component's ARN.
	component *string
}

func newFixture(t *testing.T, args ...string) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	err := os.WriteFile(creds, []byte("[other]\naws_access_key_id = "+otherCreds.AccessKeyID+
		"\naws_secret_access_key = "+otherCreds.SecretAccessKey+"\naws_account_id = "+otherAccount+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	srv := kilntest.Start(t, append([]string{"--credentials", creds}, args...)...)
	f := &fixture{srv: srv, client: srv.Client(kilntest.DefaultCreds)}
	base := srv.PushBusyboxBase(t, "base/busybox")
	ctx := kilntest.Context(t)
	infra, err := f.client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
	comp, err := f.client.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("marker"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String(markerComponent),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.component = comp.ComponentBuildVersionArn
	recipe, err := f.client.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String("wf-recipe"), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(base), DockerfileTemplateData: aws.String(minimalTemplate),
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("wf/out")},
		Components:       []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.recipe = *recipe.ContainerRecipeArn
	return f
}

// workflow creates a workflow document and returns its build ARN.
func (f *fixture) workflow(t *testing.T, name string, typ types.WorkflowType, doc string) string {
	t.Helper()
	out, err := f.client.CreateWorkflow(kilntest.Context(t), &imagebuilder.CreateWorkflowInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), Type: typ, Data: aws.String(doc),
	})
	if err != nil {
		t.Fatalf("CreateWorkflow %s: %v", name, err)
	}
	return *out.WorkflowBuildVersionArn
}

// image starts a build of the fixture's recipe with the given workflows
// (tests disabled unless a TEST workflow is given).
func (f *fixture) image(t *testing.T, wfs ...types.WorkflowConfiguration) string {
	t.Helper()
	arn, err := f.createImage(t, wfs...)
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	return arn
}

func (f *fixture) createImage(t *testing.T, wfs ...types.WorkflowConfiguration) (string, error) {
	t.Helper()
	tests := false
	for _, w := range wfs {
		tests = tests || workflowType(aws.ToString(w.WorkflowArn)) == "test"
	}
	out, err := f.client.CreateImage(kilntest.Context(t), &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(f.recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(tests)},
		Workflows:               wfs, ExecutionRole: aws.String("kiln"),
	})
	if err != nil {
		return "", err
	}
	return *out.ImageBuildVersionArn, nil
}

// workflowType is the type part of a workflow ARN (build, test, distribution).
func workflowType(a string) string {
	for _, typ := range []string{"build", "test", "distribution"} {
		if filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(a)))) == typ {
			return typ
		}
	}
	return ""
}

func use(arn string, params ...types.WorkflowParameter) types.WorkflowConfiguration {
	return types.WorkflowConfiguration{WorkflowArn: aws.String(arn), Parameters: params}
}

func param(name string, values ...string) types.WorkflowParameter {
	return types.WorkflowParameter{Name: aws.String(name), Value: values}
}

// wait polls GetImage until the image is terminal (or one of want).
func (f *fixture) wait(t *testing.T, image string, timeout time.Duration, want ...types.ImageStatus) *types.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	terminal := []types.ImageStatus{types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled}
	for {
		out, err := f.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err == nil && out.Image.State != nil {
			if slices.Contains(want, out.Image.State.Status) || slices.Contains(terminal, out.Image.State.Status) {
				return out.Image
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("image %s did not reach %v within %s; server log:\n%s", image, want, timeout, f.srv.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// steps returns the step executions of the image's workflow of type typ
// (BUILD, TEST, DISTRIBUTION), by step name, from its latest run.
func (f *fixture) steps(t *testing.T, image string, typ types.WorkflowType) (types.WorkflowExecutionMetadata, map[string]types.WorkflowStepMetadata) {
	t.Helper()
	ctx := kilntest.Context(t)
	execs, err := f.client.ListWorkflowExecutions(ctx, &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(image)})
	if err != nil {
		t.Fatal(err)
	}
	var x *types.WorkflowExecutionMetadata
	for i := range execs.WorkflowExecutions {
		if execs.WorkflowExecutions[i].Type == typ {
			x = &execs.WorkflowExecutions[i]
		}
	}
	if x == nil {
		t.Fatalf("image %s ran no %s workflow", image, typ)
	}
	out, err := f.client.ListWorkflowStepExecutions(ctx, &imagebuilder.ListWorkflowStepExecutionsInput{WorkflowExecutionId: x.WorkflowExecutionId})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]types.WorkflowStepMetadata{}
	for _, s := range out.Steps {
		byName[aws.ToString(s.Name)] = s
	}
	return *x, byName
}

// outputs decodes a step's outputs.
func outputs(t *testing.T, s types.WorkflowStepMetadata) map[string]any {
	t.Helper()
	var m map[string]any
	if s.Outputs == nil {
		return m
	}
	if err := json.Unmarshal([]byte(*s.Outputs), &m); err != nil {
		t.Fatalf("step %s outputs %q: %v", aws.ToString(s.Name), aws.ToString(s.Outputs), err)
	}
	return m
}

// waiting lists the waiting steps (every page, maxResults per page).
func waiting(t *testing.T, c *imagebuilder.Client, maxResults int32) []types.WorkflowStepExecution {
	t.Helper()
	var all []types.WorkflowStepExecution
	p := imagebuilder.NewListWaitingWorkflowStepsPaginator(c, &imagebuilder.ListWaitingWorkflowStepsInput{MaxResults: aws.Int32(maxResults)})
	for p.HasMorePages() {
		page, err := p.NextPage(kilntest.Context(t))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Steps...)
	}
	return all
}

// waitingStepOf waits until the image has a waiting step and returns it.
func (f *fixture) waitingStepOf(t *testing.T, image string, timeout time.Duration) types.WorkflowStepExecution {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, s := range waiting(t, f.client, 25) {
			if aws.ToString(s.ImageBuildVersionArn) == image {
				return s
			}
		}
		if time.Now().After(deadline) {
			img := f.wait(t, image, time.Second, types.ImageStatusBuilding, types.ImageStatusPending)
			t.Fatalf("no step of %s waits after %s (image %s: %s); server log:\n%s", image, timeout, img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "not an API error: " + err.Error()
	}
	return ""
}

// kiln runs the kiln CLI against the fixture's server.
func (f *fixture) kiln(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kilntest.Binary(t), args...)
	cmd.Env = append(os.Environ(), "KILN_ENDPOINT="+f.srv.URL, "AWS_ACCESS_KEY_ID="+kilntest.DefaultCreds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+kilntest.DefaultCreds.SecretAccessKey, "AWS_REGION=us-east-1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
