package toe

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kiln-build/kiln/internal/toe/action"
)

// Step, phase, document and run statuses as detailedoutput.json spells
// them. AWS shows only "success" in JSON; the other values use the same
// lower-camel spelling of the names its prose uses.
const (
	StatusSuccess                   = "success"
	StatusFailed                    = "failed"
	StatusIgnoredFailure            = "ignoredFailure"
	StatusSuccessWithIgnoredFailure = "successWithIgnoredFailure"
	StatusSkipped                   = "skipped"
)

// DefaultTimeoutSeconds is a step's time limit when it sets none.
const DefaultTimeoutSeconds = 7200

// maxNesting is how many documents deep ExecuteDocument may nest: the
// documented 3 levels below the top document.
const maxNesting = 3

// DocumentSource is one document to run.
type DocumentSource struct {
	// Path is where the document came from; it names the document in the
	// report and anchors relative ExecuteDocument paths.
	Path string
	// Data is the document; when nil it is read from Path.
	Data []byte
	// Parameters apply to this document and win over Run's parameters.
	Parameters map[string]string
}

// RebootRequest describes a step's request to reboot the machine.
type RebootRequest struct {
	Document, Phase, Step string
	// ResumeAtNextStep is true for the Reboot action and false for exit
	// code 194, which re-runs the step.
	ResumeAtNextStep bool
	Delay            time.Duration
}

// Runner runs component documents the way `awstoe run` does. The zero
// value runs in the current directory, writes no log folder and prints
// nothing.
//
// Reboots: AWSTOE reboots the machine and resumes after boot. kiln runs on
// hosts and in sandboxes it must not reboot, so a reboot request (exit
// code 194 or the Reboot action) is written to StateDir, handed to the
// Reboot hook if one is set (the CLI's --reboot-command, or the build
// engine restarting an instance) and then execution continues in-process:
// the same step again for 194, the next step for Reboot. Resuming a run
// from StateDir after a real reboot is not implemented; a step that asks
// for a reboot more than MaxReboots times fails.
type Runner struct {
	// Stdout receives the console output (also written to console.log).
	Stdout io.Writer
	// LogDir is the parent directory of the TOE_<date>_<time>_UTC-0_<id>
	// log folder; "" writes no log folder.
	LogDir string
	// ExecutionID names the run; a random UUID when empty.
	ExecutionID string
	// WorkDir is the steps' working directory; "" for the current one.
	WorkDir string
	// StateDir receives reboot state; "" for none.
	StateDir string
	S3       action.S3Options
	// Progress replaces streamed command output on Stdout with one live
	// status line per step (for terminals); console.log keeps everything.
	Progress bool
	// Trace copies the application log here (awstoe --trace).
	Trace io.Writer
	// Environ is the steps' environment; nil for this process's.
	Environ []string
	// Modules looks up action modules; nil for action.Lookup.
	Modules func(name string) (action.Module, bool)
	// Blocked names actions that must not run (awstoe
	// --blocked-action-modules); such steps fail.
	Blocked []string
	// ReadDocument loads ExecuteDocument targets that are not local files
	// (s3://, component ARNs); nil rejects them.
	ReadDocument func(ctx context.Context, location string) ([]byte, error)
	// Reboot is called when a step asks for a reboot; nil only logs it.
	Reboot func(ctx context.Context, req RebootRequest) error
	// MaxReboots bounds reboot requests per step; 0 means 10.
	MaxReboots int
	// SSM and IMDS resolve {{ aws:ssm:... }} and {{ aws:imds:... }};
	// nil makes such references fail the step.
	SSM  func(ctx context.Context, name string) (string, error)
	IMDS func(ctx context.Context, path string) (string, error)
	// Context overrides {{ context:key }} values (accountId, region, ...).
	Context map[string]string
	// Now is the clock; nil for time.Now.
	Now func() time.Time
}

// ValidationError is returned by Run when a document does not validate.
type ValidationError struct{ Problems Problems }

func (e *ValidationError) Error() string {
	return "invalid document:\n" + e.Problems.Error()
}

