// Package lifecycle_test drives lifecycle policies and
// StartResourceStateUpdate end to end: the real kiln binary
// (internal/kilntest), aws-sdk-go-v2, Debian's AWS CLI, `kiln lifecycle
// run` and skopeo, with images aged by kiln's test clock
// (KILN_TEST_CLOCK) rather than by sleeping.
package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/aws/smithy-go"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/testclock"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// fixture is one kiln with a test clock, an infrastructure configuration
// and the helpers the tests share.
type fixture struct {
	srv    *kilntest.Server
	client *imagebuilder.Client
	clock  *testclock.Clock
	infra  string
}

func start(t *testing.T, args ...string) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	clock := kilntest.NewClock(t)
	srv := kilntest.StartEnv(t, []string{clock.Env()}, args...)
	f := &fixture{srv: srv, client: srv.Client(kilntest.DefaultCreds), clock: clock}
	out, err := f.client.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *out.InfrastructureConfigurationArn
	return f
}

// advance moves kiln's clock forward by d.
func (f *fixture) advance(t *testing.T, d time.Duration) {
	t.Helper()
	if err := f.clock.Set(f.clock.Offset() + d); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) image(t *testing.T, arn string) *types.Image {
	t.Helper()
	out, err := f.client.GetImage(kilntest.Context(t), &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("GetImage %s: %v", arn, err)
	}
	return out.Image
}

func (f *fixture) status(t *testing.T, arn string) types.ImageStatus {
	t.Helper()
	return f.image(t, arn).State.Status
}

// wait polls GetImage until the image leaves the build states.
func (f *fixture) wait(t *testing.T, arn string) *types.Image {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		img := f.image(t, arn)
		switch img.State.Status {
		case types.ImageStatusAvailable:
			return img
		case types.ImageStatusFailed, types.ImageStatusCancelled:
			t.Fatalf("image %s is %s: %s\n%s", arn, img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("image %s was not built in time\n%s", arn, f.srv.Log())
	return nil
}

// kiln runs a kiln client subcommand against the server.
func (f *fixture) kiln(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kilntest.Binary(t), args...)
	cmd.Env = append(os.Environ(), "KILN_ENDPOINT="+f.srv.URL,
		"AWS_ACCESS_KEY_ID="+kilntest.DefaultCreds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+kilntest.DefaultCreds.SecretAccessKey)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// awsCLI runs Debian's AWS CLI against the server, with kiln's model
// (the Debian CLI predates the lifecycle operations), and decodes its
// JSON answer into v.
func (f *fixture) awsCLI(t *testing.T, v any, args ...string) {
	t.Helper()
	kilntest.RequireTool(t, "/usr/bin/aws", "awscli")
	models := filepath.Join(t.TempDir(), "models")
	if out, err := exec.Command(kilntest.Binary(t), "aws-model", models).CombinedOutput(); err != nil {
		t.Fatalf("kiln aws-model: %v\n%s", err, out)
	}
	cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", f.srv.URL, "--output", "json", "imagebuilder"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_DATA_PATH="+models, "AWS_ACCESS_KEY_ID=AKIDCLI", "AWS_SECRET_ACCESS_KEY=cli",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, ee.Stderr)
		}
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// apiCode is the AWS error code of err ("" for none).
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func expectCode(t *testing.T, err error, code, mention string) {
	t.Helper()
	if apiCode(err) != code || !strings.Contains(err.Error(), mention) {
		t.Fatalf("err = %v; want %s naming %q", err, code, mention)
	}
}

func (f *fixture) resources(t *testing.T, exec, parent string) []types.LifecycleExecutionResource {
	t.Helper()
	in := &imagebuilder.ListLifecycleExecutionResourcesInput{LifecycleExecutionId: aws.String(exec)}
	if parent != "" {
		in.ParentResourceId = aws.String(parent)
	}
	out, err := f.client.ListLifecycleExecutionResources(kilntest.Context(t), in)
	if err != nil {
		t.Fatalf("ListLifecycleExecutionResources: %v", err)
	}
	return out.Resources
}

// resourceOf finds id among resources.
func resourceOf(t *testing.T, list []types.LifecycleExecutionResource, id string) types.LifecycleExecutionResource {
	t.Helper()
	for _, r := range list {
		if aws.ToString(r.ResourceId) == id {
			return r
		}
	}
	t.Fatalf("no resource %s among %d", id, len(list))
	return types.LifecycleExecutionResource{}
}

// executionID is the ID `kiln lifecycle run` printed.
func executionID(t *testing.T, out string) string {
	t.Helper()
	for _, w := range strings.Fields(out) {
		if strings.HasPrefix(w, "lce-") {
			return w
		}
	}
	t.Fatalf("no execution ID in:\n%s", out)
	return ""
}

func ageFilter(days int32) *types.LifecyclePolicyDetailFilter {
	return &types.LifecyclePolicyDetailFilter{Type: types.LifecyclePolicyDetailFilterTypeAge, Value: aws.Int32(days), Unit: types.LifecyclePolicyTimeUnitDays}
}

func ctx(t *testing.T) context.Context { return kilntest.Context(t) }
