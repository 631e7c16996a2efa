package console

import (
	"fmt"
	"strings"

	"github.com/kiln-build/kiln/internal/toe"
)

// DocLine is one line of a component document as the console shows it,
// with the problems the toe parser found on it.
type DocLine struct {
	N        int
	Text     string
	Problems []string // errors
	Warnings []string
}

// DocReport is a component document checked by the same parser and
// validator CreateComponent uses: its lines with problems in place, the
// problems on no line of their own, and the sentence the API answers with.
type DocReport struct {
	Lines     []DocLine
	Elsewhere []string // problems past the end of the document
	Errors    int
	Warnings  int
	// APIMessage is what CreateComponent would answer for this document
	// (InvalidParameterValueException), "" when it would accept it.
	APIMessage string
}

// checkDocument parses and validates data under name (the component's
// name, which the parser puts in messages as CreateComponent does).
func checkDocument(name, data string) DocReport {
	text := strings.ReplaceAll(data, "\r\n", "\n")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	rep := DocReport{Lines: make([]DocLine, len(lines))}
	for i, l := range lines {
		rep.Lines[i] = DocLine{N: i + 1, Text: l}
	}
	place := func(p toe.Problem, warn bool) {
		msg := fmt.Sprintf("column %d: %s", p.Column, p.Message)
		if p.Line < 1 || p.Line > len(rep.Lines) {
			rep.Elsewhere = append(rep.Elsewhere, fmt.Sprintf("line %d, %s", p.Line, msg))
			return
		}
		l := &rep.Lines[p.Line-1]
		if warn {
			l.Warnings = append(l.Warnings, msg)
		} else {
			l.Problems = append(l.Problems, msg)
		}
	}
	doc, err := toe.Parse(name, []byte(data))
	if err != nil {
		var p toe.Problem
		if pp, ok := err.(toe.Problem); ok {
			p = pp
		} else {
			p = toe.Problem{Line: 1, Column: 1, Message: err.Error()}
		}
		place(p, false)
		rep.Errors = 1
		rep.APIMessage = "The value supplied for parameter 'data' is not valid. The component document is not valid: " + err.Error()
		return rep
	}
	problems := doc.Validate()
	for _, p := range problems {
		place(p, false)
	}
	for _, p := range doc.Warnings() {
		place(p, true)
		rep.Warnings++
	}
	rep.Errors = len(problems)
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = fmt.Sprintf("line %d, column %d: %s", p.Line, p.Column, p.Message)
		}
		rep.APIMessage = "The value supplied for parameter 'data' is not valid. The component document is not valid: " + strings.Join(msgs, "; ")
	}
	return rep
}
