package catalog

import (
	"embed"
	"fmt"
	"path"
	"sort"
	"strings"
)

// Workflow is one Amazon-owned workflow: the default build, test and
// distribution workflows a pipeline runs when it names none. The documents
// are kiln's own, under the names Image Builder users know (build-image,
// test-container, ...), so that pipelines referencing
// arn:aws:imagebuilder:REGION:aws:workflow/build/build-image/x.x.x work
// unchanged.
type Workflow struct {
	Name        string
	Version     string
	Type        string // BUILD, TEST or DISTRIBUTION, from the name's prefix
	Description string
	Data        string
}

//go:embed workflows/*.yaml
var workflowFiles embed.FS

// workflowTypes maps a built-in workflow's name prefix to its type.
var workflowTypes = map[string]string{"build": "BUILD", "test": "TEST", "distribute": "DISTRIBUTION"}

// Workflows returns the built-in workflows sorted by name.
func Workflows() ([]Workflow, error) {
	entries, err := workflowFiles.ReadDir("workflows")
	if err != nil {
		return nil, err
	}
	var out []Workflow
	for _, e := range entries {
		b, err := workflowFiles.ReadFile(path.Join("workflows", e.Name()))
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(e.Name(), ".yaml")
		prefix, _, _ := strings.Cut(name, "-")
		typ, ok := workflowTypes[prefix]
		if !ok {
			return nil, fmt.Errorf("catalog: workflow %s: the name must start with build-, test- or distribute-", e.Name())
		}
		w := Workflow{Name: name, Version: version, Type: typ, Description: descriptionOf(string(b)), Data: string(b)}
		if w.Description == "" {
			return nil, fmt.Errorf("catalog: %s has no description", e.Name())
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
