package console

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

const amazonLinux2023 = "arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023-x86/x.x.x"

func TestParseComponentLines(t *testing.T) {
	got := parseComponentLines("  arn:a  \n\narn:b greeting=hi list=x,y\n")
	want := []awsapi.ComponentConfiguration{
		{ComponentArn: "arn:a"},
		{ComponentArn: "arn:b", Parameters: []awsapi.ComponentParameter{{Name: "greeting", Value: []string{"hi"}}, {Name: "list", Value: []string{"x", "y"}}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
}

// TestRecipeForm creates a component and two versions of an image recipe
// by form, then reads the second with its components in order and its
// diff against the first.
func TestRecipeForm(t *testing.T) {
	c := startConsole(t, false)
	_, page := c.get(t, c.client, "/console/components/new")
	csrf := csrfFrom(t, page)
	resp, body := c.post(t, c.client, "/console/components/new", url.Values{"csrf": {csrf}, "name": {"hello"}, "semanticVersion": {"1.0.0"},
		"platform": {"Linux"}, "data": {helloDocument}, "clientToken": {"0123456789abcdef"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("component: %d\n%s", resp.StatusCode, body)
	}
	comp := "arn:aws:imagebuilder:us-east-1:000000000000:component/hello/1.0.0/1"
	form := func(version, components, token string) url.Values {
		return url.Values{"csrf": {csrf}, "name": {"web"}, "semanticVersion": {version}, "parentImage": {amazonLinux2023},
			"components": {components}, "clientToken": {token}}
	}
	for _, tt := range []struct {
		name  string
		form  url.Values
		field string
	}{
		{"no components", form("1.0.0", "", "aaaaaaaa01"), "components-error"},
		{"unknown component", form("1.0.0", "arn:aws:imagebuilder:us-east-1:000000000000:component/nope/1.0.0/1", "aaaaaaaa02"), ""},
		{"bad version", form("1", comp, "aaaaaaaa03"), "semanticVersion-error"},
		{"a component twice", form("1.0.0", comp+"\n"+comp, "aaaaaaaa04"), "form-error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.post(t, c.client, "/console/recipes/new", tt.form)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d\n%s", resp.StatusCode, body)
			}
			if tt.field != "" && !strings.Contains(body, `id="`+tt.field+`"`) {
				t.Errorf("no #%s in\n%s", tt.field, body)
			}
			if !strings.Contains(body, "Exception</strong>") {
				t.Errorf("no error code shown:\n%s", body)
			}
		})
	}
	resp, body = c.post(t, c.client, "/console/recipes/new", form("1.0.0", comp, "bbbbbbbb01"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("v1: %d\n%s", resp.StatusCode, body)
	}
	v1 := "arn:aws:imagebuilder:us-east-1:000000000000:image-recipe/web/1.0.0"
	resp, body = c.post(t, c.client, "/console/recipes/new", form("2.0.0", comp+" greeting=hello", "bbbbbbbb02"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("v2: %d\n%s", resp.StatusCode, body)
	}
	v2 := "arn:aws:imagebuilder:us-east-1:000000000000:image-recipe/web/2.0.0"
	code, body := c.get(t, c.client, "/console/recipes/view?arn="+url.QueryEscape(v2)+"&diff="+url.QueryEscape(v1))
	if code != http.StatusOK {
		t.Fatalf("view: %d\n%s", code, body)
	}
	for _, w := range []string{"<h1>web 2.0.0</h1>", "<code>greeting</code> = <code>hello</code>", "Changes from 1.0.0 to 2.0.0",
		`<span class="add">&#43;           &#34;name&#34;: &#34;greeting&#34;,</span>`, `<span class="del">-       &#34;componentArn&#34;`} {
		if !strings.Contains(body, w) {
			t.Errorf("missing %q in\n%s", w, body)
		}
	}
	if !strings.Contains(body, `href="/console/components/view?arn=arn%3aaws%3aimagebuilder%3aus-east-1%3a000000000000%3acomponent%2fhello%2f1.0.0%2f1"`) {
		t.Errorf("the recipe's component has no link:\n%s", body)
	}
	// A new version starts from the old one, parameters included.
	code, body = c.get(t, c.client, "/console/recipes/new?from="+url.QueryEscape(v2))
	if code != http.StatusOK || !strings.Contains(body, `value="2.0.1"`) || !strings.Contains(body, comp+" greeting=hello\n</textarea>") {
		t.Errorf("new version from v2: %d\n%s", code, body)
	}
	if code, body := c.get(t, c.client, "/console/recipes"); code != http.StatusOK || !strings.Contains(body, ">web</a>") {
		t.Errorf("list: %d\n%s", code, body)
	}
}

// FuzzParseComponentLines: any text gives one configuration per non-blank
// line, each with the line's first word as its ARN.
func FuzzParseComponentLines(f *testing.F) {
	f.Add("arn:a x=1,2 y=\n\narn:b")
	f.Add("  \n=\n a==b ")
	f.Fuzz(func(t *testing.T, text string) {
		got := parseComponentLines(text)
		var want []string
		for _, l := range strings.Split(text, "\n") {
			if fs := strings.Fields(l); len(fs) > 0 {
				want = append(want, fs[0])
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%d configurations for %d lines", len(got), len(want))
		}
		for i, c := range got {
			if c.ComponentArn != want[i] {
				t.Fatalf("configuration %d: %q, want %q", i, c.ComponentArn, want[i])
			}
		}
	})
}

func TestNextPatch(t *testing.T) {
	for in, want := range map[string]string{"1.0.0": "1.0.1", "2.3.9": "2.3.10", "1.0": "1.0", "x.y.z": "x.y.z"} {
		if got := nextPatch(in); got != want {
			t.Errorf("nextPatch(%q) = %q, want %q", in, got, want)
		}
	}
}
