package benchkit

import (
	"strings"
	"testing"
)

func TestWriteChecks(t *testing.T) {
	for _, tc := range []struct {
		cs   []Check
		want string
	}{
		{nil, ""},
		{[]Check{{Name: "a", OK: true, Detail: "x"}, {Name: "b", Detail: "y"}},
			"\nTargets:\n\n- ok — a: x\n- FAIL — b: y\n"},
	} {
		var b strings.Builder
		WriteChecks(&b, "Targets", tc.cs)
		if b.String() != tc.want {
			t.Errorf("WriteChecks(%v) = %q, want %q", tc.cs, b.String(), tc.want)
		}
	}
}
