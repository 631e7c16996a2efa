// Package catalog holds kiln's Amazon-owned resources: components written
// by the kiln project as AWSTOE documents under the names Image Builder
// users know (update-linux, hello-world-linux, ...), so recipes written for
// AWS that reference arn:aws:imagebuilder:REGION:aws:component/NAME/x.x.x
// work unchanged. They are kiln's own documents, not copies of AWS's.
package catalog

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

//go:embed components/*.yaml
var componentFiles embed.FS

// Component is one Amazon-owned component.
type Component struct {
	Name        string
	Version     string
	Description string
	Platform    string
	// SupportedOsVersions is empty: the built-ins detect the package
	// manager themselves and so run on any Linux distribution.
	SupportedOsVersions []string
	Data                string
}

// version is the semantic version every built-in carries. It changes when
// the documents change in a way users should see as a new version.
const version = "1.0.0"

// Components returns the built-in components sorted by name.
func Components() ([]Component, error) {
	entries, err := componentFiles.ReadDir("components")
	if err != nil {
		return nil, err
	}
	var out []Component
	for _, e := range entries {
		b, err := componentFiles.ReadFile(path.Join("components", e.Name()))
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(e.Name(), ".yaml")
		out = append(out, Component{
			Name: name, Version: version, Platform: "Linux",
			Description: descriptionOf(string(b)), Data: string(b),
		})
		if out[len(out)-1].Description == "" {
			return nil, fmt.Errorf("catalog: %s has no description", e.Name())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// descriptionOf reads the document's top-level description line.
func descriptionOf(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		if d, ok := strings.CutPrefix(line, "description: "); ok {
			return strings.TrimSpace(d)
		}
	}
	return ""
}
