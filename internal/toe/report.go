package toe

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// Report is a run's status tree in the shape of awstoe's
// detailedoutput.json.
type Report struct {
	ExecutionID    string            `json:"executionId"`
	Status         string            `json:"status"`
	StartTime      string            `json:"startTime"`
	EndTime        string            `json:"endTime"`
	FailureMessage string            `json:"failureMessage"`
	Documents      []*DocumentReport `json:"documents"`

	// LogDir is the TOE_* log folder written, "" when none.
	LogDir   string `json:"-"`
	executed int
}

// DocumentReport is one document's part of a Report.
type DocumentReport struct {
	Name           string         `json:"name"`
	FilePath       string         `json:"filePath"`
	Status         string         `json:"status"`
	Description    string         `json:"description"`
	StartTime      string         `json:"startTime"`
	EndTime        string         `json:"endTime"`
	FailureMessage string         `json:"failureMessage"`
	Phases         []*PhaseReport `json:"phases"`
}

// PhaseReport is one phase's part of a DocumentReport.
type PhaseReport struct {
	Name           string        `json:"name"`
	Status         string        `json:"status"`
	StartTime      string        `json:"startTime"`
	EndTime        string        `json:"endTime"`
	FailureMessage string        `json:"failureMessage"`
	Steps          []*StepReport `json:"steps"`

	aborted    bool
	start, end time.Time // exact times for JUnit; the JSON has seconds
}

// StepReport is one step's part of a PhaseReport. Inputs and Outputs are
// JSON strings holding a list, as AWSTOE writes them.
type StepReport struct {
	Name           string      `json:"name"`
	Status         string      `json:"status"`
	FailureMessage string      `json:"failureMessage"`
	TimeoutSeconds int         `json:"timeoutSeconds"`
	OnFailure      string      `json:"onFailure"`
	MaxAttempts    int         `json:"maxAttempts"`
	Action         string      `json:"action"`
	StartTime      string      `json:"startTime"`
	EndTime        string      `json:"endTime"`
	Inputs         string      `json:"inputs"`
	Outputs        string      `json:"outputs"`
	Loop           *LoopReport `json:"loop"`
	// DetailedOutput holds the runs of nested documents (ExecuteDocument).
	DetailedOutput []*Report `json:"detailedOutput"`
	// Output is the tail of the step's console output (not in the JSON).
	Output string `json:"-"`

	start, end time.Time
}

// LoopReport describes a step's loop. AWS does not document this object's
// shape; kiln records the loop's name and iteration count.
type LoopReport struct {
	Name       string `json:"name"`
	Iterations int    `json:"iterations"`
}

// Summary is the run summary awstoe prints to stdout and ExecuteDocument
// returns as its output.
type Summary struct {
	ExecutedStepCount      int    `json:"executedStepCount"`
	ExecutionID            string `json:"executionId"`
	FailedStepCount        int    `json:"failedStepCount"`
	FailureMessage         string `json:"failureMessage"`
	IgnoredFailedStepCount int    `json:"ignoredFailedStepCount"`
	LogURL                 string `json:"logUrl"`
	Status                 string `json:"status"`
}

// Summary counts the run's steps. Executed steps are those whose action
// ran (skipped steps are not counted); nested documents' steps count too.
func (r *Report) Summary() Summary {
	s := Summary{ExecutedStepCount: r.executed, ExecutionID: r.ExecutionID, FailureMessage: r.FailureMessage, LogURL: r.LogDir, Status: r.Status}
	for _, st := range r.Steps() {
		switch st.Status {
		case StatusFailed:
			s.FailedStepCount++
		case StatusIgnoredFailure:
			s.IgnoredFailedStepCount++
		}
	}
	return s
}

func (r *Report) summaryMap() map[string]any {
	s := r.Summary()
	return map[string]any{
		"executedStepCount": s.ExecutedStepCount, "executionId": s.ExecutionID, "failedStepCount": s.FailedStepCount,
		"failureMessage": s.FailureMessage, "ignoredFailedStepCount": s.IgnoredFailedStepCount, "logUrl": s.LogURL, "status": s.Status,
	}
}

// Steps lists every step report of the run's top-level documents in order.
func (r *Report) Steps() []*StepReport {
	var out []*StepReport
	for _, d := range r.Documents {
		for _, p := range d.Phases {
			out = append(out, p.Steps...)
		}
	}
	return out
}

// Step finds a step report by document index, phase and step name.
func (r *Report) Step(doc int, phase, step string) *StepReport {
	if doc < 0 || doc >= len(r.Documents) {
		return nil
	}
	for _, p := range r.Documents[doc].Phases {
		if p.Name != phase {
			continue
		}
		for _, s := range p.Steps {
			if s.Name == step {
				return s
			}
		}
	}
	return nil
}

// Succeeded reports whether the run counts as a success (success or
// successWithIgnoredFailure).
func (r *Report) Succeeded() bool {
	return r.Status == StatusSuccess || r.Status == StatusSuccessWithIgnoredFailure
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr,omitempty"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *struct{}     `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the report as JUnit XML: one testsuite per document
// and phase ("<document>/<phase>"), one testcase per step. Failed steps
// carry their failure message and output; ignored failures pass with the
// message in system-out; skipped steps are marked skipped.
func (r *Report) WriteJUnit(w io.Writer) error {
	all := junitSuites{Name: r.ExecutionID}
	for _, d := range r.Documents {
		docName := d.Name
		if docName == "" {
			docName = d.FilePath
		}
		for _, p := range d.Phases {
			s := junitSuite{Name: docName + "/" + p.Name, Time: seconds(p.start, p.end), Timestamp: p.StartTime}
			for _, st := range p.Steps {
				c := junitCase{Name: st.Name, ClassName: strings.ReplaceAll(docName, ".", "_") + "." + p.Name, Time: seconds(st.start, st.end)}
				switch st.Status {
				case StatusFailed:
					c.Failure = &junitFailure{Message: st.FailureMessage, Type: st.Action, Text: st.FailureMessage + "\n" + st.Output}
					s.Failures++
				case StatusSkipped:
					c.Skipped = &struct{}{}
					s.Skipped++
				case StatusIgnoredFailure:
					c.SystemOut = "ignored failure: " + st.FailureMessage + "\n" + st.Output
				default:
					c.SystemOut = st.Output
				}
				s.Tests++
				s.Cases = append(s.Cases, c)
			}
			all.Tests += s.Tests
			all.Failures += s.Failures
			all.Skipped += s.Skipped
			all.Suites = append(all.Suites, s)
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func seconds(start, end time.Time) string {
	if start.IsZero() || end.Before(start) {
		return "0.000"
	}
	return fmt.Sprintf("%.3f", end.Sub(start).Seconds())
}
