package catalog_test

import (
	"testing"

	"github.com/kiln-build/kiln/internal/catalog"
	"github.com/kiln-build/kiln/internal/toe"
)

// TestComponentsValidate runs every Amazon-owned component through the
// same parser and validator as `kiln toe validate` and CreateComponent.
func TestComponentsValidate(t *testing.T) {
	comps, err := catalog.Components()
	if err != nil {
		t.Fatal(err)
	}
	if len(comps) < 5 {
		t.Fatalf("only %d built-in components", len(comps))
	}
	for _, c := range comps {
		t.Run(c.Name, func(t *testing.T) {
			doc, err := toe.Parse(c.Name+".yaml", []byte(c.Data))
			if err != nil {
				t.Fatal(err)
			}
			if problems := doc.Validate(); len(problems) > 0 {
				t.Fatalf("%s does not validate: %v", c.Name, problems)
			}
			if doc.Name != c.Name {
				t.Errorf("document name %q, file name %q", doc.Name, c.Name)
			}
			if c.Description == "" || c.Version == "" || c.Platform != "Linux" {
				t.Errorf("metadata %+v", c)
			}
		})
	}
}
