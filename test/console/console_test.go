// Package console tests kiln's web console in a real browser: Debian's
// chromium, headless, driven through internal/browsertest against the
// real kiln binary under --auth strict, with a busybox parent image in
// kiln's own registry. A user signs in, creates a component by form,
// starts a pipeline and watches the build's log stream to AVAILABLE,
// reads why a scheduled run was skipped, disables and enables the
// pipeline, cancels and retries a build, and never sees another
// account's names. Every page is visited at a desktop and a phone width
// without a JavaScript error, and its screenshot is saved
// ($KILN_SCREENSHOTS, else the test's temp dir).
package console

import (
	"bytes"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/chromedp/chromedp"

	"github.com/kiln-build/kiln/internal/browsertest"
	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/testclock"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

var (
	alice = kilntest.Creds{AccessKeyID: "AKIDCONSOLEALICE", SecretAccessKey: "alice-console-secret"}
	bob   = kilntest.Creds{AccessKeyID: "AKIDCONSOLEBOB", SecretAccessKey: "bob-console-secret"}
)

// bobsMark is in the name of everything bob owns: it must never show on
// a page alice sees.
const bobsMark = "bobsprivate"

// fixture is one kiln under --auth strict with two accounts, alice's
// busybox parent in its registry and bob's resources beside hers.
type fixture struct {
	srv   *kilntest.Server
	clock *testclock.Clock
	api   *imagebuilder.Client // alice's
	base  string
	infra string
	shots string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	browsertest.Require(t)
	kilntest.RequireTool(t, "/usr/bin/aws", "awscli")
	creds := filepath.Join(t.TempDir(), "credentials")
	os.WriteFile(creds, []byte(fmt.Sprintf(`[alice]
aws_access_key_id = %s
aws_secret_access_key = %s
aws_account_id = 111111111111

[bob]
aws_access_key_id = %s
aws_secret_access_key = %s
aws_account_id = 222222222222
`, alice.AccessKeyID, alice.SecretAccessKey, bob.AccessKeyID, bob.SecretAccessKey)), 0o600)
	f := &fixture{clock: kilntest.NewClock(t), shots: browsertest.ScreenshotDir(t)}
	f.srv = kilntest.StartEnv(t, []string{f.clock.Env()}, "--auth", "strict", "--credentials", creds)
	f.api = f.srv.Client(alice)
	ctx := kilntest.Context(t)

	// alice's parent image, pushed as a user would after an ECR login.
	password := strings.TrimSpace(awsCLI(t, f.srv, alice, "ecr", "get-login-password"))
	f.base = f.srv.Addr + "/base/busybox:latest"
	kilntest.Skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "AWS:"+password,
		"oci:"+kilntest.BusyboxLayout(t)+":latest", "docker://"+f.base)
	infra, err := f.api.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("console-infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn

	// bob's component, recipe infrastructure and pipeline.
	b := f.srv.Client(bob)
	comp, err := b.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String(bobsMark + "-component"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String(componentYAML("echo bob")),
	})
	if err != nil {
		t.Fatal(err)
	}
	binfra, err := b.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String(bobsMark + "-infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	brecipe, err := b.CreateContainerRecipe(ctx, recipeInput(bobsMark+"-recipe", "busybox:latest", *comp.ComponentBuildVersionArn))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String(bobsMark + "-pipeline"), ContainerRecipeArn: brecipe.ContainerRecipeArn,
		InfrastructureConfigurationArn: binfra.InfrastructureConfigurationArn,
		Schedule:                       &types.Schedule{ScheduleExpression: aws.String("cron(0 4 * * ? *)")},
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

// awsCLI runs Debian's aws CLI against kiln as a principal.
func awsCLI(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, args ...string) string {
	t.Helper()
	cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", srv.URL, "--region", "us-east-1"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func componentYAML(command string) string {
	return "name: step\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Run\n        action: ExecuteBash\n        inputs:\n          commands:\n            - " + command + "\n"
}

func recipeInput(name, parent, component string) *imagebuilder.CreateContainerRecipeInput {
	return &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage:            aws.String(parent),
		DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		Components:             []types.ComponentConfiguration{{ComponentArn: aws.String(component)}},
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("console/" + name)},
	}
}

