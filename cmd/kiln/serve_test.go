package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/aws/smithy-go"

	"github.com/kiln-build/kiln/internal/kilntest"
)

const helloDoc = `name: hello
description: says hello
schemaVersion: 1.0
parameters:
  - Greeting:
      type: string
      default: hello
      description: what to say
  - Target:
      type: string
      description: whom to greet
phases:
  - name: build
    steps:
      - name: Say
        action: ExecuteBash
        inputs:
          commands:
            - echo "{{ Greeting }}, {{ Target }}"
`

const testOnlyDoc = `name: check
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands:
            - "true"
`

// apiCode returns the AWS error code of err ("" when err is nil).
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

// pager is what the SDK's List paginators have in common.
type pager[Out any] interface {
	HasMorePages() bool
	NextPage(context.Context, ...func(*imagebuilder.Options)) (*Out, error)
}

// allPages reads every page p offers, failing the test on an error.
func allPages[Out any](t *testing.T, ctx context.Context, p pager[Out]) []*Out {
	t.Helper()
	var pages []*Out
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
	}
	return pages
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

func createHello(t *testing.T, c *imagebuilder.Client, name, version string) string {
	t.Helper()
	out, err := c.CreateComponent(kilntest.Context(t), &imagebuilder.CreateComponentInput{
		Name: aws.String(name), SemanticVersion: aws.String(version),
		Platform: types.PlatformLinux, Data: aws.String(helloDoc),
	})
	if err != nil {
		t.Fatalf("CreateComponent %s %s: %v", name, version, err)
	}
	return aws.ToString(out.ComponentBuildVersionArn)
}

var dateTimePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$`)

func TestComponentRoundTrip(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)

	created, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name:                aws.String("My Hello"),
		SemanticVersion:     aws.String("1.2.3"),
		Description:         aws.String("a greeting"),
		ChangeDescription:   aws.String("first"),
		Platform:            types.PlatformLinux,
		SupportedOsVersions: []string{"Ubuntu 22", "Debian 12"},
		Data:                aws.String(helloDoc),
		KmsKeyId:            aws.String("alias/kiln"),
		Tags:                map[string]string{"team": "images", "env": "dev"},
		ClientToken:         aws.String("token-roundtrip"),
	})
	if err != nil {
		t.Fatal(err)
	}
	wantARN := "arn:aws:imagebuilder:us-east-1:000000000000:component/my-hello/1.2.3/1"
	if got := aws.ToString(created.ComponentBuildVersionArn); got != wantARN {
		t.Fatalf("arn = %s, want %s", got, wantARN)
	}
	if aws.ToString(created.ClientToken) != "token-roundtrip" || aws.ToString(created.RequestId) == "" {
		t.Errorf("clientToken %q / requestId %q not echoed", aws.ToString(created.ClientToken), aws.ToString(created.RequestId))
	}

	for _, ref := range []string{wantARN, strings.TrimSuffix(wantARN, "/1"),
		"arn:aws:imagebuilder:us-east-1:000000000000:component/my-hello/x.x.x",
		"arn:aws:imagebuilder:us-east-1:000000000000:component/my-hello/1.x.x"} {
		got, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(ref)})
		if err != nil {
			t.Fatalf("GetComponent %s: %v", ref, err)
		}
		comp := got.Component
		checks := []struct{ field, got, want string }{
			{"arn", aws.ToString(comp.Arn), wantARN},
			{"name", aws.ToString(comp.Name), "My Hello"},
			{"version", aws.ToString(comp.Version), "1.2.3"},
			{"description", aws.ToString(comp.Description), "a greeting"},
			{"changeDescription", aws.ToString(comp.ChangeDescription), "first"},
			{"type", string(comp.Type), "BUILD"},
			{"platform", string(comp.Platform), "Linux"},
			{"owner", aws.ToString(comp.Owner), "000000000000"},
			{"data", aws.ToString(comp.Data), helloDoc},
			{"kmsKeyId", aws.ToString(comp.KmsKeyId), "alias/kiln"},
			{"supportedOsVersions", strings.Join(comp.SupportedOsVersions, ","), "Ubuntu 22,Debian 12"},
			{"tags", fmt.Sprint(comp.Tags), "map[env:dev team:images]"},
		}
		for _, ck := range checks {
			if ck.got != ck.want {
				t.Errorf("%s: %s = %q, want %q", ref, ck.field, ck.got, ck.want)
			}
		}
		if !aws.ToBool(comp.Encrypted) {
			t.Errorf("encrypted = false")
		}
		if !dateTimePattern.MatchString(aws.ToString(comp.DateCreated)) {
			t.Errorf("dateCreated %q is not an ISO-8601 millisecond UTC string", aws.ToString(comp.DateCreated))
		}
		if len(comp.Parameters) != 2 || aws.ToString(comp.Parameters[0].Name) != "Greeting" ||
			aws.ToString(comp.Parameters[0].Type) != "String" || !slices.Equal(comp.Parameters[0].DefaultValue, []string{"hello"}) ||
			aws.ToString(comp.Parameters[0].Description) != "what to say" || comp.Parameters[1].DefaultValue != nil {
			t.Errorf("parameters = %+v", comp.Parameters)
		}
	}

	// A new document under the same version is its next build; the same
	// document again is refused.
	second, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("My Hello"), SemanticVersion: aws.String("1.2.3"), Platform: types.PlatformLinux,
		Data: aws.String(strings.Replace(helloDoc, "says hello", "says hello again", 1)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(second.ComponentBuildVersionArn); !strings.HasSuffix(got, "/1.2.3/2") {
		t.Errorf("second build arn = %s", got)
	}
	_, err = c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("My Hello"), SemanticVersion: aws.String("1.2.3"), Platform: types.PlatformLinux,
		Data: aws.String(strings.Replace(helloDoc, "says hello", "says hello again", 1)),
	})
	wantCode(t, err, "ResourceInUseException")

	builds, err := c.ListComponentBuildVersions(ctx, &imagebuilder.ListComponentBuildVersionsInput{
		ComponentVersionArn: aws.String(strings.TrimSuffix(wantARN, "/1")),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(builds.ComponentSummaryList) != 2 || aws.ToString(builds.ComponentSummaryList[0].Arn) != wantARN {
		t.Errorf("build versions = %+v", builds.ComponentSummaryList)
	}

	test, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("checker"), SemanticVersion: aws.String("0.0.1"), Platform: types.PlatformLinux, Data: aws.String(testOnlyDoc),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: test.ComponentBuildVersionArn})
	if err != nil || got.Component.Type != types.ComponentTypeTest {
		t.Errorf("test-only component type = %v, %v", got, err)
	}

	list, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range list.ComponentVersionList {
		names = append(names, aws.ToString(v.Arn))
	}
	wantList := []string{
		"arn:aws:imagebuilder:us-east-1:000000000000:component/checker/0.0.1",
		"arn:aws:imagebuilder:us-east-1:000000000000:component/my-hello/1.2.3",
	}
	if !slices.Equal(names, wantList) {
		t.Errorf("ListComponents = %v, want %v", names, wantList)
	}
	filtered, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{
		Filters: []types.Filter{{Name: aws.String("type"), Values: []string{"TEST"}}},
	})
	if err != nil || len(filtered.ComponentVersionList) != 1 || aws.ToString(filtered.ComponentVersionList[0].Name) != "checker" {
		t.Errorf("type filter: %+v %v", filtered, err)
	}
	_, err = c.ListComponents(ctx, &imagebuilder.ListComponentsInput{
		Filters: []types.Filter{{Name: aws.String("colour"), Values: []string{"red"}}},
	})
	wantCode(t, err, "InvalidRequestException")

	// Tags through the tagging API, on a percent-encoded ARN path.
	if _, err := c.TagResource(ctx, &imagebuilder.TagResourceInput{ResourceArn: aws.String(wantARN), Tags: map[string]string{"owner": "me"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx, &imagebuilder.UntagResourceInput{ResourceArn: aws.String(wantARN), TagKeys: []string{"env", "absent"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := c.ListTagsForResource(ctx, &imagebuilder.ListTagsForResourceInput{ResourceArn: aws.String(wantARN)})
	if err != nil || fmt.Sprint(tags.Tags) != "map[owner:me team:images]" {
		t.Errorf("tags = %v, %v", tags, err)
	}
	_, err = c.TagResource(ctx, &imagebuilder.TagResourceInput{ResourceArn: aws.String(wantARN), Tags: map[string]string{"aws:reserved": "x"}})
	wantCode(t, err, "InvalidParameterException")

	if _, err := c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(wantARN)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(wantARN)})
	wantCode(t, err, "ResourceNotFoundException")
	_, err = c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(wantARN)})
	wantCode(t, err, "ResourceNotFoundException")
	// Build numbers are never reused: the next build of 1.2.3 is 3.
	if next := createHello(t, c, "My Hello", "1.2.3"); !strings.HasSuffix(next, "/1.2.3/3") {
		t.Errorf("build after delete = %s, want /1.2.3/3", next)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	in := &imagebuilder.CreateComponentInput{
		Name: aws.String("idem"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String(helloDoc), ClientToken: aws.String("same-token"),
	}
	first, err := c.CreateComponent(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := c.CreateComponent(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(first.ComponentBuildVersionArn) != aws.ToString(again.ComponentBuildVersionArn) {
		t.Errorf("repeat made %s, first was %s", aws.ToString(again.ComponentBuildVersionArn), aws.ToString(first.ComponentBuildVersionArn))
	}
	builds, err := c.ListComponentBuildVersions(ctx, &imagebuilder.ListComponentBuildVersionsInput{
		ComponentVersionArn: aws.String("arn:aws:imagebuilder:us-east-1:000000000000:component/idem/1.0.0"),
	})
	if err != nil || len(builds.ComponentSummaryList) != 1 {
		t.Errorf("builds after idempotent repeat: %+v %v", builds, err)
	}
	in.Description = aws.String("changed")
	_, err = c.CreateComponent(ctx, in)
	wantCode(t, err, "IdempotentParameterMismatchException")
}

func TestPagination(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	var want []string
	for i := range 31 {
		name := fmt.Sprintf("page-%02d", i)
		createHello(t, c, name, "1.0.0")
		want = append(want, "arn:aws:imagebuilder:us-east-1:000000000000:component/"+name+"/1.0.0")
	}
	var got []string
	pages := allPages(t, ctx, imagebuilder.NewListComponentsPaginator(c, &imagebuilder.ListComponentsInput{MaxResults: aws.Int32(7)}))
	for _, page := range pages {
		for _, v := range page.ComponentVersionList {
			got = append(got, aws.ToString(v.Arn))
		}
	}
	if !slices.Equal(got, want) || len(pages) != 5 {
		t.Errorf("paginated %d pages: %v", len(pages), got)
	}
	_, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{NextToken: aws.String("forged")})
	wantCode(t, err, "InvalidPaginationTokenException")
	first, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{MaxResults: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	// A token is bound to the parameters it was issued for.
	_, err = c.ListComponents(ctx, &imagebuilder.ListComponentsInput{MaxResults: aws.Int32(2), NextToken: first.NextToken, ByName: true})
	wantCode(t, err, "InvalidPaginationTokenException")
	_, err = c.ListComponents(ctx, &imagebuilder.ListComponentsInput{MaxResults: aws.Int32(26)})
	wantCode(t, err, "InvalidParameterValueException")
}

func TestBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	creds := kilntest.DefaultCreds
	valid := `{"name":"bad","semanticVersion":"1.0.0","platform":"Linux","clientToken":"t1","data":` + quote(helloDoc) + `}`
	cases := []struct {
		name, body, code, mentions string
	}{
		{"malformed JSON", `{"name":`, "SerializationException", ""},
		{"wrong type", `{"name":5,"semanticVersion":"1.0.0","platform":"Linux","clientToken":"t","data":"x"}`, "InvalidParameterValueException", "name"},
		{"missing required", `{"semanticVersion":"1.0.0","platform":"Linux","clientToken":"t","data":"x"}`, "InvalidParameterValueException", "name"},
		{"bad pattern", strings.Replace(valid, `"1.0.0"`, `"1.0"`, 1), "InvalidParameterValueException", "semanticVersion"},
		{"bad enum", strings.Replace(valid, `"Linux"`, `"Plan9"`, 1), "InvalidParameterValueException", "platform"},
		{"version out of range", strings.Replace(valid, `"1.0.0"`, `"1073741824.0.0"`, 1), "InvalidVersionNumberException", ""},
		{"data and uri", strings.Replace(valid, `"platform"`, `"uri":"s3://b/k","platform"`, 1), "InvalidParameterCombinationException", "uri"},
		{"neither data nor uri", `{"name":"bad","semanticVersion":"1.0.0","platform":"Linux","clientToken":"t"}`, "InvalidParameterCombinationException", "data"},
		{"invalid document", strings.Replace(valid, quote(helloDoc), quote("name: x\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: NoSuchAction\n"), 1), "InvalidParameterValueException", "NoSuchAction"},
		{"not YAML", strings.Replace(valid, quote(helloDoc), quote("phases: [unclosed"), 1), "InvalidParameterValueException", "data"},
		{"long name", strings.Replace(valid, `"bad"`, `"`+strings.Repeat("n", 129)+`"`, 1), "InvalidParameterValueException", "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := srv.Raw(t, creds, http.MethodPut, "/CreateComponent", []byte(tc.body))
			if resp.Status != 400 || resp.ErrorType != tc.code {
				t.Fatalf("status %d type %q, want 400 %q; body %s", resp.Status, resp.ErrorType, tc.code, resp.Body)
			}
			if !strings.Contains(resp.Message, tc.mentions) {
				t.Errorf("message %q does not mention %q", resp.Message, tc.mentions)
			}
			if !strings.Contains(string(resp.Body), `"__type":"`+tc.code+`"`) || resp.Header.Get("x-amzn-RequestId") == "" {
				t.Errorf("error body %s / request id %q", resp.Body, resp.Header.Get("x-amzn-RequestId"))
			}
		})
	}
	list := srv.Raw(t, creds, http.MethodPost, "/ListComponents", []byte(`{}`))
	if list.Status != 200 || strings.Contains(string(list.Body), `"arn"`) {
		t.Errorf("after bad input, ListComponents = %d %s", list.Status, list.Body)
	}
	// Query binding: GET with a bad ARN.
	get := srv.Raw(t, creds, http.MethodGet, "/GetComponent?componentBuildVersionArn=nope", nil)
	if get.ErrorType != "InvalidParameterValueException" || !strings.Contains(get.Message, "componentBuildVersionArn") {
		t.Errorf("GetComponent bad arn: %d %s %s", get.Status, get.ErrorType, get.Body)
	}
	missing := srv.Raw(t, creds, http.MethodGet, "/GetComponent?componentBuildVersionArn="+
		"arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A000000000000%3Acomponent%2Fnone%2F1.0.0%2F1", nil)
	if missing.Status != 404 || missing.ErrorType != "ResourceNotFoundException" {
		t.Errorf("GetComponent unknown: %d %s", missing.Status, missing.Body)
	}
}

func quote(s string) string {
	b := strings.Builder{}
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeCredentials writes a shared-credentials file with two accounts.
func writeCredentials(t *testing.T) (path string, alice, bob kilntest.Creds) {
	alice = kilntest.Creds{AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret"}
	bob = kilntest.Creds{AccessKeyID: "AKIDBOB", SecretAccessKey: "bob-secret"}
	path = filepath.Join(t.TempDir(), "credentials")
	content := `# kiln principals
[alice]
aws_access_key_id = AKIDALICE
aws_secret_access_key = alice-secret
aws_account_id = 111111111111

[bob]
aws_access_key_id = AKIDBOB
aws_secret_access_key = bob-secret
aws_account_id = 222222222222
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, alice, bob
}

