package dockerfile

import (
	"slices"
	"strings"
	"testing"
)

const canonicalTemplate = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"

func placeholders(t *Template) []string {
	var out []string
	for _, p := range t.parts {
		if p.Placeholder != "" {
			out = append(out, p.Placeholder)
		}
	}
	return out
}

func TestDockerfileTemplate(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		parseErr   string // substring; "" = parses
		validErr   string // substring; "" = valid
	}{
		{name: "canonical", text: canonicalTemplate},
		{name: "no spaces", text: "FROM {{{imagebuilder:parentImage}}}\n{{{imagebuilder:environments}}}\n{{{imagebuilder:components}}}"},
		{name: "extra lines", text: "# syntax\nFROM {{{ imagebuilder:parentImage }}} AS base\nENV A=1\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\nCMD [\"/bin/sh\"]\n"},
		{name: "other braces are text", text: "FROM {{{ imagebuilder:parentImage }}}\nRUN echo '{{{ x }}}'\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}"},
		{name: "no placeholders", text: "FROM debian:12\nRUN true\n", validErr: "must contain {{{ imagebuilder:parentImage }}}"},
		{name: "no components", text: "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n", validErr: "imagebuilder:components"},
		{name: "no environments", text: "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:components }}}\n", validErr: "imagebuilder:environments"},
		{name: "components twice", text: canonicalTemplate + "{{{ imagebuilder:components }}}\n", validErr: "2 times"},
		{name: "unknown placeholder", text: "FROM x\n\n{{{ imagebuilder:parentimage }}}", parseErr: "line 3: '{{{ imagebuilder:parentimage }}}' is not an Image Builder placeholder"},
		{name: "unclosed", text: "FROM {{{ imagebuilder:parentImage }}\nRUN x }}}", parseErr: "line 1: the placeholder '{{{ imagebuilder:parentImage }}' is not closed"},
		{name: "unclosed at end", text: "FROM {{{ imagebuilder:parent", parseErr: "not closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl, err := ParseTemplate(tc.text)
			if tc.parseErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.parseErr) {
					t.Fatalf("parse error = %v, want %q", err, tc.parseErr)
				}
				if tpl, err := ParseTemplate(tc.text); err == nil && tpl.Validate() == nil {
					t.Error("ParseTemplate+Validate accepted it")
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			err = tpl.Validate()
			if tc.validErr == "" && err != nil {
				t.Fatalf("validate: %v", err)
			}
			if tc.validErr != "" && (err == nil || !strings.Contains(err.Error(), tc.validErr)) {
				t.Fatalf("validate error = %v, want %q", err, tc.validErr)
			}
		})
	}
}

func TestDockerfileTemplateExpand(t *testing.T) {
	tpl, err := ParseTemplate("FROM {{{ imagebuilder:parentImage }}} AS b\n{{{ imagebuilder:environments }}}\n{{{imagebuilder:components}}}\nCMD x\n")
	if err != nil {
		t.Fatal(err)
	}
	got := tpl.Expand(map[string]string{
		PlaceholderParentImage:  "debian:12",
		PlaceholderEnvironments: "COPY a /a",
		PlaceholderComponents:   "RUN /a/run",
	})
	want := "FROM debian:12 AS b\nCOPY a /a\nRUN /a/run\nCMD x\n"
	if got != want {
		t.Errorf("expand = %q, want %q", got, want)
	}
	if l := tpl.parts[len(tpl.parts)-2]; l.Placeholder != PlaceholderComponents || l.Line != 3 {
		t.Errorf("components placeholder part = %+v, want line 3", l)
	}
}

// FuzzParseDockerfileTemplate checks the parser never panics and that a
// parsed template expanded with its own canonical placeholders parses
// back to the same placeholders.
func FuzzParseDockerfileTemplate(f *testing.F) {
	f.Add(canonicalTemplate)
	f.Add("FROM {{{imagebuilder:parentImage}}}\n{{{ {{{ imagebuilder:components }}}")
	f.Add("{{{ imagebuilder:x }}}")
	f.Add("{{{{ imagebuilder:components }}}}")
	f.Add("{{{ imagebuilder:components")
	f.Fuzz(func(t *testing.T, text string) {
		tpl, err := ParseTemplate(text)
		if err != nil {
			return
		}
		_ = tpl.Validate()
		canon := map[string]string{}
		for _, name := range []string{PlaceholderParentImage, PlaceholderEnvironments, PlaceholderComponents} {
			canon[name] = "{{{ " + placeholderPrefix + name + " }}}"
		}
		again, err := ParseTemplate(tpl.Expand(canon))
		if err != nil {
			t.Fatalf("re-parse of the canonical expansion: %v", err)
		}
		if got, want := placeholders(again), placeholders(tpl); !slices.Equal(got, want) {
			t.Fatalf("placeholders %v after re-parse, want %v", got, want)
		}
	})
}
