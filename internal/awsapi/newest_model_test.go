package awsapi_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// sharedModel reads the team's newest model (the Smithy model merged with
// the 2026 clients) from the shared folder next to the repository or its
// worktree, or skips the test when there is none.
func sharedModel(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	for _, dir := range []string{"../../../shared", "../../../../shared"} {
		b, err := os.ReadFile(filepath.Join(dir, "spec", "imagebuilder-model.json"))
		if err != nil {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Skip("no ../shared/spec/imagebuilder-model.json")
	return nil
}

// TestOperationErrorsMatchModel: the generated table declares, for every
// operation of the newest model, the error types that model declares,
// which is what the service's declared-errors check reads; and every
// string length bound of that model is one kiln enforces.
func TestOperationErrorsMatchModel(t *testing.T) {
	m := sharedModel(t)
	var ops map[string]struct {
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(m["operations"], &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) != len(awsapi.Operations) {
		t.Errorf("newest model has %d operations, the table %d", len(ops), len(awsapi.Operations))
	}
	for name, want := range ops {
		op := awsapi.OperationByName(name)
		if op == nil {
			t.Errorf("operation %s of the newest model is not in the table", name)
			continue
		}
		got, w := slices.Sorted(slices.Values(op.Errors)), slices.Sorted(slices.Values(want.Errors))
		if !slices.Equal(got, w) {
			t.Errorf("%s declares %v in the table, %v in the newest model", name, got, w)
		}
	}

	var shapes map[string]struct {
		Type   string `json:"type"`
		Length *struct {
			Min *int `json:"min"`
			Max *int `json:"max"`
		} `json:"length"`
	}
	if err := json.Unmarshal(m["shapes"], &shapes); err != nil {
		t.Fatal(err)
	}
	var ours struct {
		Shapes map[string]struct {
			Min *int `json:"min"`
			Max *int `json:"max"`
		} `json:"shapes"`
	}
	if err := json.Unmarshal(awsapi.BotocoreModel, &ours); err != nil {
		t.Fatal(err)
	}
	for name, s := range shapes {
		if s.Type != "string" || s.Length == nil {
			continue
		}
		o, ok := ours.Shapes[name]
		if !ok {
			continue // a shape kiln's requests do not use
		}
		if min := s.Length.Min; min != nil && *min > 0 && (o.Min == nil || *o.Min != *min) {
			t.Errorf("%s: newest model min %d, kiln %v", name, *min, o.Min)
		}
		if max := s.Length.Max; max != nil && (o.Max == nil || *o.Max != *max) {
			t.Errorf("%s: newest model max %d, kiln %v", name, *max, o.Max)
		}
	}
}