func TestAccountsAndSharing(t *testing.T) {
	t.Parallel()
	credFile, alice, bob := writeCredentials(t)
	srv := kilntest.Start(t, "--credentials", credFile)
	a, b := srv.Client(alice), srv.Client(bob)
	ctx := kilntest.Context(t)

	arn := createHello(t, a, "private", "1.0.0")
	if !strings.Contains(arn, ":111111111111:") {
		t.Fatalf("alice's component arn %s", arn)
	}
	_, err := b.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(arn)})
	wantCode(t, err, "ResourceNotFoundException")
	shared, err := b.ListComponents(ctx, &imagebuilder.ListComponentsInput{Owner: types.OwnershipShared})
	if err != nil || len(shared.ComponentVersionList) != 0 {
		t.Fatalf("bob sees shared before the policy: %+v %v", shared, err)
	}
	_, err = a.GetComponentPolicy(ctx, &imagebuilder.GetComponentPolicyInput{ComponentArn: aws.String(arn)})
	wantCode(t, err, "ResourceNotFoundException")

	_, err = a.PutComponentPolicy(ctx, &imagebuilder.PutComponentPolicyInput{ComponentArn: aws.String(arn), Policy: aws.String("not json")})
	wantCode(t, err, "InvalidParameterValueException")
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222222222222:root"]},"Action":["imagebuilder:GetComponent","imagebuilder:ListComponents"],"Resource":["` + arn + `"]}]}`
	_, err = b.PutComponentPolicy(ctx, &imagebuilder.PutComponentPolicyInput{ComponentArn: aws.String(arn), Policy: aws.String(policy)})
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := a.PutComponentPolicy(ctx, &imagebuilder.PutComponentPolicyInput{ComponentArn: aws.String(arn), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	got, err := a.GetComponentPolicy(ctx, &imagebuilder.GetComponentPolicyInput{ComponentArn: aws.String(arn)})
	if err != nil || aws.ToString(got.Policy) != policy {
		t.Errorf("GetComponentPolicy = %v, %v", got, err)
	}

	shared, err = b.ListComponents(ctx, &imagebuilder.ListComponentsInput{Owner: types.OwnershipShared})
	if err != nil || len(shared.ComponentVersionList) != 1 || aws.ToString(shared.ComponentVersionList[0].Owner) != "111111111111" {
		t.Fatalf("bob's Shared list = %+v %v", shared, err)
	}
	own, err := b.ListComponents(ctx, &imagebuilder.ListComponentsInput{})
	if err != nil || len(own.ComponentVersionList) != 0 {
		t.Errorf("bob's Self list = %+v %v", own, err)
	}
	if _, err := b.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(arn)}); err != nil {
		t.Errorf("bob cannot read the shared component: %v", err)
	}
	_, err = b.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(arn)})
	wantCode(t, err, "ForbiddenException")
	_, err = b.TagResource(ctx, &imagebuilder.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"x": "y"}})
	wantCode(t, err, "ResourceNotFoundException")

	// An unknown access key on loopback maps to the default account.
	stranger := srv.Client(kilntest.Creds{AccessKeyID: "AKIDSTRANGER", SecretAccessKey: "whatever"})
	if arn := createHello(t, stranger, "mine", "1.0.0"); !strings.Contains(arn, ":000000000000:") {
		t.Errorf("stranger's arn %s", arn)
	}
}

