package catalog

import (
	"testing"

	"github.com/kiln-build/kiln/internal/workflow"
)

// TestWorkflowsAreValid parses every built-in workflow as the service
// will when seeding it, so a broken document fails here, not at start-up.
func TestWorkflowsAreValid(t *testing.T) {
	ws, err := Workflows()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"build-container", "build-image", "distribute-container", "distribute-image", "test-container", "test-image"}
	if len(ws) != len(want) {
		t.Fatalf("got %d workflows, want %d", len(ws), len(want))
	}
	for i, w := range ws {
		if w.Name != want[i] {
			t.Errorf("workflow %d is %s, want %s", i, w.Name, want[i])
		}
		doc, err := workflow.Parse([]byte(w.Data))
		if err != nil {
			t.Errorf("%s: %v", w.Name, err)
			continue
		}
		if ps := doc.Validate(workflow.Stage(w.Type)); len(ps) > 0 {
			t.Errorf("%s (%s): %v", w.Name, w.Type, ps)
		}
	}
}