// page opens a console path, checks the page shows nothing of bob's, and
// saves its screenshot under name when name is set.
func (f *fixture) page(t *testing.T, b *browsertest.Browser, path, name string) {
	t.Helper()
	b.Open(f.srv.URL + path)
	// A finished image's page streams its whole log at once: shoot it
	// with the log in.
	b.WaitFor(`!document.querySelector('#log[data-final="true"]') || document.getElementById("log").dataset.done === "true"`, time.Minute)
	f.check(t, b, path, name)
}

func (f *fixture) check(t *testing.T, b *browsertest.Browser, what, name string) {
	t.Helper()
	if html := b.HTML(); strings.Contains(html, bobsMark) {
		t.Errorf("%s at %d px shows another account's resource (%s)", what, b.Width(), bobsMark)
	}
	if name != "" {
		b.Screenshot(f.shots, name)
	}
}

func signIn(t *testing.T, f *fixture, b *browsertest.Browser) {
	t.Helper()
	b.Open(f.srv.URL + "/console/")
	if !strings.Contains(b.Location(), "/console/signin") {
		t.Fatalf("an unsigned visit to /console/ stayed at %s", b.Location())
	}
	f.check(t, b, "the sign-in page", "signin")
	b.Do(
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name="accessKeyId"]`), alice.AccessKeyID),
		chromedp.SendKeys(chromedp.CSS(`#signin-form input[name="secretAccessKey"]`), alice.SecretAccessKey),
	)
	if status := b.ClickAndLoad(`#signin-form button[type="submit"]`); status != 200 {
		t.Fatalf("signing in answered %d", status)
	}
	if strings.Contains(b.Location(), "/console/signin") {
		t.Fatalf("still at the sign-in form after signing in:\n%s", b.Body())
	}
}