// run is the state of one Run call.
type run struct {
	*Runner
	id       string
	lookup   func(string) (action.Module, bool)
	environ  []string
	console  *consoleWriter
	log      *slog.Logger
	ctxVals  map[string]string
	mu       sync.Mutex
	chaining map[string]string
	executed int
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Run parses, validates and runs docs in order: for each document the
// selected phases (all when phases is empty) in document order. params
// apply to every document; names a document does not declare are ignored.
// The returned error covers problems that stop the run from starting
// (unreadable or invalid documents, missing parameters, log folder); step
// failures are reported in the Report's statuses.
func (r *Runner) Run(ctx context.Context, docs []DocumentSource, phases []string, params map[string]string) (*Report, error) {
	rn := &run{Runner: r, id: r.ExecutionID, lookup: r.Modules, environ: r.Environ, chaining: map[string]string{}}
	if rn.id == "" {
		rn.id = newUUID()
	}
	if rn.lookup == nil {
		rn.lookup = modules
	}
	if rn.environ == nil {
		rn.environ = os.Environ()
	}
	start := r.now()
	rep := &Report{ExecutionID: rn.id, StartTime: timestamp(start)}

	var logFiles []*os.File
	defer func() {
		for _, f := range logFiles {
			f.Close()
		}
	}()
	var consoleFile, appFile io.Writer = io.Discard, io.Discard
	if r.LogDir != "" {
		rep.LogDir = filepath.Join(r.LogDir, fmt.Sprintf("TOE_%s_UTC-0_%s", start.UTC().Format("2006-01-02_15-04-05"), rn.id))
		if err := os.MkdirAll(rep.LogDir, 0o755); err != nil {
			return nil, fmt.Errorf("log folder: %w", err)
		}
		for _, name := range []string{"console.log", "application.log"} {
			f, err := os.Create(filepath.Join(rep.LogDir, name))
			if err != nil {
				return nil, fmt.Errorf("log folder: %w", err)
			}
			logFiles = append(logFiles, f)
		}
		consoleFile, appFile = logFiles[0], logFiles[1]
	}
	var term io.Writer = io.Discard
	if r.Stdout != nil {
		term = r.Stdout
	}
	rn.console = &consoleWriter{file: consoleFile, term: term, progress: r.Progress}
	appOut := appFile
	if r.Trace != nil {
		appOut = io.MultiWriter(appFile, r.Trace)
	}
	rn.log = slog.New(slog.NewTextHandler(appOut, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rn.ctxVals = contextValues(rn.id, r.Context)
	rn.log.Info("execution started", "executionId", rn.id, "documents", len(docs), "phases", strings.Join(phases, ","))

	// Parse and validate everything before running anything, as awstoe does.
	type loaded struct {
		doc     *Document
		path    string
		display string
		vars    map[string]string
		data    []byte
	}
	var all []loaded
	var problems Problems
	for _, src := range docs {
		data := src.Data
		if data == nil {
			b, err := os.ReadFile(src.Path)
			if err != nil {
				return nil, fmt.Errorf("document %s: %w", src.Path, err)
			}
			data = b
		}
		doc, err := Parse(src.Path, data)
		if err != nil {
			var p Problem
			if errors.As(err, &p) {
				problems = append(problems, p)
				continue
			}
			return nil, err
		}
		if ps := doc.validate(rn.lookup); len(ps) > 0 {
			problems = append(problems, ps...)
			continue
		}
		given := map[string]string{}
		for k, v := range params {
			given[k] = v
		}
		for k, v := range src.Parameters {
			given[k] = v
		}
		vars, err := doc.variables(given)
		if err != nil {
			return nil, fmt.Errorf("document %s: %w", src.Path, err)
		}
		path := src.Path
		if path != "" && !strings.Contains(path, "://") && !strings.HasPrefix(path, "arn:") {
			if a, err := filepath.Abs(path); err == nil {
				path = a
			}
		}
		all = append(all, loaded{doc, path, src.Path, vars, data})
	}
	if len(problems) > 0 {
		for _, p := range problems {
			rn.console.line(p.String())
		}
		return nil, &ValidationError{Problems: problems}
	}
	if rep.LogDir != "" {
		for i, l := range all {
			name := "document.yaml"
			if len(all) > 1 {
				name = fmt.Sprintf("document-%d.yaml", i+1)
			}
			if err := os.WriteFile(filepath.Join(rep.LogDir, name), l.data, 0o644); err != nil {
				return nil, fmt.Errorf("log folder: %w", err)
			}
		}
	}

	rep.Status = StatusSuccess
	for _, l := range all {
		dr := &docRun{run: rn, doc: l.doc, path: l.path, display: l.display, vars: l.vars, records: map[string]map[string]*stepRecord{}}
		if l.path != "" {
			dr.stack = []string{l.path}
		}
		drep := dr.execute(ctx, phases)
		rep.Documents = append(rep.Documents, drep)
		rep.Status = worse(rep.Status, drep.Status)
		if drep.Status == StatusFailed {
			rep.FailureMessage = fmt.Sprintf("Document %s failed: %s", describeDoc(l.doc, l.display), drep.FailureMessage)
			break
		}
	}
	rep.EndTime = timestamp(r.now())
	rep.executed = rn.executed
	rn.console.finish()
	rn.log.Info("execution finished", "status", rep.Status)

	if rep.LogDir != "" {
		if err := writeJSON(filepath.Join(rep.LogDir, "detailedoutput.json"), rep); err != nil {
			return rep, err
		}
		if err := writeJSON(filepath.Join(rep.LogDir, "chaining.json"), rn.chaining); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func describeDoc(d *Document, path string) string {
	if path != "" {
		return path
	}
	if d.Name != "" {
		return d.Name
	}
	return d.Source
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// variables computes the document's variables: constants, then parameter
// defaults overridden by given values. Given names the document does not
// declare are ignored, as awstoe does. A parameter with neither a default
// nor a value is an error: Image Builder rejects such builds, and running
// with an empty string (awstoe's local behaviour) hides the mistake.
func (d *Document) variables(given map[string]string) (map[string]string, error) {
	vars := map[string]string{}
	for _, c := range d.Constants {
		vars[c.Name] = c.Value
	}
	var missing []string
	for _, p := range d.Parameters {
		if v, ok := given[p.Name]; ok {
			if p.AllowedValues != nil && !slices.Contains(p.AllowedValues, v) {
				return nil, fmt.Errorf("parameter %s: value %q is not one of its allowedValues [%s]", p.Name, v, strings.Join(p.AllowedValues, ", "))
			}
			vars[p.Name] = v
		} else if p.HasDefault {
			vars[p.Name] = p.Default
		} else {
			missing = append(missing, p.Name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("parameter %s has no default and no value was given", strings.Join(missing, ", "))
	}
	return vars, nil
}

// docRun is one document being run (top level or nested).
type docRun struct {
	*run
	doc     *Document
	path    string // absolute location, for nested documents and cycles
	display string // location as given, for reports
	vars    map[string]string
	records map[string]map[string]*stepRecord // phase → step → record
	stack   []string                          // documents being run, outermost first
}

// stepRecord is what chaining can read from a step that ran.
type stepRecord struct {
	inputs  []map[string]any
	outputs []map[string]any
}

func (dr *docRun) execute(ctx context.Context, phases []string) *DocumentReport {
	d := dr.doc
	drep := &DocumentReport{Name: d.Name, FilePath: dr.display, Description: d.Description, StartTime: timestamp(dr.now()), Status: StatusSuccess}
	dr.console.line(fmt.Sprintf("Document %s", describeDoc(d, dr.display)))
	dr.log.Info("document started", "document", describeDoc(d, dr.display))
	for pi := range d.Phases {
		ph := &d.Phases[pi]
		if len(phases) > 0 && !contains(phases, ph.Name) {
			continue
		}
		prep := dr.runPhase(ctx, ph)
		drep.Phases = append(drep.Phases, prep)
		drep.Status = worse(drep.Status, prep.Status)
		if prep.Status == StatusFailed {
			if drep.FailureMessage == "" {
				drep.FailureMessage = fmt.Sprintf("Phase %s failed: %s", ph.Name, prep.FailureMessage)
			}
			if prep.aborted {
				break
			}
		}
	}
	drep.EndTime = timestamp(dr.now())
	dr.log.Info("document finished", "document", describeDoc(d, dr.display), "status", drep.Status)
	return drep
}

func (dr *docRun) runPhase(ctx context.Context, ph *Phase) *PhaseReport {
	prep := &PhaseReport{Name: ph.Name, Status: StatusSuccess, start: dr.now()}
	prep.StartTime = timestamp(prep.start)
	dr.console.line(fmt.Sprintf("Phase %s", ph.Name))
	for si := range ph.Steps {
		st := &ph.Steps[si]
		srep := dr.runStep(ctx, ph, st)
		prep.Steps = append(prep.Steps, srep)
		prep.Status = worse(prep.Status, srep.Status)
		if srep.Status == StatusFailed {
			if prep.FailureMessage == "" {
				prep.FailureMessage = fmt.Sprintf("Step %s failed: %s", st.Name, srep.FailureMessage)
			}
			if st.OnFailure == "Abort" || ctx.Err() != nil {
				prep.aborted = true
				break
			}
		}
	}
	prep.end = dr.now()
	prep.EndTime = timestamp(prep.end)
	return prep
}

// worse combines two statuses into the one a parent reports.
func worse(a, b string) string {
	rank := func(s string) int {
		switch s {
		case StatusFailed:
			return 2
		case StatusIgnoredFailure, StatusSuccessWithIgnoredFailure:
			return 1
		}
		return 0
	}
	switch max(rank(a), rank(b)) {
	case 2:
		return StatusFailed
	case 1:
		return StatusSuccessWithIgnoredFailure
	}
	return StatusSuccess
}

// runStep runs one step: its `if`, then up to maxAttempts attempts of the
// whole step (every loop iteration) under timeoutSeconds, then onFailure.
func (dr *docRun) runStep(ctx context.Context, ph *Phase, st *Step) *StepReport {
	timeout := st.TimeoutSeconds
	if timeout == 0 {
		timeout = DefaultTimeoutSeconds
	}
	if st.Action == "ExecuteDocument" || st.Action == "Reboot" {
		timeout = -1
	}
	srep := &StepReport{Name: st.Name, Action: st.Action, OnFailure: st.OnFailure, MaxAttempts: st.MaxAttempts, TimeoutSeconds: timeout, Inputs: "[]", Outputs: "[]", start: dr.now()}
	srep.StartTime = timestamp(srep.start)
	if st.Loop != nil {
		srep.Loop = &LoopReport{Name: st.Loop.Name}
	}
	out := &stepOutput{console: dr.console, prefix: "CmdExecution: ", hidden: st.DisableLogging}
	dr.console.stepStarted(ph.Name, st.Name, st.Action)
	dr.log.Info("step started", "phase", ph.Name, "step", st.Name, "action", st.Action)
	finish := func(status, msg string) *StepReport {
		srep.Status, srep.FailureMessage = status, msg
		srep.end = dr.now()
		srep.EndTime = timestamp(srep.end)
		srep.Output = out.tail.String()
		dr.console.stepFinished(ph.Name, st.Name, status, msg)
		dr.log.Info("step finished", "phase", ph.Name, "step", st.Name, "status", status, "failureMessage", msg)
		return srep
	}
	fail := func(msg string) *StepReport {
		if st.OnFailure == "Ignore" {
			return finish(StatusIgnoredFailure, msg)
		}
		return finish(StatusFailed, msg)
	}

	sc := &scope{dr: dr, phase: ph.Name, step: st.Name, ctx: ctx}
	if st.If != nil {
		ok, err := st.If.Expr.eval(evalEnv{expand: sc.expand, workDir: dr.WorkDir, environ: dr.environ})
		if err != nil {
			return fail("if: " + err.Error())
		}
		decision := st.If.Else
		if ok {
			decision = st.If.Then
		}
		switch decision {
		case "Skip":
			return finish(StatusSkipped, "")
		case "Abort":
			// Abort fails the step without retries; onFailure then decides
			// what happens next, like any other failure.
			return fail("if condition chose Abort")
		}
	}
	if contains(dr.Blocked, st.Action) {
		return fail(fmt.Sprintf("action %s is blocked", st.Action))
	}
	m, ok := dr.lookup(st.Action)
	if !ok {
		return fail(fmt.Sprintf("unknown action %q", st.Action))
	}
	dr.mu.Lock()
	dr.executed++
	dr.mu.Unlock()

	maxReboots := dr.MaxReboots
	if maxReboots <= 0 {
		maxReboots = 10
	}
	reboots := 0
	var msg string
	for attempt := 1; attempt <= st.MaxAttempts; attempt++ {
		if attempt > 1 {
			dr.console.line(fmt.Sprintf("Step %s: attempt %d of %d", st.Name, attempt, st.MaxAttempts))
		}
		res := dr.attempt(ctx, sc, st, m, timeout, out, srep)
		if res.reboot != nil {
			reboots++
			if reboots > maxReboots {
				return fail(fmt.Sprintf("step requested a reboot more than %d times", maxReboots))
			}
			if err := dr.reboot(ctx, ph, st, res.reboot); err != nil {
				return fail("reboot: " + err.Error())
			}
			if res.reboot.ResumeAtNextStep {
				return finish(StatusSuccess, "")
			}
			attempt-- // exit code 194: run the same step again, not a retry
			continue
		}
		if res.err == nil {
			return finish(StatusSuccess, "")
		}
		msg = res.err.Error()
		if ctx.Err() != nil {
			break
		}
	}
	return fail(msg)
}

type attemptResult struct {
	err    error
	reboot *RebootRequest
}

// attempt runs every iteration of the step once under the step's timeout.
// A failing iteration ends the loop (AWSTOE leaves the loop and applies the
// retry policy); outputs of successful iterations are joined per key with
// newlines.
func (dr *docRun) attempt(ctx context.Context, sc *scope, st *Step, m action.Module, timeout int, out *stepOutput, srep *StepReport) attemptResult {
	actx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, time.Duration(timeout)*time.Second, fmt.Errorf("timed out after %d seconds", timeout))
		defer cancel()
	}
	its := []iteration{{Index: -1}}
	if st.Loop != nil {
		var err error
		its, err = st.Loop.iterations(sc.expand)
		if err != nil {
			return attemptResult{err: fmt.Errorf("loop: %w", err)}
		}
		srep.Loop.Iterations = len(its)
	}
	rec := &stepRecord{}
	var keys []string
	joined := map[string][]string{}
	var single map[string]any
	var failure error
	for _, it := range its {
		isc := *sc
		if st.Loop != nil {
			isc.loop, isc.loopName = &it, st.Loop.Name
		}
		inputs, err := expandValue(st.Inputs, isc.expand)
		if err != nil {
			failure = err
			break
		}
		rec.inputs = asList(inputs)
		if r, ok := m.(action.Recorder); ok {
			for i, in := range rec.inputs {
				rec.inputs[i] = r.RecordedInputs(in)
			}
		}
		env := &action.Env{
			Stdout: out.writer("Stdout: "), Stderr: out.writer("Stderr: "),
			Log:         dr.log.With("step", st.Name),
			WorkDir:     dr.WorkDir,
			Environ:     dr.environ,
			S3:          dr.S3,
			StateDir:    dr.StateDir,
			RunDocument: dr.nestedRunner(srep),
			Evaluate: func(ctx context.Context, expr map[string]any) (bool, error) {
				return evaluateMap(expr, evalEnv{expand: noExpand, workDir: dr.WorkDir, environ: dr.environ})
			},
		}
		res, err := m.Run(actx, env, inputs)
		out.flush()
		if err == nil && actx.Err() != nil {
			err = actx.Err()
		}
		if err != nil {
			if cause := context.Cause(actx); cause != nil && actx.Err() != nil && ctx.Err() == nil {
				what := "step"
				if st.Loop != nil {
					what = "loop"
				}
				err = fmt.Errorf("%s %v: %w", what, cause, err)
			}
			if st.Loop != nil {
				err = fmt.Errorf("loop iteration %d: %w", it.Index, err)
			}
			failure = err
			if st.Loop == nil {
				single = res.Outputs
			}
			break
		}
		if res.Reboot {
			return attemptResult{reboot: &RebootRequest{Document: describeDoc(dr.doc, dr.display), Phase: sc.phase, Step: st.Name, ResumeAtNextStep: res.ResumeAtNextStep, Delay: res.RebootDelay}}
		}
		outputs := res.Outputs
		if st.Action == "ExecuteDocument" && len(outputs) == 0 && len(srep.DetailedOutput) > 0 {
			outputs = srep.DetailedOutput[len(srep.DetailedOutput)-1].summaryMap()
		}
		if st.Loop == nil {
			single = outputs
			continue
		}
		for k, v := range outputs {
			if _, seen := joined[k]; !seen {
				keys = append(keys, k)
			}
			joined[k] = append(joined[k], stringify(v))
		}
	}
	if st.Loop != nil && len(keys) > 0 {
		single = map[string]any{}
		for _, k := range keys {
			single[k] = strings.Join(joined[k], "\n")
		}
	}
	if single != nil {
		rec.outputs = []map[string]any{single}
	}
	dr.record(sc.phase, st.Name, rec)
	srep.Inputs = jsonList(rec.inputs, false)
	srep.Outputs = jsonList(rec.outputs, st.DisableLogging)
	return attemptResult{err: failure}
}

func noExpand(s string) (string, error) { return s, nil }

func jsonList(l []map[string]any, redact bool) string {
	if l == nil {
		l = []map[string]any{}
	}
	if redact {
		red := make([]map[string]any, len(l))
		for i, m := range l {
			red[i] = map[string]any{}
			for k := range m {
				red[i][k] = "***"
			}
		}
		l = red
	}
	b, err := json.Marshal(l)
	if err != nil {
		return "[]"
	}
	return string(b)
}

func (dr *docRun) record(phase, step string, rec *stepRecord) {
	dr.mu.Lock()
	defer dr.mu.Unlock()
	if dr.records[phase] == nil {
		dr.records[phase] = map[string]*stepRecord{}
	}
	dr.records[phase][step] = rec
}

// reboot records the request in StateDir and hands it to the Reboot hook.
func (dr *docRun) reboot(ctx context.Context, ph *Phase, st *Step, req *RebootRequest) error {
	dr.console.line(fmt.Sprintf("Step %s requested a reboot (resume at %s)", st.Name, map[bool]string{true: "the next step", false: "the same step"}[req.ResumeAtNextStep]))
	if dr.StateDir != "" {
		state := map[string]any{
			"executionId": dr.id, "document": req.Document, "phase": ph.Name, "step": st.Name,
			"resumeAtNextStep": req.ResumeAtNextStep, "time": timestamp(dr.now()),
		}
		if err := os.MkdirAll(dr.StateDir, 0o700); err != nil {
			return err
		}
		if err := writeJSON(filepath.Join(dr.StateDir, "reboot-"+dr.id+".json"), state); err != nil {
			return err
		}
	}
	if dr.Reboot == nil {
		dr.log.Warn("reboot requested; kiln does not reboot this machine and continues in-process", "step", st.Name)
		dr.console.line("kiln does not reboot this machine: continuing without a reboot")
		return nil
	}
	return dr.Reboot(ctx, *req)
}

// nestedRunner returns ExecuteDocument's Env.RunDocument for one step: it
// resolves the document (relative paths against the working directory,
// then the calling document's folder), refuses cycles and nesting deeper
// than 3 levels, validates the child and runs it with a new execution id.
// The child's report lands in the step's detailedOutput.
func (dr *docRun) nestedRunner(srep *StepReport) func(ctx context.Context, path, phases string, params map[string]string) error {
	return func(ctx context.Context, location, phases string, params map[string]string) error {
		if len(dr.stack) > maxNesting {
			return fmt.Errorf("documents may nest at most %d levels deep", maxNesting)
		}
		var data []byte
		resolved := location
		if strings.HasPrefix(location, "s3://") || strings.HasPrefix(location, "arn:") {
			if dr.ReadDocument == nil {
				return fmt.Errorf("cannot load %s: only local documents are supported here", location)
			}
			b, err := dr.ReadDocument(ctx, location)
			if err != nil {
				return err
			}
			data = b
		} else {
			resolved = dr.resolveLocal(location)
			b, err := os.ReadFile(resolved)
			if err != nil {
				return err
			}
			data = b
		}
		for _, p := range dr.stack {
			if p == resolved {
				return fmt.Errorf("document %s calls itself (cycle: %s -> %s)", location, strings.Join(dr.stack, " -> "), resolved)
			}
		}
		doc, err := Parse(location, data)
		if err != nil {
			return err
		}
		if ps := doc.validate(dr.lookup); len(ps) > 0 {
			return Problems(ps)
		}
		vars, err := doc.variables(params)
		if err != nil {
			return err
		}
		child := &docRun{run: dr.run, doc: doc, path: resolved, display: location, vars: vars, records: map[string]map[string]*stepRecord{}, stack: append(append([]string(nil), dr.stack...), resolved)}
		crep := &Report{ExecutionID: newUUID(), StartTime: timestamp(dr.now())}
		var ph []string
		if phases != "" {
			ph = strings.Split(phases, ",")
		}
		executedBefore := dr.executed
		drep := child.execute(ctx, ph)
		crep.Documents = []*DocumentReport{drep}
		crep.Status = drep.Status
		crep.EndTime = timestamp(dr.now())
		dr.mu.Lock()
		crep.executed = dr.executed - executedBefore
		dr.mu.Unlock()
		if drep.Status == StatusFailed {
			crep.FailureMessage = fmt.Sprintf("Document %s failed: %s", location, drep.FailureMessage)
		}
		srep.DetailedOutput = append(srep.DetailedOutput, crep)
		if drep.Status == StatusFailed {
			return errors.New(drep.FailureMessage)
		}
		return nil
	}
}

func (dr *docRun) resolveLocal(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	candidates := []string{resolvePath(dr.WorkDir, p)}
	if dr.path != "" && !strings.Contains(dr.path, "://") {
		candidates = append(candidates, filepath.Join(filepath.Dir(dr.path), p))
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			if a, err := filepath.Abs(c); err == nil {
				return a
			}
			return c
		}
	}
	a, _ := filepath.Abs(candidates[0])
	return a
}

func timestamp(t time.Time) string { return t.Format(time.RFC3339) }

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// contextValues computes {{ context:* }} values that do not depend on the
// step; phase and step are filled in per step.
func contextValues(id string, overrides map[string]string) map[string]string {
	now := time.Now().UTC()
	v := map[string]string{
		"executionId": id,
		"accountId":   "",
		"region":      os.Getenv("AWS_REGION"),
		"osPlatform":  "linux",
		"date":        now.Format("2006-01-02"),
		"dateTime":    now.Format(time.RFC3339),
	}
	if h, err := os.Hostname(); err == nil {
		v["hostname"] = h
	}
	if f, err := os.Open("/etc/os-release"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			k, val, ok := strings.Cut(s.Text(), "=")
			if !ok {
				continue
			}
			val = strings.Trim(val, `"'`)
			switch k {
			case "NAME":
				v["osName"] = val
			case "VERSION_ID":
				v["osVersion"] = val
			}
		}
		f.Close()
	}
	for k, x := range overrides {
		v[k] = x
	}
	return v
}
