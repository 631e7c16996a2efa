package dockerfile

import (
	"fmt"
	"strings"
)

// Container recipe templates.
//
// The placeholders a container recipe's Dockerfile template may use,
// written {{{ imagebuilder:NAME }}} (triple braces, spaces optional):
//
//   - parentImage: the resolved base image reference, as in
//     `FROM {{{ imagebuilder:parentImage }}}`;
//   - environments: the instructions that stage the component documents
//     and the runner into the build;
//   - components: the instructions that run the recipe's components in
//     order and remove what environments staged.
const (
	PlaceholderParentImage  = "parentImage"
	PlaceholderEnvironments = "environments"
	PlaceholderComponents   = "components"
)

const placeholderPrefix = "imagebuilder:"

// Template is a parsed Dockerfile template: literal text and
// placeholders, in order.
type Template struct {
	parts []templatePart
}

// templatePart is either literal text or (when Placeholder is set) one
// placeholder, found at Line (1-based).
type templatePart struct {
	Text        string
	Placeholder string
	Line        int
}

// ParseTemplate splits a template into text and placeholders.
// Only triple-brace groups whose content starts with "imagebuilder:" are
// placeholders; other text, including other brace groups, is Dockerfile
// text and kept as it is. An "imagebuilder:" group that is not closed, or
// that names a placeholder Image Builder does not define, is an error
// naming its line.
func ParseTemplate(text string) (*Template, error) {
	t := &Template{}
	line := 1
	literal := strings.Builder{}
	for rest := text; ; {
		open := strings.Index(rest, "{{{")
		if open < 0 {
			literal.WriteString(rest)
			break
		}
		inner := rest[open+3:]
		trimmed := strings.TrimLeft(inner, " \t")
		if !strings.HasPrefix(trimmed, placeholderPrefix) {
			// Not ours: keep the braces as text and look further on.
			literal.WriteString(rest[:open+3])
			line += strings.Count(rest[:open+3], "\n")
			rest = inner
			continue
		}
		at := line + strings.Count(rest[:open], "\n")
		end := strings.Index(inner, "}}}")
		if end < 0 || strings.Contains(inner[:end], "\n") {
			return nil, fmt.Errorf("line %d: the placeholder '{{{ %s' is not closed with '}}}'", at, firstLine(trimmed))
		}
		name := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(inner[:end]), placeholderPrefix))
		switch name {
		case PlaceholderParentImage, PlaceholderEnvironments, PlaceholderComponents:
		default:
			return nil, fmt.Errorf("line %d: '{{{ %s%s }}}' is not an Image Builder placeholder (known: %s, %s, %s)",
				at, placeholderPrefix, name, PlaceholderParentImage, PlaceholderEnvironments, PlaceholderComponents)
		}
		literal.WriteString(rest[:open])
		if literal.Len() > 0 {
			t.parts = append(t.parts, templatePart{Text: literal.String()})
			literal.Reset()
		}
		t.parts = append(t.parts, templatePart{Placeholder: name, Line: at})
		line = at
		rest = inner[end+3:]
	}
	if literal.Len() > 0 {
		t.parts = append(t.parts, templatePart{Text: literal.String()})
	}
	return t, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// count says how often the template uses a placeholder.
func (t *Template) count(name string) int {
	n := 0
	for _, p := range t.parts {
		if p.Placeholder == name {
			n++
		}
	}
	return n
}

// validate applies the rules a container recipe's template must meet to
// build anything: it names the parent image, and stages and runs the
// components exactly once each. A template missing one of them would
// silently ignore the recipe's parentImage or components, so kiln refuses
// it at create time (Image Builder's exact rule is undocumented; UNSURE).
func (t *Template) Validate() error {
	if t.count(PlaceholderParentImage) == 0 {
		return fmt.Errorf("the template must contain {{{ %s%s }}}, typically as 'FROM {{{ %s%s }}}'",
			placeholderPrefix, PlaceholderParentImage, placeholderPrefix, PlaceholderParentImage)
	}
	for _, name := range []string{PlaceholderEnvironments, PlaceholderComponents} {
		switch n := t.count(name); {
		case n == 0:
			return fmt.Errorf("the template must contain {{{ %s%s }}}", placeholderPrefix, name)
		case n > 1:
			return fmt.Errorf("the template uses {{{ %s%s }}} %d times; it may appear once", placeholderPrefix, name, n)
		}
	}
	return nil
}

// expand renders the template with the text for each placeholder. The
// container build uses it; values missing from the map expand to "".
func (t *Template) Expand(values map[string]string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.Placeholder != "" {
			b.WriteString(values[p.Placeholder])
			continue
		}
		b.WriteString(p.Text)
	}
	return b.String()
}

// ExpandTemplate parses a container recipe's Dockerfile template and
// renders it with the text for each placeholder.
func ExpandTemplate(text string, values map[string]string) (string, error) {
	t, err := ParseTemplate(text)
	if err != nil {
		return "", err
	}
	return t.Expand(values), nil
}
