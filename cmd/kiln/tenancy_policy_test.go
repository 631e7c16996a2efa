package main

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
)

// Adversarial tests of resource policies, dependency checks and build
// logs between accounts: alice owns, bob is hostile, carol is a bystander
// a policy may grant.

const (
	aliceAccount = "111111111111"
	bobAccount   = "222222222222"
	carolAccount = "333333333333"
)

// writeThreeAccounts writes a shared-credentials file with alice, bob
// and carol.
func writeThreeAccounts(t *testing.T) (path string, alice, bob, carol kilntest.Creds) {
	alice = kilntest.Creds{AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret"}
	bob = kilntest.Creds{AccessKeyID: "AKIDBOB", SecretAccessKey: "bob-secret"}
	carol = kilntest.Creds{AccessKeyID: "AKIDCAROL", SecretAccessKey: "carol-secret"}
	path = filepath.Join(t.TempDir(), "credentials")
	content := `[alice]
aws_access_key_id = AKIDALICE
aws_secret_access_key = alice-secret
aws_account_id = ` + aliceAccount + `

[bob]
aws_access_key_id = AKIDBOB
aws_secret_access_key = bob-secret
aws_account_id = ` + bobAccount + `

[carol]
aws_access_key_id = AKIDCAROL
aws_secret_access_key = carol-secret
aws_account_id = ` + carolAccount + `
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, alice, bob, carol
}

// canSeeComponent reports whether c reads the component and lists it
// under owner Shared; the two must agree for these policies, which grant
// Get and List together.
func canSeeComponent(t *testing.T, c *imagebuilder.Client, arn string) bool {
	t.Helper()
	ctx := kilntest.Context(t)
	_, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(arn)})
	if err != nil && apiCode(err) != "ResourceNotFoundException" {
		t.Fatalf("GetComponent %s: %v", arn, err)
	}
	listed := false
	shared, lerr := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{Owner: types.OwnershipShared})
	if lerr != nil {
		t.Fatal(lerr)
	}
	want := arn[:strings.LastIndex(arn, "/")] // the version ARN the list shows
	for _, v := range shared.ComponentVersionList {
		listed = listed || aws.ToString(v.Arn) == want
	}
	if listed != (err == nil) {
		t.Errorf("%s: GetComponent err %v but listed under Shared = %t", arn, err, listed)
	}
	return err == nil
}

func TestPolicyEvaluatedBetweenAccounts(t *testing.T) {
	t.Parallel()
	credFile, alice, bob, carol := writeThreeAccounts(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", credFile)
	a, b, c := srv.Client(alice), srv.Client(bob), srv.Client(carol)
	ctx := kilntest.Context(t)
	put := func(arn, policy string) error {
		_, err := a.PutComponentPolicy(ctx, &imagebuilder.PutComponentPolicyInput{ComponentArn: aws.String(arn), Policy: aws.String(policy)})
		return err
	}
	const getList = `"Action":["imagebuilder:GetComponent","imagebuilder:ListComponents"]`

	// A component just created is already in the server's read caches
	// (inserts fill them at commit): another account still finds nothing.
	if fresh := createHello(t, a, "fresh", "1.0.0"); canSeeComponent(t, b, fresh) {
		t.Errorf("bob sees alice's component %s right after its create", fresh)
	}

	// Each case shares its own component, named by the case's resource
	// name (some policies match on it).
	tests := []struct {
		name, resource    string
		policy            func(arn string) string
		bobSees, carolSee bool
	}{
		{"allow all, deny bob", "deny-bob", func(arn string) string {
			return `{"Version":"2012-10-17","Statement":[
				{"Sid":"Everyone","Effect":"Allow","Principal":"*",` + getList + `,"Resource":"` + arn + `"},
				{"Sid":"NotBob","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + bobAccount + `:root"},"Action":"imagebuilder:*"}]}`
		}, false, true},
		{"resource mismatch", "res-mismatch", func(arn string) string {
			other := strings.Replace(arn, "/res-mismatch/", "/someone-else/", 1)
			return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + bobAccount + `","` + carolAccount + `"]},` + getList + `,"Resource":["` + other + `"]}]}`
		}, false, false},
		{"resource wildcard", "res-wildcard", func(arn string) string {
			return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["` + bobAccount + `"]},` + getList + `,"Resource":"arn:aws:imagebuilder:us-east-1:` + aliceAccount + `:component/res-wildcard/*"}]}`
		}, true, false},
		{"condition on the principal's account", "cond-account", func(arn string) string {
			return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",` + getList + `,"Condition":{"StringEquals":{"aws:PrincipalAccount":"` + carolAccount + `"}}}]}`
		}, false, true},
		{"NotPrincipal deny", "not-principal", func(arn string) string {
			return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*",` + getList + `},{"Effect":"Deny","NotPrincipal":{"AWS":"` + carolAccount + `"},"Action":"*"}]}`
		}, false, true},
		{"a Get grant for another kind shares nothing", "other-kind", func(arn string) string {
			return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["imagebuilder:GetImage","imagebuilder:ListImages"]}]}`
		}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.resource
			arn := createHello(t, a, name, "1.0.0")
			if err := put(arn, tc.policy(arn)); err != nil {
				t.Fatalf("PutComponentPolicy: %v", err)
			}
			if got := canSeeComponent(t, b, arn); got != tc.bobSees {
				t.Errorf("bob sees = %t, want %t", got, tc.bobSees)
			}
			if got := canSeeComponent(t, c, arn); got != tc.carolSee {
				t.Errorf("carol sees = %t, want %t", got, tc.carolSee)
			}
			// Using it is reading it: bob's recipe on it succeeds exactly
			// when he may see it.
			_, err := b.CreateImageRecipe(ctx, simpleRecipe("on-"+name, "1.0.0", arn))
			if tc.bobSees != (err == nil) {
				t.Errorf("bob's recipe on it: err %v, want success %t", err, tc.bobSees)
			}
		})
	}
}

func TestPolicyRefusedNamingTheElement(t *testing.T) {
	t.Parallel()
	credFile, alice, bob, _ := writeThreeAccounts(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", credFile)
	a, b := srv.Client(alice), srv.Client(bob)
	ctx := kilntest.Context(t)

	comp := createHello(t, a, "guarded", "1.0.0")
	recipe, err := a.CreateImageRecipe(ctx, simpleRecipe("guarded", "1.0.0", comp))
	if err != nil {
		t.Fatal(err)
	}
	container, err := a.CreateContainerRecipe(ctx, containerRecipeInput("guarded-c", "1.0.0", comp))
	if err != nil {
		t.Fatal(err)
	}
	good := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + carolAccount + `"},"Action":"imagebuilder:Get*"}]}`
	type op struct {
		name string
		put  func(policy string) error
		get  func() (string, error)
	}
	ops := []op{
		{"component",
			func(p string) error {
				_, err := a.PutComponentPolicy(ctx, &imagebuilder.PutComponentPolicyInput{ComponentArn: aws.String(comp), Policy: aws.String(p)})
				return err
			},
			func() (string, error) {
				out, err := a.GetComponentPolicy(ctx, &imagebuilder.GetComponentPolicyInput{ComponentArn: aws.String(comp)})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.Policy), nil
			}},
		{"image recipe",
			func(p string) error {
				_, err := a.PutImageRecipePolicy(ctx, &imagebuilder.PutImageRecipePolicyInput{ImageRecipeArn: recipe.ImageRecipeArn, Policy: aws.String(p)})
				return err
			},
			func() (string, error) {
				out, err := a.GetImageRecipePolicy(ctx, &imagebuilder.GetImageRecipePolicyInput{ImageRecipeArn: recipe.ImageRecipeArn})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.Policy), nil
			}},
		{"container recipe",
			func(p string) error {
				_, err := a.PutContainerRecipePolicy(ctx, &imagebuilder.PutContainerRecipePolicyInput{ContainerRecipeArn: container.ContainerRecipeArn, Policy: aws.String(p)})
				return err
			},
			func() (string, error) {
				out, err := a.GetContainerRecipePolicy(ctx, &imagebuilder.GetContainerRecipePolicyInput{ContainerRecipeArn: container.ContainerRecipeArn})
				if err != nil {
					return "", err
				}
				return aws.ToString(out.Policy), nil
			}},
	}
	refused := []struct {
		name, policy, mentions string
	}{
		{"unsupported condition operator", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":"*","Action":"imagebuilder:Get*"},
			{"Effect":"Deny","Principal":"*","Action":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`,
			`Statement[1].Condition: operator "IpAddress" is not supported`},
		{"unsupported condition key", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-123"}}}]}`,
			`Statement[0].Condition.StringEquals: condition key "aws:PrincipalOrgID" is not supported`},
		{"service principal", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"*"}]}`,
			`Statement[0].Principal.Service`},
		{"policy variable", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:imagebuilder:*:${aws:PrincipalAccount}:*"}]}`,
			`Statement[0].Resource[0]`},
		{"another service's action", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["imagebuilder:Get*","s3:GetObject"]}]}`,
			`Statement[0].Action[1]`},
	}
	for _, o := range ops {
		if err := o.put(good); err != nil {
			t.Fatalf("%s: the valid policy: %v", o.name, err)
		}
		for _, r := range refused {
			err := o.put(r.policy)
			if apiCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), r.mentions) {
				t.Errorf("%s, %s: err = %v, want InvalidParameterValueException naming %q", o.name, r.name, err, r.mentions)
			}
			if got, err := o.get(); err != nil || got != good {
				t.Errorf("%s, %s: the policy after the refusal = %q, %v; want the old one kept", o.name, r.name, got, err)
			}
		}
	}
	// The kept policy still grants only carol.
	_, err = b.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(comp)})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestDependenciesFollowReferencesOnly(t *testing.T) {
	t.Parallel()
	credFile, alice, bob, _ := writeThreeAccounts(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", credFile)
	a, b := srv.Client(alice), srv.Client(bob)
	ctx := kilntest.Context(t)

	// Bob writes alice's ARNs into free-text fields of his resources.
	victim := createHello(t, a, "victim", "1.0.0")
	versionARN := victim[:strings.LastIndex(victim, "/")]
	aliceInfra, err := a.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("alice-infra"), InstanceProfileName: aws.String("kiln")})
	if err != nil {
		t.Fatal(err)
	}
	bobsOwn := createHello(t, b, "bobs-own", "1.0.0")
	in := simpleRecipe("squatter", "1.0.0", bobsOwn)
	in.Description = aws.String(victim)
	bobRecipe, err := b.CreateImageRecipe(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	in = simpleRecipe("squatter", "2.0.0", bobsOwn)
	in.Description = aws.String(versionARN)
	if _, err := b.CreateImageRecipe(ctx, in); err != nil {
		t.Fatal(err)
	}
	bobInfra, err := b.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("bob-infra"), InstanceProfileName: aws.String("kiln"), Description: aws.String(aws.ToString(aliceInfra.InfrastructureConfigurationArn))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("squatter"), ImageRecipeArn: bobRecipe.ImageRecipeArn,
		InfrastructureConfigurationArn: bobInfra.InfrastructureConfigurationArn,
		Description:                    aliceInfra.InfrastructureConfigurationArn,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(victim)}); err != nil {
		t.Errorf("bob's description blocked alice's DeleteComponent: %v", err)
	}
	if _, err := a.DeleteInfrastructureConfiguration(ctx, &imagebuilder.DeleteInfrastructureConfigurationInput{InfrastructureConfigurationArn: aliceInfra.InfrastructureConfigurationArn}); err != nil {
		t.Errorf("bob's description blocked alice's DeleteInfrastructureConfiguration: %v", err)
	}

	// A real use by bob (through a share) does block, without naming him.
	shared := createHello(t, a, "shared", "1.0.0")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":"imagebuilder:GetComponent"}]}`
	if _, err := a.PutComponentPolicy(ctx, &imagebuilder.PutComponentPolicyInput{ComponentArn: aws.String(shared), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateImageRecipe(ctx, simpleRecipe("bob-secret-project", "1.0.0", shared)); err != nil {
		t.Fatal(err)
	}
	_, err = a.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(shared)})
	wantCode(t, err, "ResourceDependencyException")
	if msg := err.Error(); strings.Contains(msg, bobAccount) || strings.Contains(msg, "bob-secret-project") || !strings.Contains(msg, "1 resource of another account") {
		t.Errorf("dependency error = %q; want bob's recipe counted, never named", msg)
	}
	// Alice's own users are named.
	mine, err := a.CreateImageRecipe(ctx, simpleRecipe("alice-uses", "1.0.0", shared))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(shared)})
	wantCode(t, err, "ResourceDependencyException")
	if msg := err.Error(); !strings.Contains(msg, aws.ToString(mine.ImageRecipeArn)) || strings.Contains(msg, bobAccount) {
		t.Errorf("dependency error = %q; want alice's recipe named and bob's not", msg)
	}
}

