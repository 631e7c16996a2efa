package consoleauth

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/aws/smithy-go"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// TestConsoleLoopback drives the console of a default (loopback) kiln:
// no sign-in, the dashboard's failures with their reason and its next
// scheduled runs, the registry's tags and sizes, and a validate box that
// answers exactly what CreateComponent answers.
func TestConsoleLoopback(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	ctx := kilntest.Context(t)
	api := srv.Client(kilntest.DefaultCreds)
	br := newBrowser(t, srv.URL)

	if resp, body := br.get("/console/signin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "needs no sign-in") {
		t.Errorf("sign-in page in loopback mode: %d\n%s", resp.StatusCode, body)
	}

	// The registry: a pushed image, its tag and size.
	srv.PushBusyboxBase(t, "web/base")
	if resp, body := br.get("/console/registry"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `href="/console/registry/repo?name=web%2fbase"`) {
		t.Errorf("registry: %d\n%s", resp.StatusCode, body)
	}
	resp, body := br.get("/console/registry/repo?name=web/base")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "<code>latest</code>") || !regexp.MustCompile(`<td>[0-9.]+ [KM]iB</td>`).MatchString(body) {
		t.Errorf("repository: %d\n%s", resp.StatusCode, body)
	}

	// A build that fails (its parent image is not in the registry) shows
	// on the dashboard with its reason; a scheduled pipeline shows its
	// next run.
	infra, err := api.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln")})
	if err != nil {
		t.Fatal(err)
	}
	comp, err := api.CreateComponent(ctx, &imagebuilder.CreateComponentInput{Name: aws.String("noop"), SemanticVersion: aws.String("1.0.0"),
		Platform: types.PlatformLinux, Data: aws.String("schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs:\n          commands: [\"true\"]\n")})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := api.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String("orphan"), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(srv.Addr + "/no/such-parent:latest"), DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		Components:       []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("orphan")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{Name: aws.String("nightly"),
		ContainerRecipeArn: recipe.ContainerRecipeArn, InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn,
		Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(0 6 * * ? *)"), Timezone: aws.String("Europe/Berlin")}}); err != nil {
		t.Fatal(err)
	}
	img, err := api.CreateImage(ctx, &imagebuilder.CreateImageInput{ContainerRecipeArn: recipe.ContainerRecipeArn,
		InfrastructureConfigurationArn: infra.InfrastructureConfigurationArn})
	if err != nil {
		t.Fatal(err)
	}
	reason := waitFailed(t, api, aws.ToString(img.ImageBuildVersionArn))
	_, body = br.get("/console/")
	failures := section(body, "recent-failures")
	if !strings.Contains(failures, "orphan 1.0.0/1") || !strings.Contains(failures, html.EscapeString(reason)) {
		t.Errorf("the dashboard's failures lack the build or its reason %q:\n%s", reason, body)
	}
	if next := section(body, "next-scheduled-runs"); !strings.Contains(next, ">nightly</a> at 20") || !strings.Contains(next, "in Europe/Berlin") {
		t.Errorf("the dashboard's next runs:\n%s", body)
	}

	// The validate box says what CreateComponent says.
	bad := "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: NoSuchAction\n      - name: A\n        action: ExecuteBash\n"
	_, err = api.CreateComponent(ctx, &imagebuilder.CreateComponentInput{Name: aws.String("bad"), SemanticVersion: aws.String("1.0.0"),
		Platform: types.PlatformLinux, Data: aws.String(bad)})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("CreateComponent of a bad document: %v", err)
	}
	resp, body = br.post("/console/components/validate", url.Values{"csrf": {br.csrf("/console/components/validate")}, "data": {bad}}, srv.URL)
	m := regexp.MustCompile(`(?s)id="validate-result" role="alert">.*?would answer <strong>([A-Za-z]+)</strong>: (.*?)</p>`).FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("validate: %d\n%s", resp.StatusCode, body)
	}
	if m[1] != apiErr.ErrorCode() || html.UnescapeString(m[2]) != apiErr.ErrorMessage() {
		t.Errorf("validate box says\n  %s: %s\nthe API says\n  %s: %s", m[1], html.UnescapeString(m[2]), apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	if !strings.Contains(body, `class="line bad" id="L6"`) {
		t.Errorf("the unknown action is not marked on its line:\n%s", body)
	}
}

// section is the element of page with the given id, up to its list's end.
func section(page, id string) string {
	i := strings.Index(page, `id="`+id+`"`)
	if i < 0 {
		return ""
	}
	rest := page[i:]
	if j := strings.Index(rest, "</ul>"); j >= 0 {
		return rest[:j]
	}
	return rest
}

// waitFailed waits for image to fail and returns its reason.
func waitFailed(t *testing.T, api *imagebuilder.Client, image string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for {
		got, err := api.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err == nil && got.Image.State != nil {
			switch got.Image.State.Status {
			case types.ImageStatusFailed:
				return aws.ToString(got.Image.State.Reason)
			case types.ImageStatusAvailable, types.ImageStatusCancelled:
				t.Fatalf("image %s is %s, want FAILED", image, got.Image.State.Status)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("image %s did not fail in time", image)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