func TestConsole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	desk := browsertest.New(t, browsertest.DesktopWidth)
	signIn(t, f, desk)
	f.check(t, desk, "the dashboard", "dashboard")
	if !desk.TabTo("a.skip", 1) {
		t.Error("the first Tab does not reach the skip link")
	}

	// A component, by form.
	desk.Open(f.srv.URL + "/console/components/new")
	desk.Do(
		chromedp.SendKeys(chromedp.ID("name"), "hello-console"),
		chromedp.SendKeys(chromedp.ID("semanticVersion"), "1.0.0"),
		chromedp.SetValue(chromedp.ID("data"), componentYAML("echo hello from the console build")),
	)
	desk.ClickAndLoad(`#component-form button[type="submit"]`)
	ctx := kilntest.Context(t)
	comps, err := f.api.ListComponents(ctx, &imagebuilder.ListComponentsInput{})
	if err != nil || len(comps.ComponentVersionList) != 1 || aws.ToString(comps.ComponentVersionList[0].Name) != "hello-console" {
		t.Fatalf("after the form, ListComponents = %+v, %v; the page shows:\n%s", comps, err, desk.Body())
	}
	f.check(t, desk, "the new component's page", "component")
	componentPath := strings.TrimPrefix(desk.Location(), f.srv.URL)
	component := strings.Replace(aws.ToString(comps.ComponentVersionList[0].Arn), "/1.0.0", "/1.0.0/1", 1)

	// A recipe and a pipeline through the API, the build by the console.
	recipe, err := f.api.CreateContainerRecipe(ctx, recipeInput("hello-console", f.base, component))
	if err != nil {
		t.Fatal(err)
	}
	slow, err := f.api.CreateContainerRecipe(ctx, recipeInput("slow-console", f.base, slowComponent(t, f)))
	if err != nil {
		t.Fatal(err)
	}
	created, err := f.api.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("nightly"), ContainerRecipeArn: recipe.ContainerRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
		Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(0 3 * * ? *)"), Timezone: aws.String("Europe/Paris"),
			PipelineExecutionStartCondition: types.PipelineExecutionStartConditionExpressionMatchAndDependencyUpdatesAvailable},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipeline := aws.ToString(created.ImagePipelineArn)
	pipelinePath := "/console/pipelines/view?arn=" + url.QueryEscape(pipeline)

	f.page(t, desk, "/console/pipelines", "pipelines")
	if got := desk.Body(); !strings.Contains(got, "every day at 03:00 (Europe/Paris)") {
		t.Errorf("the pipeline list does not say the schedule in words:\n%s", got)
	}
	desk.ClickAndLoad(`main a[href^="/console/pipelines/view?arn="]`)
	if next := desk.Text("#pipeline-next-run"); !strings.Contains(next, "03:00 CET") {
		t.Errorf("next run = %q, want 03:00 in Paris", next)
	}

	// Start it, and watch the log stream to AVAILABLE.
	if !desk.TabTo("#start-pipeline", 40) {
		t.Error("Tab never reaches the start button")
	}
	desk.ClickAndLoad("#start-pipeline")
	if !strings.Contains(desk.Location(), "/console/images/view") {
		t.Fatalf("starting the pipeline led to %s:\n%s", desk.Location(), desk.Body())
	}
	imagePath := strings.TrimPrefix(desk.Location(), f.srv.URL)
	desk.WaitFor(`document.getElementById("log").textContent.includes("hello from the console build")`, 4*time.Minute)
	desk.WaitFor(`document.getElementById("image-state").textContent === "AVAILABLE" && document.getElementById("log").dataset.done === "true"`, 4*time.Minute)
	if log := desk.Text("#log"); !strings.Contains(log, "is AVAILABLE") {
		t.Errorf("the streamed log does not end with the final state:\n%s", log)
	}
	f.check(t, desk, "the built image's page", "image")
	if body := desk.Body(); !strings.Contains(body, f.srv.Addr+"/console/hello-console:1.0.0") || !strings.Contains(body, "BUILD workflow") {
		t.Errorf("the image page lacks its output URI or workflow steps:\n%s", body)
	}

	// Cancel a slow build, then retry it. (Before the test clock moves:
	// kiln's build leases run on the real clock.)
	slowImage, err := f.api.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ContainerRecipeArn: slow.ContainerRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	desk.Open(f.srv.URL + "/console/images/view?arn=" + url.QueryEscape(*slowImage.ImageBuildVersionArn))
	desk.WaitFor(`document.getElementById("log").textContent.includes("slow build started")`, 3*time.Minute)
	desk.Do(chromedp.Evaluate[chromedp.Void](`window.confirm = function () { return true; }`))
	desk.ClickAndLoad("#cancel-image")
	// The stream's end shows CANCELLED, then reloads the page: wait for
	// the reloaded (final) page, or reading it races the reload.
	desk.WaitFor(`document.getElementById("image-state").textContent === "CANCELLED" && !!document.querySelector('#log[data-final="true"]') && document.getElementById("log").dataset.done === "true"`, 2*time.Minute)
	f.check(t, desk, "the cancelled image's page", "image-cancelled")
	desk.ClickAndLoad("#retry-image")
	retried := desk.Location()
	if !strings.Contains(retried, "/console/images/view") || strings.Contains(retried, url.QueryEscape(*slowImage.ImageBuildVersionArn)) {
		t.Errorf("retry led to %s", retried)
	} else {
		arn, _ := url.QueryUnescape(strings.SplitN(retried, "arn=", 2)[1])
		if _, err := f.api.CancelImageCreation(ctx, &imagebuilder.CancelImageCreationInput{ImageBuildVersionArn: aws.String(arn), ClientToken: aws.String("stop-retry")}); err != nil {
			t.Errorf("cancelling the retried build: %v", err)
		}
	}

	// A failed build whose instance is kept: its page gives the kiln
	// shell line.
	keep, err := f.api.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("console-keep"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	failing, err := f.api.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("failing"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String(componentYAML("exit 3")),
	})
	if err != nil {
		t.Fatal(err)
	}
	broken, err := f.api.CreateContainerRecipe(ctx, recipeInput("broken-console", f.base, *failing.ComponentBuildVersionArn))
	if err != nil {
		t.Fatal(err)
	}
	brokenImage, err := f.api.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ContainerRecipeArn: broken.ContainerRecipeArn, InfrastructureConfigurationArn: keep.InfrastructureConfigurationArn,
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	desk.Open(f.srv.URL + "/console/images/view?arn=" + url.QueryEscape(*brokenImage.ImageBuildVersionArn))
	desk.WaitFor(`document.getElementById("image-state").textContent === "FAILED" && !!document.getElementById("shell-line")`, 3*time.Minute)
	if line := desk.Text("#shell-line"); line != "kiln shell '"+*brokenImage.ImageBuildVersionArn+"'" {
		t.Errorf("the kept instance's shell line is %q", line)
	}
	f.check(t, desk, "the failed image's page", "image-failed")

	// bob, signed in, gets no stream of alice's build log.
	if status, body := bobGets(t, f, "/console/images/logs?arn="+strings.SplitN(imagePath, "arn=", 2)[1]); status != http.StatusNotFound || strings.Contains(body, "data:") {
		t.Errorf("bob's request for alice's log stream: %d\n%s", status, body)
	}

	// The next 03:00 in Paris comes: nothing changed, so the run is
	// skipped, and the page says why.
	paris, _ := time.LoadLocation("Europe/Paris")
	now := f.clock.Now().In(paris)
	next := time.Date(now.Year(), now.Month(), now.Day(), 3, 0, 30, 0, paris)
	if !next.After(now) {
		next = next.AddDate(0, 0, 1)
	}
	if err := f.clock.SetNow(next); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		desk.Open(f.srv.URL + pipelinePath)
		if strings.Contains(desk.Body(), "skipped: start condition") || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if runs := desk.Text("#run-history"); !strings.Contains(runs, "skipped: start condition") || !strings.Contains(runs, "no dependency update") {
		t.Errorf("the run history does not show the skipped run's reason:\n%s", runs)
	}
	f.check(t, desk, "the pipeline's page", "pipeline")

	// Disable, then enable.
	desk.ClickAndLoad("#disable-pipeline")
	if got := desk.Text("#pipeline-status"); got != "DISABLED" {
		t.Errorf("after disabling, status %q", got)
	}
	desk.ClickAndLoad("#enable-pipeline")
	if got := desk.Text("#pipeline-status"); got != "ENABLED" {
		t.Errorf("after enabling, status %q", got)
	}

	// Every page, at both widths: nothing of bob's, no JavaScript error,
	// a screenshot each.
	pages := []struct{ path, name string }{
		{"/console/", "dashboard"},
		{"/console/components", "components"},
		{componentPath, "component"},
		{"/console/components/new", "component-new"},
		{"/console/components/validate", "component-validate"},
		{"/console/recipes", "recipes"},
		{"/console/recipes/new", "recipe-new"},
		{"/console/pipelines", "pipelines"},
		{pipelinePath, "pipeline"},
		{"/console/images", "images"},
		{"/console/images?owner=Shared", "images-shared"},
		{"/console/components?owner=Shared", "components-shared"},
		{imagePath, "image"},
		{"/console/registry", "registry"},
		{"/console/amis", "amis"},
	}
	for _, p := range pages {
		f.page(t, desk, p.path, p.name)
	}
	desk.NoJSErrors()
	// The cancelled build stays cancelled once its worker has stopped.
	got, err := f.api.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: slowImage.ImageBuildVersionArn})
	if err != nil || got.Image.State == nil || got.Image.State.Status != types.ImageStatusCancelled {
		t.Errorf("the cancelled image is now %+v, %v", got.Image.State, err)
	}
	phone := browsertest.New(t, browsertest.PhoneWidth)
	signIn(t, f, phone)
	for _, p := range pages {
		f.page(t, phone, p.path, p.name)
	}
	phone.Open(f.srv.URL + imagePath)
	phone.WaitFor(`document.getElementById("log").dataset.done === "true"`, time.Minute)
	if !phone.TabTo("#retry-image", 60) {
		t.Error("Tab never reaches the retry button at phone width")
	}
	phone.NoJSErrors()
}

// slowComponent is a component whose build runs long enough to cancel.
func slowComponent(t *testing.T, f *fixture) string {
	t.Helper()
	out, err := f.api.CreateComponent(kilntest.Context(t), &imagebuilder.CreateComponentInput{
		Name: aws.String("slow"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String(componentYAML("echo slow build started; sleep 300")),
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ComponentBuildVersionArn
}

// bobGets signs bob in with a plain HTTP client (the form's csrf input,
// the session cookie) and GETs a console path, returning the status and
// body. The path's query is already escaped.
func bobGets(t *testing.T, f *fixture, path string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Get(f.srv.URL + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]*)"`).FindSubmatch(form)
	if m == nil {
		t.Fatalf("no csrf input on the sign-in form:\n%s", form)
	}
	resp, err = c.PostForm(f.srv.URL+"/console/signin", url.Values{
		"csrf": {html.UnescapeString(string(m[1]))}, "accessKeyId": {bob.AccessKeyID}, "secretAccessKey": {bob.SecretAccessKey}, "next": {"/console/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(resp.Request.URL.Path, "signin") {
		t.Fatalf("bob's sign-in ended at %s with %d", resp.Request.URL, resp.StatusCode)
	}
	resp, err = c.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