func TestStrictAuth(t *testing.T) {
	t.Parallel()
	credFile, alice, _ := writeCredentials(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", credFile)
	ctx := kilntest.Context(t)
	if _, err := srv.Client(alice).ListComponents(ctx, &imagebuilder.ListComponentsInput{}); err != nil {
		t.Fatalf("correctly signed request refused: %v", err)
	}
	createHello(t, srv.Client(alice), "strict", "1.0.0")
	tags, err := srv.Client(alice).ListTagsForResource(ctx, &imagebuilder.ListTagsForResourceInput{
		ResourceArn: aws.String("arn:aws:imagebuilder:us-east-1:111111111111:component/strict/1.0.0/1"),
	})
	if err != nil || len(tags.Tags) != 0 {
		t.Errorf("double-encoded canonical URI: %v %v", tags, err)
	}
	_, err = srv.Client(kilntest.Creds{AccessKeyID: "AKIDALICE", SecretAccessKey: "wrong"}).ListComponents(ctx, &imagebuilder.ListComponentsInput{})
	wantCode(t, err, "InvalidSignatureException")
	_, err = srv.Client(kilntest.Creds{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x"}).ListComponents(ctx, &imagebuilder.ListComponentsInput{})
	wantCode(t, err, "UnrecognizedClientException")

	resp, err := http.Post(srv.URL+"/ListComponents", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned request: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/ListComponents", strings.NewReader("{}"))
	kilntest.Sign(t, req, alice, []byte("{}"), time.Now().Add(-20*time.Minute))
	old, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	old.Body.Close()
	if old.StatusCode != 403 || old.Header.Get("X-Amzn-ErrorType") != "InvalidSignatureException" {
		t.Errorf("request signed 20 minutes ago: %d %s", old.StatusCode, old.Header.Get("X-Amzn-ErrorType"))
	}
}

func TestRefusesOpenNonLoopbackListener(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(kilntest.Binary(t), "serve", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--auth strict") {
		t.Fatalf("kiln serve on 0.0.0.0 without auth: err %v, output %s", err, out)
	}
}

func TestAmazonCatalogue(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	var names []string
	for _, page := range allPages(t, ctx, imagebuilder.NewListComponentsPaginator(c, &imagebuilder.ListComponentsInput{Owner: types.OwnershipAmazon})) {
		for _, v := range page.ComponentVersionList {
			names = append(names, aws.ToString(v.Name))
			if aws.ToString(v.Owner) != "Amazon" {
				t.Errorf("%s owner = %q", aws.ToString(v.Name), aws.ToString(v.Owner))
			}
		}
	}
	for _, want := range []string{"update-linux", "reboot-linux", "hello-world-linux", "simple-boot-test-linux", "python-3-linux"} {
		if !slices.Contains(names, want) {
			t.Errorf("Amazon-owned %s missing from %v", want, names)
		}
	}
	got, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{
		ComponentBuildVersionArn: aws.String("arn:aws:imagebuilder:us-east-1:aws:component/simple-boot-test-linux/x.x.x"),
	})
	if err != nil || got.Component.Type != types.ComponentTypeTest {
		t.Errorf("simple-boot-test-linux: %+v %v", got, err)
	}
	// Amazon-owned components are not the caller's to delete.
	_, err = c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: got.Component.Arn})
	wantCode(t, err, "ForbiddenException")
}

func TestImportAndURIComponents(t *testing.T) {
	t.Parallel()
	// The documents come from a loopback test server: the operator's
	// opt-in lets kiln fetch from there.
	srv := kilntest.Start(t, "--allow-fetch-cidr", "127.0.0.0/8")
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	imp, err := c.ImportComponent(ctx, &imagebuilder.ImportComponentInput{
		Name: aws.String("imported"), SemanticVersion: aws.String("1.0.0"), Type: types.ComponentTypeTest,
		Format: types.ComponentFormatShell, Platform: types.PlatformLinux,
		Data: aws.String("#!/bin/bash\necho imported\nexit 0\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: imp.ComponentBuildVersionArn})
	if err != nil || got.Component.Type != types.ComponentTypeTest || !strings.Contains(aws.ToString(got.Component.Data), "echo imported") {
		t.Errorf("imported component: %+v %v", got, err)
	}

	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hello.yaml" {
			w.Write([]byte(helloDoc))
			return
		}
		http.NotFound(w, r)
	}))
	defer docs.Close()
	byURI, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("by-uri"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Uri: aws.String(docs.URL + "/hello.yaml"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: byURI.ComponentBuildVersionArn})
	if err != nil || aws.ToString(got.Component.Data) != helloDoc {
		t.Errorf("component by uri: %+v %v", got, err)
	}
	_, err = c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("by-uri"), SemanticVersion: aws.String("1.0.1"), Platform: types.PlatformLinux,
		Uri: aws.String(docs.URL + "/missing.yaml"),
	})
	wantCode(t, err, "InvalidParameterValueException")
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	createHello(t, srv.Client(kilntest.DefaultCreds), "metered", "1.0.0")
	for _, tc := range []struct{ path, want string }{
		{"/healthz", "ok"},
		{"/metrics", `kiln_api_requests_total{operation="CreateComponent",code="OK"} 1`},
		{"/metrics", `kiln_api_request_duration_seconds_count{operation="CreateComponent"} 1`},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body := new(strings.Builder)
		_, _ = io.Copy(body, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(body.String(), tc.want) {
			t.Errorf("GET %s = %d, want %q in:\n%s", tc.path, resp.StatusCode, tc.want, body)
		}
	}
}

func TestServeFlagsAndEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad region", []string{"--region", "mars"}, nil, "--region"},
		{"bad account", []string{"--account", "12"}, nil, "--account"},
		{"region from environment", nil, []string{"KILN_REGION=nowhere"}, "--region"},
		{"strict without credentials", []string{"--auth", "strict"}, nil, "--credentials"},
		{"unknown auth", []string{"--auth", "maybe"}, nil, "--auth"},
		{"bad fetch range", []string{"--allow-fetch-cidr", "localhost"}, nil, "--allow-fetch-cidr"},
		{"bad fetch range from environment", nil, []string{"KILN_ALLOW_FETCH_CIDR=10.0.0.0/8,10.0.0.0/99"}, "--allow-fetch-cidr"},
		{"bad s3 endpoint", []string{"--s3-endpoint", "minio:9000"}, nil, "--s3-endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(kilntest.Binary(t), append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)...)
			cmd.Env = append(os.Environ(), tc.env...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("err %v, output %s; want a refusal naming %s", err, out, tc.want)
			}
		})
	}
	// The environment sets what flags do: KILN_REGION moves the ARNs.
	t.Setenv("KILN_REGION", "eu-west-2")
	srv := kilntest.Start(t)
	out, err := srv.Client(kilntest.DefaultCreds).ListComponents(kilntest.Context(t), &imagebuilder.ListComponentsInput{Owner: types.OwnershipAmazon})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ComponentVersionList) == 0 || !strings.Contains(aws.ToString(out.ComponentVersionList[0].Arn), ":eu-west-2:aws:") {
		t.Errorf("with KILN_REGION=eu-west-2: %+v", out.ComponentVersionList)
	}
}