// escapingComponent prints terminal control sequences: a window title
// (OSC 0), a screen clear, a colour, a carriage return that would hide
// the text before it, and a one-byte C1 CSI.
const escapingComponent = `name: escapes
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Print
        action: ExecuteBash
        inputs:
          commands:
            - printf 'title\033]0;pwned\007 clear\033[2J red\033[31mRED\033[0m hidden\rshown c1\302\233 end-of-escapes\n'
`

// TestSharedImageLogsStayWithOwner builds as the default account (alice
// here) on a loopback kiln that also knows bob from a credentials file:
// the registry keeps its loopback rules, so the base image push needs no
// registry login. Bob is given the image by a policy, may read it, and
// still may not read its build logs; alice's logs come out of kiln logs
// with the component's escape sequences made visible.
func TestSharedImageLogsStayWithOwner(t *testing.T) {
	t.Parallel()
	credFile, _, bob, _ := writeThreeAccounts(t)
	f := newBuildFixture(t, true, "--credentials", credFile)
	ctx := kilntest.Context(t)
	b := f.srv.Client(bob)
	comp := f.component(t, "escapes", escapingComponent)
	recipe := f.recipe(t, "escapes", minimalTemplate, types.ComponentConfiguration{ComponentArn: aws.String(comp)})
	image := f.createImage(t, recipe, false, "")
	if img := f.waitImage(t, image, 3*time.Minute); img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s (%s); server log:\n%s", img.State.Status, aws.ToString(img.State.Reason), f.srv.Log())
	}

	_, err := f.client.PutImagePolicy(ctx, &imagebuilder.PutImagePolicyInput{ImageArn: aws.String(image),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}]}`)})
	wantCode(t, err, "InvalidParameterValueException")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + bobAccount + `"},"Action":["imagebuilder:GetImage","imagebuilder:ListImages"]}]}`
	if _, err := f.client.PutImagePolicy(ctx, &imagebuilder.PutImagePolicyInput{ImageArn: aws.String(image), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)}); err != nil {
		t.Fatalf("bob cannot read the image shared with him: %v", err)
	}

	// Nor the build's record: workflow and step executions.
	_, err = b.ListWorkflowExecutions(ctx, &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(image)})
	wantCode(t, err, "ResourceNotFoundException")
	execs, err := f.client.ListWorkflowExecutions(ctx, &imagebuilder.ListWorkflowExecutionsInput{ImageBuildVersionArn: aws.String(image)})
	if err != nil || len(execs.WorkflowExecutions) == 0 {
		t.Fatalf("alice's ListWorkflowExecutions = %+v, %v", execs, err)
	}
	execID := execs.WorkflowExecutions[0].WorkflowExecutionId
	_, err = b.GetWorkflowExecution(ctx, &imagebuilder.GetWorkflowExecutionInput{WorkflowExecutionId: execID})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = b.ListWorkflowStepExecutions(ctx, &imagebuilder.ListWorkflowStepExecutionsInput{WorkflowExecutionId: execID})
	wantCode(t, err, "ResourceNotFoundException")
	steps, err := f.client.ListWorkflowStepExecutions(ctx, &imagebuilder.ListWorkflowStepExecutionsInput{WorkflowExecutionId: execID})
	if err != nil || len(steps.Steps) == 0 {
		t.Fatalf("alice's ListWorkflowStepExecutions = %+v, %v", steps, err)
	}
	_, err = b.GetWorkflowStepExecution(ctx, &imagebuilder.GetWorkflowStepExecutionInput{StepExecutionId: steps.Steps[0].StepExecutionId})
	wantCode(t, err, "ResourceNotFoundException")

	kilnLogs := func(creds kilntest.Creds) (string, error) {
		cmd := exec.Command(kilntest.Binary(t), "logs", "--endpoint", f.srv.URL, image)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey)
		out, err := cmd.Output()
		return string(out), err
	}
	out, err := kilnLogs(bob)
	if err == nil || strings.Contains(out, "end-of-escapes") {
		t.Errorf("bob read the logs of alice's image: err %v, output:\n%s", err, out)
	}
	raw := f.srv.Raw(t, bob, "GET", "/kiln/v1/logs?imageBuildVersionArn="+image, nil)
	if raw.Status != 404 || strings.Contains(string(raw.Body), "end-of-escapes") {
		t.Errorf("bob's raw logs request = %d %q, want 404", raw.Status, raw.Body)
	}

	out, err = kilnLogs(kilntest.DefaultCreds)
	if err != nil || !strings.Contains(out, "end-of-escapes") {
		t.Fatalf("alice's kiln logs: %v\n%s", err, out)
	}
	for _, b := range []byte{0x1b, 0x07, '\r', 0x9b} {
		if strings.IndexByte(out, b) >= 0 {
			t.Errorf("kiln logs passed the control byte %#x through:\n%q", b, out)
		}
	}
	for _, want := range []string{`title\x1b]0;pwned\x07`, `clear\x1b[2J`, `hidden\x0dshown`, `c1\u{009b}`} {
		if !strings.Contains(out, want) {
			t.Errorf("kiln logs lacks %q:\n%s", want, out)
		}
	}
}
