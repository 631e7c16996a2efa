package console

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const helloDocument = `name: hello
schemaVersion: 1.0
parameters:
  - greeting:
      type: string
      default: hi
      description: what to say
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands:
            - echo {{ greeting }}
`

func TestComponentForm(t *testing.T) {
	c := startConsole(t, false)
	_, page := c.get(t, c.client, "/console/components/new")
	csrf := csrfFrom(t, page)
	form := func(name, version, data string) url.Values {
		return url.Values{"csrf": {csrf}, "name": {name}, "semanticVersion": {version}, "platform": {"Linux"},
			"data": {data}, "clientToken": {"0123456789abcdef"}}
	}
	tests := []struct {
		name      string
		form      url.Values
		status    int
		wantField string // id of the element the error is shown in
		want      []string
	}{
		{"bad version", form("hello", "1.0", helloDocument), http.StatusBadRequest, "semanticVersion-error",
			[]string{"InvalidParameterValueException", "parameter &#39;semanticVersion&#39;"}},
		{"bad name", form("h", "1.0.0", helloDocument), http.StatusBadRequest, "name-error",
			[]string{"parameter &#39;name&#39;"}},
		{"bad document", form("hello", "1.0.0", "schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: a\n        action: Nope\n"),
			http.StatusBadRequest, "data-error", []string{"line 6, column 17: step &#34;a&#34;: unknown action &#34;Nope&#34;", `class="line bad" id="L6"`}},
		{"created", form("hello", "1.0.0", helloDocument), http.StatusSeeOther, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := c.post(t, c.client, "/console/components/new", tt.form)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			if tt.wantField != "" && !strings.Contains(body, `id="`+tt.wantField+`"`) {
				t.Errorf("no #%s in\n%s", tt.wantField, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("missing %q in\n%s", w, body)
				}
			}
		})
	}
	// The same client token again is the same request: idempotent.
	resp, _ := c.post(t, c.client, "/console/components/new", form("hello", "1.0.0", helloDocument))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "component%2Fhello%2F1.0.0%2F1") {
		t.Fatalf("repeat: %d %s", resp.StatusCode, loc)
	}
	code, body := c.get(t, c.client, loc)
	if code != http.StatusOK {
		t.Fatalf("view: %d\n%s", code, body)
	}
	for _, w := range []string{"<h1>hello 1.0.0</h1>", `href="/console/recipes/new?component=arn%3aaws%3aimagebuilder%3aus-east-1%3a000000000000%3acomponent%2fhello%2f1.0.0%2f1"`, `<td class="mono">greeting</td>`, "what to say", `id="L14"`, "echo {{ greeting }}"} {
		if !strings.Contains(body, w) {
			t.Errorf("view: missing %q in\n%s", w, body)
		}
	}
	code, body = c.get(t, c.client, "/console/components")
	if code != http.StatusOK || !strings.Contains(body, `href="/console/components/view?arn=arn%3aaws%3aimagebuilder%3aus-east-1%3a000000000000%3acomponent%2fhello%2f1.0.0`) {
		t.Errorf("list: %d\n%s", code, body)
	}
}

// FuzzCheckDocument: any document is reported line by line without a
// panic, every line kept, and it has errors exactly when the API would
// refuse it (APIMessage set).
func FuzzCheckDocument(f *testing.F) {
	f.Add(helloDocument)
	f.Add("phases: [{name: build, steps: [{name: a, action: Nope}]}]")
	f.Add("a: [\n")
	f.Fuzz(func(t *testing.T, data string) {
		if len(data) > 16000 {
			return
		}
		rep := checkDocument("fuzz", data)
		if want := len(splitLines(strings.ReplaceAll(data, "\r\n", "\n"))); len(rep.Lines) != max(want, 1) {
			t.Fatalf("%d lines reported for %d", len(rep.Lines), want)
		}
		if (rep.Errors > 0) != (rep.APIMessage != "") {
			t.Fatalf("errors %d but API message %q", rep.Errors, rep.APIMessage)
		}
	})
}
