package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// TestContainerRecipeFormAndBuild creates a container recipe by form (bad
// input first: each error on its field), then presses Build now three
// times: with no infrastructure configuration (kiln-console is created),
// with exactly one (it is used), and with two (the page offers a select
// and a post without a choice is refused, naming the field).
func TestContainerRecipeFormAndBuild(t *testing.T) {
	c := startConsole(t, false)
	code, page := c.get(t, c.client, "/console/recipes/new?type=container")
	if code != http.StatusOK || !strings.Contains(page, `id="container-recipe-form"`) || !strings.Contains(page, "FROM {{{ imagebuilder:parentImage }}}") {
		t.Fatalf("the container form: %d\n%s", code, page)
	}
	csrf := csrfFrom(t, page)
	if resp, body := c.post(t, c.client, "/console/components/new", url.Values{"csrf": {csrf}, "name": {"hello"}, "semanticVersion": {"1.0.0"},
		"platform": {"Linux"}, "data": {helloDocument}, "clientToken": {"0123456789abcdef"}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("component: %d\n%s", resp.StatusCode, body)
	}
	comp := "arn:aws:imagebuilder:us-east-1:000000000000:component/hello/1.0.0/1"
	form := func(version, parent, target, token string) url.Values {
		return url.Values{"csrf": {csrf}, "name": {"web"}, "semanticVersion": {version}, "parentImage": {parent},
			"components": {comp}, "targetRepository": {target}, "dockerfileTemplateData": {DefaultDockerfileTemplate}, "clientToken": {token}}
	}
	const parent = "127.0.0.1:8080/parents/alpine:3"
	for _, tt := range []struct {
		name  string
		form  url.Values
		field string
	}{
		{"bad version", form("one", parent, "", "cccccccc01"), "semanticVersion-error"},
		{"unknown parent", form("1.0.0", "arn:aws:imagebuilder:us-east-1:000000000000:image/nope/1.0.0/1", "", "cccccccc02"), "parentImage-error"},
		{"not a reference", form("1.0.0", "Not A Reference!", "", "cccccccc03"), "parentImage-error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.post(t, c.client, "/console/recipes/new?type=container", tt.form)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="`+tt.field+`"`) || !strings.Contains(body, "Exception</strong>") {
				t.Errorf("status %d, want 400 with #%s:\n%s", resp.StatusCode, tt.field, body)
			}
		})
	}
	resp, body := c.post(t, c.client, "/console/recipes/new?type=container", form("1.0.0", parent, "", "dddddddd01"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", resp.StatusCode, body)
	}
	recipe := "arn:aws:imagebuilder:us-east-1:000000000000:container-recipe/web/1.0.0"
	code, page = c.get(t, c.client, "/console/recipes/view?arn="+url.QueryEscape(recipe))
	if code != http.StatusOK || !strings.Contains(page, "ECR web") || !strings.Contains(page, `id="build-recipe"`) || !strings.Contains(page, "named <code>kiln-console</code>") {
		t.Fatalf("recipe page: %d\n%s", code, page)
	}

	build := func(token string, extra url.Values) *http.Response {
		form := url.Values{"csrf": {csrf}, "arn": {recipe}, "clientToken": {token}}
		for k, v := range extra {
			form[k] = v
		}
		resp, _ := c.post(t, c.client, "/console/recipes/build", form)
		return resp
	}
	infras := func() []awsapi.InfrastructureConfigurationSummary {
		out, err := c.api.Invoke(context.Background(), "000000000000", awsapi.OpListInfrastructureConfigurations, &awsapi.ListInfrastructureConfigurationsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return out.(*awsapi.ListInfrastructureConfigurationsResponse).InfrastructureConfigurationSummaryList
	}
	for i, token := range []string{"eeeeeeee01", "eeeeeeee02"} {
		resp := build(token, nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/console/images/view?arn=") {
			t.Fatalf("build %d: %d to %q", i, resp.StatusCode, loc)
		}
		if got := infras(); len(got) != 1 || got[0].Name != ConsoleInfrastructureName || got[0].InstanceProfileName != "none" {
			t.Fatalf("after build %d the infrastructure configurations are %+v", i, got)
		}
	}
	if _, err := c.api.Invoke(context.Background(), "000000000000", awsapi.OpCreateInfrastructureConfiguration,
		&awsapi.CreateInfrastructureConfigurationRequest{Name: "second", InstanceProfileName: "kiln", ClientToken: "ffffffff01"}); err != nil {
		t.Fatal(err)
	}
	_, page = c.get(t, c.client, "/console/recipes/view?arn="+url.QueryEscape(recipe))
	if !strings.Contains(page, `<select id="infrastructureConfigurationArn"`) {
		t.Errorf("two configurations and no select:\n%s", page)
	}
	if resp := build("eeeeeeee03", nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a build without a choice among two: %d", resp.StatusCode)
	}
	if resp := build("eeeeeeee04", url.Values{"infrastructureConfigurationArn": {infras()[0].Arn}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a build with a choice: %d", resp.StatusCode)
	}
}

// TestParentChoicesWithoutRegistry: a console without a registry offers no
// parents and says how to get one.
func TestParentChoicesWithoutRegistry(t *testing.T) {
	c := startConsole(t, false)
	_, page := c.get(t, c.client, "/console/recipes/new?type=container")
	if !strings.Contains(page, "kiln images pull-parent alpine-3") {
		t.Errorf("no hint to pull a parent:\n%s", page)
	}
}
