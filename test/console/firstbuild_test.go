package console

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/chromedp/chromedp"

	"github.com/kiln-build/kiln/internal/browsertest"
	"github.com/kiln-build/kiln/internal/kilntest"
)

// TestConsoleFirstBuild is the README's quick start after the parent is
// pulled: entirely in the browser, a component by form, a container
// recipe by form on the registry's parents/alpine:3 (picked from the
// form's list, which never shows bob's images), Build now on the recipe's
// page (creating the kiln-console infrastructure configuration, since
// alice has none), and the image page's log streaming to AVAILABLE. A bad
// version and an unknown parent show the API's error on their fields.
func TestConsoleFirstBuild(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := kilntest.Context(t)

	// The parent, where kiln images pull-parent alpine-3 puts it; and
	// one of bob's, which alice's picker must not offer.
	parent := f.srv.Addr + "/parents/alpine:3"
	for _, p := range []struct {
		who kilntest.Creds
		ref string
	}{{alice, parent}, {bob, f.srv.Addr + "/" + bobsMark + "/parent:1"}} {
		password := strings.TrimSpace(awsCLI(t, f.srv, p.who, "ecr", "get-login-password"))
		kilntest.Skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "AWS:"+password,
			"oci:"+kilntest.BusyboxLayout(t)+":latest", "docker://"+p.ref)
	}
	// A newcomer has no infrastructure configuration: Build now makes one.
	if _, err := f.api.DeleteInfrastructureConfiguration(ctx, &imagebuilder.DeleteInfrastructureConfigurationInput{
		InfrastructureConfigurationArn: aws.String(f.infra)}); err != nil {
		t.Fatal(err)
	}

	desk := browsertest.New(t, browsertest.DesktopWidth)
	signIn(t, f, desk)

	// 1. A component, by form.
	desk.Open(f.srv.URL + "/console/components/new")
	desk.Do(
		chromedp.SendKeys(chromedp.ID("name"), "first-step"),
		chromedp.SendKeys(chromedp.ID("semanticVersion"), "1.0.0"),
		chromedp.SetValue(chromedp.ID("data"), componentYAML("echo hello from the first console build")),
	)
	desk.ClickAndLoad(`#component-form button[type="submit"]`)
	if !strings.Contains(desk.Location(), "/console/components/view") {
		t.Fatalf("creating the component led to %s:\n%s", desk.Location(), desk.Body())
	}

	// 2. A container recipe, by form, reached by links from the recipes page.
	desk.Open(f.srv.URL + "/console/recipes")
	desk.ClickAndLoad("#new-container-recipe")
	if html := desk.HTML(); !strings.Contains(html, `value="`+parent+`"`) {
		t.Errorf("the parent picker does not offer %s", parent)
	}
	f.check(t, desk, "the container recipe form", "")
	fill := func(version, parentImage string) {
		t.Helper()
		setFields(t, desk, map[string]string{"name": "first-image", "semanticVersion": version, "parentImage": parentImage, "components": ""})
		// The pickers' buttons, as a user presses them.
		desk.Do(
			chromedp.Click(chromedp.CSS(`details:has(.add-component) summary`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`button.add-component[data-arn*="/first-step/"]`), chromedp.NodeVisible),
			chromedp.Click(chromedp.CSS(`details:has(.add-component) summary`), chromedp.NodeVisible),
		)
	}
	for _, bad := range []struct{ version, parent, field, code string }{
		{"one", parent, "semanticVersion", "Exception"},
		{"1.0.0", "arn:aws:imagebuilder:us-east-1:111111111111:image/no-such-image/1.0.0/1", "parentImage", "ResourceNotFoundException"},
	} {
		fill(bad.version, bad.parent)
		desk.ClickAndLoad("#create-container-recipe")
		if got := desk.Text("#" + bad.field + "-error"); !strings.Contains(got, bad.code) {
			t.Errorf("with version %q and parent %q the form shows %q on %s, want %s", bad.version, bad.parent, got, bad.field, bad.code)
		}
	}
	// A fresh form for the good post (and for the README's screenshot).
	desk.Open(f.srv.URL + "/console/recipes/new?type=container")
	fill("1.0.0", "")
	desk.Do(
		chromedp.Click(chromedp.CSS(`details:has(.pick-parent) summary`), chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`button.pick-parent[data-ref="`+parent+`"]`), chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(`details:has(.pick-parent) summary`), chromedp.NodeVisible),
	)
	f.check(t, desk, "the filled container recipe form", "recipe-form")
	desk.ClickAndLoad("#create-container-recipe")
	if !strings.Contains(desk.Location(), "/console/recipes/view") {
		t.Fatalf("creating the recipe led to %s:\n%s", desk.Location(), desk.Body())
	}
	if note := desk.Text("#build-infra-note"); !strings.Contains(note, "kiln-console") {
		t.Errorf("the recipe page does not say Build now creates kiln-console: %q", note)
	}
	recipePath := strings.TrimPrefix(desk.Location(), f.srv.URL)
	formPath := "/console/recipes/new?type=container"

	// 3. Build now, and the log streams to AVAILABLE.
	desk.ClickAndLoad("#build-recipe")
	if !strings.Contains(desk.Location(), "/console/images/view") {
		t.Fatalf("Build now led to %s:\n%s", desk.Location(), desk.Body())
	}
	imagePath := strings.TrimPrefix(desk.Location(), f.srv.URL)
	desk.WaitFor(`document.getElementById("log").textContent.includes("hello from the first console build")`, 4*time.Minute)
	f.check(t, desk, "the image page after Build now", "build")
	desk.WaitFor(`document.getElementById("image-state").textContent === "AVAILABLE" && document.getElementById("log").dataset.done === "true"`, 4*time.Minute)
	if body := desk.Body(); !strings.Contains(body, f.srv.Addr+"/first-image:1.0.0") {
		t.Errorf("the image page lacks the output URI %s/first-image:1.0.0:\n%s", f.srv.Addr, body)
	}
	infras, err := f.api.ListInfrastructureConfigurations(ctx, &imagebuilder.ListInfrastructureConfigurationsInput{})
	if err != nil || len(infras.InfrastructureConfigurationSummaryList) != 1 || aws.ToString(infras.InfrastructureConfigurationSummaryList[0].Name) != "kiln-console" {
		t.Errorf("after Build now the infrastructure configurations are %+v, %v", infras, err)
	}
	// The recipe page now names the configuration it will use.
	desk.Open(f.srv.URL + recipePath)
	if note := desk.Text("#build-infra-note"); !strings.Contains(note, "kiln-console") || strings.Contains(note, "creates") {
		t.Errorf("the second time the recipe page says %q", note)
	}
	// The two rejected posts answered 400, which the browser logs as a
	// failed load of the form's URL; anything else is an error.
	for _, e := range desk.JSErrors() {
		if !strings.Contains(e, "status of 400") || !strings.Contains(e, f.srv.URL+formPath+":") {
			t.Errorf("JavaScript error at %d px: %s", desk.Width(), e)
		}
	}

	phone := browsertest.New(t, browsertest.PhoneWidth)
	signIn(t, f, phone)
	for _, p := range []struct{ path, name string }{{formPath, "recipe-form-empty"}, {recipePath, "container-recipe"}, {imagePath, ""}} {
		f.page(t, phone, p.path, p.name)
	}
	phone.NoJSErrors()
}

// setFields sets form fields by id in one script (the form keeps what a
// rejected post sent, so a test overwrites rather than types).
func setFields(t *testing.T, b *browsertest.Browser, values map[string]string) {
	t.Helper()
	js, err := json.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	b.Do(chromedp.Evaluate[chromedp.Void](`(function (v) { for (const id in v) document.getElementById(id).value = v[id]; })(` + string(js) + `)`))
}
