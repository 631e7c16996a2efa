package benchkit

import (
	"fmt"
	"io"
)

// Check is one pass/fail statement about a run: a target of the issue
// that asked for the benchmark, or a sanity check that the run measured
// what it claims to.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// WriteChecks writes cs as a Markdown list under "title:", one
// "- ok — NAME: DETAIL" (or FAIL) line each; nothing when cs is empty.
func WriteChecks(w io.Writer, title string, cs []Check) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n\n", title)
	for _, c := range cs {
		mark := "FAIL"
		if c.OK {
			mark = "ok"
		}
		fmt.Fprintf(w, "- %s — %s: %s\n", mark, c.Name, c.Detail)
	}
}
