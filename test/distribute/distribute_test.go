// Package distribute tests DistributeImage end to end: the real kiln
// binary, driven through aws-sdk-go-v2 and skopeo, distributing machine
// images and container images it built or imported before.
package distribute

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/aws/smithy-go"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// The two accounts of the tests, mapped by --credentials.
var (
	alice = kilntest.Creds{AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret"}
	bob   = kilntest.Creds{AccessKeyID: "AKIDBOB", SecretAccessKey: "bob-secret"}
)

const (
	aliceAccount = "111111111111"
	bobAccount   = "222222222222"
)

// fixture is a kiln serving alice and bob, with an infrastructure
// configuration of alice's.
type fixture struct {
	srv     *kilntest.Server
	alice   *imagebuilder.Client
	bob     *imagebuilder.Client
	infra   string
	imports string // the directory file:// imports may read
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte(`[alice]
aws_access_key_id = AKIDALICE
aws_secret_access_key = alice-secret
aws_account_id = `+aliceAccount+`

[bob]
aws_access_key_id = AKIDBOB
aws_secret_access_key = bob-secret
aws_account_id = `+bobAccount+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fixture{imports: t.TempDir()}
	f.srv = kilntest.Start(t, "--credentials", creds, "--allow-import-dir", f.imports)
	f.alice, f.bob = f.srv.Client(alice), f.srv.Client(bob)
	out, err := f.alice.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *out.InfrastructureConfigurationArn
	return f
}

// waitImage polls GetImage until the image leaves the statuses in
// passing, and returns it.
func (f *fixture) waitImage(t *testing.T, c *imagebuilder.Client, image string, passing ...types.ImageStatus) *types.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for {
		out, err := c.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err != nil {
			t.Fatalf("GetImage %s: %v\n%s", image, err, f.srv.Log())
		}
		if out.Image.State != nil && !slices.Contains(passing, out.Image.State.Status) {
			return out.Image
		}
		select {
		case <-ctx.Done():
			t.Fatalf("image %s stayed %v; server log:\n%s", image, passing, f.srv.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var building = []types.ImageStatus{types.ImageStatusPending, types.ImageStatusCreating, types.ImageStatusBuilding,
	types.ImageStatusTesting, types.ImageStatusDistributing, types.ImageStatusIntegrating}

// importImage imports a small root filesystem as alice's machine image
// and returns its ARN and AMI.
func (f *fixture) importImage(t *testing.T) (image, amiID string) {
	t.Helper()
	tarball := kilntest.BootableRootTarball(t, f.imports)
	out, err := f.alice.ImportDiskImage(kilntest.Context(t), &imagebuilder.ImportDiskImageInput{
		Name: aws.String("base"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(f.infra),
		Uri: aws.String("file://" + tarball),
	})
	if err != nil {
		t.Fatalf("ImportDiskImage: %v", err)
	}
	img := f.waitImage(t, f.alice, *out.ImageBuildVersionArn, building...)
	if img.State.Status != types.ImageStatusAvailable || img.OutputResources == nil || len(img.OutputResources.Amis) != 1 {
		t.Fatalf("import: %+v %+v\n%s", img.State, img.OutputResources, f.srv.Log())
	}
	return *out.ImageBuildVersionArn, *img.OutputResources.Amis[0].Image
}

// distributionExecutions returns the image's DISTRIBUTION workflow
// executions as alice sees them.
func (f *fixture) distributionExecutions(t *testing.T, image string) []types.WorkflowExecutionMetadata {
	t.Helper()
	out, err := f.alice.ListWorkflowExecutions(kilntest.Context(t), &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(image)})
	if err != nil {
		t.Fatalf("ListWorkflowExecutions: %v", err)
	}
	var dist []types.WorkflowExecutionMetadata
	for _, x := range out.WorkflowExecutions {
		if x.Type == types.WorkflowTypeDistribution {
			dist = append(dist, x)
		}
	}
	return dist
}

// catalogueAMI is what kiln's catalogue endpoint lists of an AMI.
type catalogueAMI struct {
	ImageID    string            `json:"imageId"`
	Name       string            `json:"name"`
	Region     string            `json:"region"`
	AccountID  string            `json:"accountId"`
	Tags       map[string]string `json:"tags"`
	Image      string            `json:"image"`
	Disk       string            `json:"disk"`
	Launchable []string          `json:"launchPermission"`
}

// amis lists the AMIs creds may launch, from kiln's catalogue endpoint.
func (f *fixture) amis(t *testing.T, creds kilntest.Creds) []catalogueAMI {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+"/kiln/v1/amis", nil)
	if err != nil {
		t.Fatal(err)
	}
	empty := sha256.Sum256(nil)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, hex.EncodeToString(empty[:]), "imagebuilder", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var list []catalogueAMI
	if resp.StatusCode != 200 || json.Unmarshal(body, &list) != nil {
		t.Fatalf("GET /kiln/v1/amis = %d %s", resp.StatusCode, body)
	}
	return list
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// TestDistributeImageMachine distributes an imported machine image with a
// second distribution configuration: new AMIs in two regions and a target
// account, with the configuration's name, launch permission and tags and
// the request's tags, recorded as a DISTRIBUTION workflow execution on the
// image; then again by AMI id; and checks the clientToken's idempotency.
func TestDistributeImageMachine(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := kilntest.Context(t)
	image, amiID := f.importImage(t)
	before := f.distributionExecutions(t, image)

	dist, err := f.alice.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String("again"),
		Distributions: []types.Distribution{
			{Region: aws.String("us-east-1"), AmiDistributionConfiguration: &types.AmiDistributionConfiguration{
				Name:             aws.String("copy {{ imagebuilder:buildVersion }}"),
				TargetAccountIds: []string{bobAccount},
				LaunchPermission: &types.LaunchPermissionConfiguration{UserIds: []string{"333333333333"}},
				AmiTags:          map[string]string{"team": "infra"},
			}},
			{Region: aws.String("eu-west-1")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	in := &imagebuilder.DistributeImageInput{
		SourceImage: aws.String(image), DistributionConfigurationArn: dist.DistributionConfigurationArn,
		ExecutionRole: aws.String("arn:aws:iam::111111111111:role/distributor"),
		Tags:          map[string]string{"release": "r1"}, ClientToken: aws.String("distribute-once"),
	}
	out, err := f.alice.DistributeImage(ctx, in)
	if err != nil {
		t.Fatalf("DistributeImage: %v", err)
	}
	if aws.ToString(out.ImageBuildVersionArn) != image || aws.ToString(out.ClientToken) != "distribute-once" {
		t.Fatalf("DistributeImage answered %s %s, want %s", aws.ToString(out.ImageBuildVersionArn), aws.ToString(out.ClientToken), image)
	}
	img := f.waitImage(t, f.alice, image, types.ImageStatusDistributing)
	if img.State.Status != types.ImageStatusAvailable || aws.ToString(img.State.Reason) != "" {
		t.Fatalf("after DistributeImage the image is %s (%s)\n%s", img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
	}

	// The record: one more DISTRIBUTION execution, COMPLETED, with its
	// step.
	after := f.distributionExecutions(t, image)
	if len(after) != len(before)+1 {
		t.Fatalf("distribution executions before %d, after %d: %+v", len(before), len(after), after)
	}
	x := after[len(after)-1]
	if x.Status != types.WorkflowExecutionStatusCompleted || x.TotalStepsSucceeded != 1 {
		t.Fatalf("the distribution's execution: %+v", x)
	}
	got, err := f.alice.GetWorkflowExecution(ctx, &imagebuilder.GetWorkflowExecutionInput{WorkflowExecutionId: x.WorkflowExecutionId})
	if err != nil || got.Type != types.WorkflowTypeDistribution || !strings.Contains(aws.ToString(got.WorkflowBuildVersionArn), "workflow/distribution/distribute-image/") {
		t.Fatalf("GetWorkflowExecution: %v %+v", err, got)
	}
	steps, err := f.alice.ListWorkflowStepExecutions(ctx, &imagebuilder.ListWorkflowStepExecutionsInput{WorkflowExecutionId: x.WorkflowExecutionId})
	if err != nil || len(steps.Steps) != 1 || aws.ToString(steps.Steps[0].Action) != "DistributeImage" || steps.Steps[0].Status != types.WorkflowStepExecutionStatusCompleted {
		t.Fatalf("ListWorkflowStepExecutions: %v %+v", err, steps)
	}

	// The effects: three more AMIs (alice's in both regions, bob's copy),
	// added to the image's outputResources next to the imported one.
	var regions []string
	for _, a := range img.OutputResources.Amis {
		regions = append(regions, aws.ToString(a.Region)+"/"+aws.ToString(a.AccountId))
	}
	slices.Sort(regions)
	want := []string{"eu-west-1/" + aliceAccount, "us-east-1/" + aliceAccount, "us-east-1/" + aliceAccount, "us-east-1/" + bobAccount}
	if !slices.Equal(regions, want) || aws.ToString(img.OutputResources.Amis[0].Image) != amiID {
		t.Fatalf("outputResources.amis = %v (first %s), want %v with %s first", regions, aws.ToString(img.OutputResources.Amis[0].Image), want, amiID)
	}
	var copied *catalogueAMI
	for _, a := range f.amis(t, alice) {
		if a.Image == image && a.ImageID != amiID && a.Region == "us-east-1" {
			copied = &a
		}
	}
	if copied == nil {
		t.Fatalf("alice's catalogue has no us-east-1 copy of %s: %+v", image, f.amis(t, alice))
	}
	if copied.Name != "copy 1" || copied.Tags["team"] != "infra" || copied.Tags["release"] != "r1" || !slices.Contains(copied.Launchable, "333333333333") {
		t.Errorf("the us-east-1 copy: %+v", copied)
	}
	bobs := 0
	for _, a := range f.amis(t, bob) {
		if a.Image == image && a.AccountID == bobAccount {
			bobs++
		}
	}
	if bobs != 1 {
		t.Errorf("bob owns %d copies of %s, want 1", bobs, image)
	}

	// Its log, through `kiln logs`, as alice.
	logs := exec.Command(kilntest.Binary(t), "logs", "--endpoint", f.srv.URL, image)
	logs.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+alice.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+alice.SecretAccessKey)
	if out, err := logs.CombinedOutput(); err != nil || !strings.Contains(string(out), `"copy 1" in us-east-1 for account `+bobAccount) {
		t.Errorf("kiln logs: %v\n%s", err, out)
	}

	// The same request again answers the same and distributes nothing.
	again, err := f.alice.DistributeImage(ctx, in)
	if err != nil || aws.ToString(again.ImageBuildVersionArn) != image {
		t.Fatalf("repeated DistributeImage: %v %+v", err, again)
	}
	if n := len(f.distributionExecutions(t, image)); n != len(after) {
		t.Fatalf("a repeated clientToken ran another distribution: %d executions, want %d", n, len(after))
	}
	other := *in
	other.Tags = map[string]string{"release": "r2"}
	if _, err := f.alice.DistributeImage(ctx, &other); errorCode(err) != "IdempotentParameterMismatchException" {
		t.Fatalf("clientToken reused with other tags: %v", err)
	}

	// By AMI id, once more: one more execution, one more AMI per target.
	byAMI := *in
	byAMI.SourceImage, byAMI.ClientToken, byAMI.Tags = aws.String(amiID), aws.String("by-ami"), nil
	if out, err := f.alice.DistributeImage(ctx, &byAMI); err != nil || aws.ToString(out.ImageBuildVersionArn) != image {
		t.Fatalf("DistributeImage by AMI id: %v %+v", err, out)
	}
	img = f.waitImage(t, f.alice, image, types.ImageStatusDistributing)
	if img.State.Status != types.ImageStatusAvailable || len(img.OutputResources.Amis) != 7 {
		t.Fatalf("after the second distribution: %+v, %d AMIs", img.State, len(img.OutputResources.Amis))
	}
	if n := len(f.distributionExecutions(t, image)); n != len(after)+1 {
		t.Fatalf("after the second distribution: %d executions, want %d", n, len(after)+1)
	}

	// A distribution acknowledged is never lost: kiln killed at once
	// finishes it after its restart (from the start if it was running).
	crash := *in
	crash.ClientToken, crash.Tags = aws.String("before-a-crash"), nil
	if _, err := f.alice.DistributeImage(ctx, &crash); err != nil {
		t.Fatal(err)
	}
	f.srv.Kill()
	f.srv.Restart()
	img = f.waitImage(t, f.alice, image, types.ImageStatusDistributing)
	last := f.distributionExecutions(t, image)
	if img.State.Status != types.ImageStatusAvailable || len(img.OutputResources.Amis) < 10 ||
		last[len(last)-1].Status != types.WorkflowExecutionStatusCompleted {
		t.Fatalf("after a crash: %+v, %d AMIs, executions %+v\n%s", img.State, len(img.OutputResources.Amis), last, f.srv.Log())
	}
}

// TestDistributeImageRefusals sends DistributeImage requests kiln must
// refuse, each with the error code a client expects and a message naming
// what is wrong, and checks that none of them distributed anything.
func TestDistributeImageRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := kilntest.Context(t)
	image, amiID := f.importImage(t)
	mk := func(c *imagebuilder.Client, name string) string {
		out, err := c.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
			Name: aws.String(name), Distributions: []types.Distribution{{Region: aws.String("us-east-1")}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return *out.DistributionConfigurationArn
	}
	alicesDist, bobsDist := mk(f.alice, "alices"), mk(f.bob, "bobs")
	version := strings.TrimSuffix(image, "/1")
	role := "distributor"
	cases := []struct {
		name              string
		client            *imagebuilder.Client
		source, dist, tok string
		role              string
		code, mention     string
	}{
		{"ssm parameter", f.alice, "ssm:/kiln/ami", alicesDist, "t1", role, "InvalidParameterValueException", "sourceImage"},
		{"neither ARN nor AMI", f.alice, "debian-12", alicesDist, "t2", role, "InvalidParameterValueException", "sourceImage"},
		{"not an image ARN", f.alice, alicesDist, alicesDist, "t3", role, "InvalidParameterValueException", "sourceImage"},
		{"unknown image", f.alice, version + "/9", alicesDist, "t4", role, "ResourceNotFoundException", version + "/9"},
		{"unknown AMI", f.alice, "ami-0123456789abcdef0", alicesDist, "t5", role, "ResourceNotFoundException", "ami-0123456789abcdef0"},
		{"another account's image", f.bob, image, bobsDist, "t6", role, "ResourceNotFoundException", image},
		{"another account's AMI", f.bob, amiID, bobsDist, "t7", role, "ResourceNotFoundException", amiID},
		{"another account's distribution", f.alice, image, bobsDist, "t8", role, "ResourceNotFoundException", bobsDist},
		{"bad distribution ARN", f.alice, image, "arn:aws:imagebuilder:us-east-1:111111111111:image-recipe/x/1.0.0", "t9", role, "InvalidParameterValueException", "distributionConfigurationArn"},
		{"empty role", f.alice, image, alicesDist, "t10", "", "InvalidParameterValueException", "executionRole"},
		{"long client token", f.alice, image, alicesDist, strings.Repeat("t", 37), role, "InvalidParameterValueException", "clientToken"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.client.DistributeImage(ctx, &imagebuilder.DistributeImageInput{
				SourceImage: aws.String(tc.source), DistributionConfigurationArn: aws.String(tc.dist),
				ExecutionRole: aws.String(tc.role), ClientToken: aws.String(tc.tok),
			})
			if errorCode(err) != tc.code || !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("got %v, want %s naming %q", err, tc.code, tc.mention)
			}
		})
	}
	if x := f.distributionExecutions(t, image); len(x) != 0 {
		t.Fatalf("refused requests distributed: %+v", x)
	}
	img := f.waitImage(t, f.alice, image)
	if img.State.Status != types.ImageStatusAvailable || len(img.OutputResources.Amis) != 1 {
		t.Fatalf("refused requests changed the image: %+v %+v", img.State, img.OutputResources)
	}

	// Debian's AWS CLI, taught the current model by `kiln aws-model`: a
	// refusal naming the member, then a distribution by AMI id.
	if out, err := f.awsCLI(t, alice, "distribute-image", "--source-image", "ssm:/kiln/ami", "--distribution-configuration-arn", alicesDist,
		"--execution-role", role, "--client-token", "cli-bad"); err == nil || !strings.Contains(out, "InvalidParameterValueException") || !strings.Contains(out, "sourceImage") {
		t.Fatalf("aws imagebuilder distribute-image with an SSM parameter: %v\n%s", err, out)
	}
	out, err := f.awsCLI(t, alice, "distribute-image", "--source-image", amiID, "--distribution-configuration-arn", alicesDist,
		"--execution-role", role, "--client-token", "cli-good", "--query", "imageBuildVersionArn", "--output", "text")
	if err != nil || strings.TrimSpace(out) != image {
		t.Fatalf("aws imagebuilder distribute-image: %v\n%s", err, out)
	}
	img = f.waitImage(t, f.alice, image, types.ImageStatusDistributing)
	if x := f.distributionExecutions(t, image); img.State.Status != types.ImageStatusAvailable || len(img.OutputResources.Amis) != 2 || len(x) != 1 {
		t.Fatalf("after the CLI's distribution: %+v, %+v, %d executions\n%s", img.State, img.OutputResources, len(x), f.srv.Log())
	}

	// Shared with bob by a resource policy, the image is his to
	// distribute: the copy is his AMI, the record stays alice's.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":["imagebuilder:GetImage"]}]}`
	if _, err := f.alice.PutImagePolicy(ctx, &imagebuilder.PutImagePolicyInput{ImageArn: aws.String(image), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.bob.DistributeImage(ctx, &imagebuilder.DistributeImageInput{SourceImage: aws.String(image),
		DistributionConfigurationArn: aws.String(bobsDist), ExecutionRole: aws.String(role), ClientToken: aws.String("bob")}); err != nil {
		t.Fatalf("bob's DistributeImage of the shared image: %v", err)
	}
	if img := f.waitImage(t, f.bob, image, types.ImageStatusDistributing); img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("after bob's distribution: %+v\n%s", img.State, f.srv.Log())
	}
	var bobs []string
	for _, a := range f.amis(t, bob) {
		if a.Image == image && a.AccountID == bobAccount {
			bobs = append(bobs, a.ImageID)
		}
	}
	if x := f.distributionExecutions(t, image); len(bobs) != 1 || len(x) != 2 || x[1].Status != types.WorkflowExecutionStatusCompleted {
		t.Fatalf("bob's distribution: his AMIs %v, alice's record %+v", bobs, x)
	}
}

// TestDistributeImageContainer builds a container image, then distributes
// it with a second distribution configuration: the image is pushed to the
// configuration's repository under its tags, the URIs are added to the
// image's outputResources, and the run is recorded as the image's
// distribute-container workflow.
func TestDistributeImageContainer(t *testing.T) {
	t.Parallel()
	kilntest.RequireTool(t, "/usr/bin/skopeo", "skopeo")
	f := newFixture(t)
	ctx := kilntest.Context(t)
	base := f.srv.PushBusyboxBase(t, "base/busybox")
	comp, err := f.alice.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("mark"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String("name: mark\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: ExecuteBash\n        inputs:\n          commands: [\"echo distributed > /etc/mark\"]\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := f.alice.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String("app"), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(base), Components: []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("app")},
	})
	if err != nil {
		t.Fatal(err)
	}
	created, err := f.alice.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ContainerRecipeArn: recipe.ContainerRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	image := *created.ImageBuildVersionArn
	if img := f.waitImage(t, f.alice, image, building...); img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("the build: %+v\n%s", img.State, f.srv.Log())
	}
	before := f.distributionExecutions(t, image)

	dist, err := f.alice.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String("copies"), Distributions: []types.Distribution{{Region: aws.String("us-east-1"),
			ContainerDistributionConfiguration: &types.ContainerDistributionConfiguration{
				ContainerTags:    []string{"v1", "stable"},
				TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("copies/app")},
			}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.alice.DistributeImage(ctx, &imagebuilder.DistributeImageInput{
		SourceImage: aws.String(strings.TrimSuffix(image, "/1")), DistributionConfigurationArn: dist.DistributionConfigurationArn,
		ExecutionRole: aws.String("distributor"), ClientToken: aws.String("containers"),
	})
	if err != nil || aws.ToString(out.ImageBuildVersionArn) != image {
		t.Fatalf("DistributeImage by version ARN: %v %+v", err, out)
	}
	img := f.waitImage(t, f.alice, image, types.ImageStatusDistributing)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("after DistributeImage: %+v\n%s", img.State, f.srv.Log())
	}
	after := f.distributionExecutions(t, image)
	if len(after) != len(before)+1 || after[len(after)-1].Status != types.WorkflowExecutionStatusCompleted ||
		!strings.Contains(aws.ToString(after[len(after)-1].WorkflowBuildVersionArn), "distribute-container") {
		t.Fatalf("distribution executions before %+v, after %+v", before, after)
	}
	var uris []string
	for _, c := range img.OutputResources.Containers {
		uris = append(uris, c.ImageUris...)
	}
	for _, want := range []string{f.srv.Addr + "/app:1.0.0-1", f.srv.Addr + "/copies/app:v1", f.srv.Addr + "/copies/app:stable"} {
		if !slices.Contains(uris, want) {
			t.Errorf("outputResources.containers lack %s: %v", want, uris)
		}
	}
	built := kilntest.Skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+f.srv.Addr+"/app:1.0.0-1")
	for _, tag := range []string{"v1", "stable"} {
		got := kilntest.Skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+f.srv.Addr+"/copies/app:"+tag)
		if strings.TrimSpace(got) != strings.TrimSpace(built) {
			t.Errorf("copies/app:%s is %s, want the built %s", tag, got, built)
		}
	}
}

// awsCLI runs Debian's `aws imagebuilder ARGS` against kiln as creds,
// with the model `kiln aws-model` writes (Debian's CLI predates
// DistributeImage), and returns its combined output.
func (f *fixture) awsCLI(t *testing.T, creds kilntest.Creds, args ...string) (string, error) {
	t.Helper()
	kilntest.RequireTool(t, "/usr/bin/aws", "awscli")
	home := t.TempDir()
	models := filepath.Join(home, "models")
	if out, err := exec.Command(kilntest.Binary(t), "aws-model", models).CombinedOutput(); err != nil {
		t.Fatalf("kiln aws-model: %v\n%s", err, out)
	}
	cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", f.srv.URL, "imagebuilder"}, args...)...)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_DATA_PATH="+models,
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"), "HOME="+home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
