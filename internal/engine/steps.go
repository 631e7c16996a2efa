package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/workflow"
)

// Rollbacker is an Instance that can undo a step whose action rolls back
// (LaunchInstance, CollectImageMetadata) when a later step of the same
// workflow aborts it. Instances without it have nothing to undo.
type Rollbacker interface {
	Rollback(ctx context.Context, s *Step) error
}

// KeepOnFailure reports whether the build's infrastructure configuration
// asks to keep a failed build's instance (terminateInstanceOnFailure:
// false), which a rollback of LaunchInstance honours as Image Builder's
// does.
func (b *Build) KeepOnFailure() bool {
	infra := b.Image.InfrastructureConfiguration
	return infra != nil && infra.TerminateInstanceOnFailure != nil && !*infra.TerminateInstanceOnFailure
}

// Input returns a step input by name, after references were resolved
// (a "name.$" input is found as name).
func (s *Step) Input(name string) (any, bool) {
	v, ok := s.Inputs[name]
	return v, ok
}

// InputString returns a string input, "" when absent or not a string.
func (s *Step) InputString(name string) string {
	v, _ := s.Inputs[name].(string)
	return v
}

// stepOutcome is how one step ended.
type stepOutcome struct {
	msg     string // "" when the step completed or was skipped
	skipped bool
	// stop makes the failure abort the workflow whatever onFailure says:
	// a WaitForAction step a user STOPped.
	stop bool
	// shutdown: kiln is stopping; the step is left as it is for the next
	// start.
	shutdown bool
	step     *Step
	rec      StepExecution
	rollback bool // rollbackEnabled resolved
}

// systemVariables are the build's $.imagebuilder values.
func (e *Engine) systemVariables(b *Build, workflowType string) map[string]any {
	img := b.Image
	a, _ := arn.Parse(img.Arn)
	vars := map[string]any{
		"cloudWatchLogGroup":         "/aws/imagebuilder/" + img.Name,
		"cloudWatchLogStream":        fmt.Sprintf("%s/%d", img.Version, a.Build),
		"collectImageMetadata":       img.EnhancedImageMetadataEnabled == nil || *img.EnhancedImageMetadataEnabled,
		"collectImageScanFindings":   img.ImageScanningConfiguration != nil && img.ImageScanningConfiguration.ImageScanningEnabled != nil && *img.ImageScanningConfiguration.ImageScanningEnabled,
		"imageBuildNumber":           int64(a.Build),
		"imageId":                    b.Job.ParentImage,
		"imageName":                  img.Name,
		"imageType":                  img.Type,
		"imageVersionNumber":         img.Version,
		"instanceProfileName":        "",
		"platform":                   "Linux",
		"s3Logs":                     map[string]any{},
		"securityGroups":             []any{},
		"sourceImageARN":             "",
		"subnetId":                   "",
		"terminateInstanceOnFailure": !b.KeepOnFailure(),
		"workflowPhase":              map[string]string{awsapi.WorkflowTypeBuild: "Build", awsapi.WorkflowTypeTest: "Test", awsapi.WorkflowTypeDistribution: "Distribution"}[workflowType],
		"workingDirectory":           "/tmp",
		"dateTime":                   recordTime(e.now()),
	}
	if img.Platform != "" {
		vars["platform"] = img.Platform
	}
	if r := img.ImageRecipe; r != nil {
		// The recipe's parent as the user named it (an AMI id or an image
		// ARN), not the root filesystem kiln pulls it as.
		vars["imageId"] = r.ParentImage
		vars["sourceImageARN"] = r.ParentImage
		if r.WorkingDirectory != "" {
			vars["workingDirectory"] = r.WorkingDirectory
		}
	}
	if r := img.ContainerRecipe; r != nil {
		vars["sourceImageARN"] = r.ParentImage
		if r.WorkingDirectory != "" {
			vars["workingDirectory"] = r.WorkingDirectory
		}
	}
	if infra := img.InfrastructureConfiguration; infra != nil {
		vars["instanceProfileName"] = infra.InstanceProfileName
		vars["subnetId"] = infra.SubnetId
		groups := []any{}
		for _, g := range infra.SecurityGroupIds {
			groups = append(groups, g)
		}
		vars["securityGroups"] = groups
		if infra.Logging != nil && infra.Logging.S3Logs != nil {
			vars["s3Logs"] = map[string]any{
				"s3BucketName": infra.Logging.S3Logs.S3BucketName, "s3KeyPrefix": infra.Logging.S3Logs.S3KeyPrefix,
			}
		}
	}
	return vars
}

// givenParameters turns WorkflowConfiguration.parameters into a map.
func givenParameters(ps []awsapi.WorkflowParameter) map[string][]string {
	out := map[string][]string{}
	for _, p := range ps {
		out[p.Name] = p.Value
	}
	return out
}

// jsonShaped turns what an executor put in a step's outputs (Go structs
// among them) into the JSON shapes references walk through.
func jsonShaped(v map[string]any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out map[string]any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// runWorkflow runs one workflow's steps in order, recording each, and
// returns "" on success or the image's failure reason. Its parameters
// are the workflow configuration's, typed by the document, with the
// document's defaults; each step's `if` is evaluated and its inputs
// resolved against them, the system variables, the outputs of the steps
// before it and of the build's earlier workflows. When a step aborts the
// workflow, the steps that ran and whose actions roll back are rolled
// back in reverse order, starting with the failed step. The document's
// outputs are added to wfOutputs when the workflow completes.
func (e *Engine) runWorkflow(ctx context.Context, b *Build, logDir string, inst Instance, wf loadedWorkflow, wfOutputs map[string]any) string {
	x := WorkflowExecution{GetWorkflowExecutionResponse: awsapi.GetWorkflowExecutionResponse{
		WorkflowBuildVersionArn: wf.ref.ARN, WorkflowExecutionId: newID("wf"), ImageBuildVersionArn: b.Image.Arn,
		Type: wf.ref.Type, Status: awsapi.WorkflowExecutionStatusRunning,
		TotalStepCount: ptr(int32(len(wf.doc.Steps))), TotalStepsSucceeded: ptr(int32(0)),
		TotalStepsFailed: ptr(int32(0)), TotalStepsSkipped: ptr(int32(0)),
		StartTime: recordTime(e.now()),
	}, Seq: wf.seq}
	if err := e.Store.Update(ctx, func(tx store.Tx) error { return e.putExecution(ctx, tx, x, true) }); err != nil {
		return "kiln could not record the workflow: " + err.Error()
	}
	vals := &workflow.Values{
		StepOutputs: map[string]map[string]any{}, WorkflowOutputs: wfOutputs,
		System: e.systemVariables(b, wf.ref.Type),
	}
	failure := ""
	params, err := wf.doc.ParameterValues(givenParameters(wf.ref.Parameters))
	if err != nil {
		failure = fmt.Sprintf("Workflow %s cannot run: %v", wf.doc.Name, err)
	}
	vals.Parameters = params
	var ran []stepOutcome // steps that ran, for rollback
	shutdown := false
	for i, st := range wf.doc.Steps {
		if failure != "" || ctx.Err() != nil {
			*x.TotalStepsSkipped++
			continue
		}
		out := e.runStep(ctx, b, inst, wf, x.WorkflowExecutionId, i, st, vals)
		if out.shutdown {
			shutdown = true
			continue
		}
		if out.step != nil {
			ran = append(ran, out)
		}
		switch {
		case out.skipped:
			*x.TotalStepsSkipped++
		case out.msg == "":
			*x.TotalStepsSucceeded++
			vals.StepOutputs[st.Name] = jsonShaped(out.step.Outputs)
		case st.OnFailure == "Continue" && !out.stop:
			*x.TotalStepsFailed++
		default:
			*x.TotalStepsFailed++
			failure = fmt.Sprintf("Workflow %s failed at step %s: %s", wf.doc.Name, st.Name, out.msg)
		}
	}
	// A cancelled build, or one kiln stops under, is not rolled back: its
	// instance goes with it (or the next start builds it again).
	if failure != "" && len(ran) > 0 && ctx.Err() == nil {
		if undone := e.rollback(ctx, b, inst, x, ran); len(undone) > 0 {
			failure += fmt.Sprintf(" (rolled back: %s)", strings.Join(undone, ", "))
		}
	}
	x.EndTime = recordTime(e.now())
	switch {
	case errors.Is(context.Cause(ctx), errCancelled):
		x.Status, x.Message = awsapi.WorkflowExecutionStatusCancelled, "The image build was cancelled."
	case failure != "":
		x.Status, x.Message = awsapi.WorkflowExecutionStatusFailed, truncate(failure, 500)
	case ctx.Err() != nil || shutdown:
		x.Status, x.Message = awsapi.WorkflowExecutionStatusFailed, "kiln stopped while this workflow ran."
		failure = x.Message
	default:
		x.Status = awsapi.WorkflowExecutionStatusCompleted
		for _, o := range wf.doc.Outputs {
			v, err := e.workflowOutput(vals, o.Value)
			if err != nil {
				fmt.Fprintf(b.Log, "workflow %s: output %s: %v\n", wf.doc.Name, o.Name, err)
				continue
			}
			wfOutputs[o.Name] = v
			fmt.Fprintf(b.Log, "workflow %s: output %s = %s\n", wf.doc.Name, o.Name, workflow.Text(v))
		}
	}
	// Record the end even when ctx is done: the build's outcome must be
	// visible.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := e.Store.Update(rctx, func(tx store.Tx) error { return e.putExecution(rctx, tx, x, false) }); err != nil && failure == "" {
		return "kiln could not record the workflow: " + err.Error()
	}
	return failure
}

// workflowOutput resolves an output's value: a reference, or a literal.
func (e *Engine) workflowOutput(vals *workflow.Values, value string) (any, error) {
	if strings.HasPrefix(value, "$.") {
		return vals.Lookup(value)
	}
	in, err := vals.ResolveInputs(map[string]any{"value": value})
	if err != nil {
		return nil, err
	}
	return in["value"], nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// rollback undoes, newest first, the steps that ran and whose actions
// roll back, recording each one's rollbackStatus: SKIPPED when the step's
// rollbackEnabled is false, COMPLETED or FAILED otherwise. It returns the
// names of the steps it rolled back.
func (e *Engine) rollback(ctx context.Context, b *Build, inst Instance, x WorkflowExecution, ran []stepOutcome) []string {
	rctx := context.WithoutCancel(ctx)
	x.Status = awsapi.WorkflowExecutionStatusRollbackInProgress
	e.Store.Update(rctx, func(tx store.Tx) error { return e.putExecution(rctx, tx, x, false) })
	var undone []string
	for _, out := range slices.Backward(ran) {
		a, _ := workflow.LookupAction(out.rec.Action)
		if !a.Rollback || out.skipped {
			continue
		}
		rec := out.rec
		step := out.step
		switch {
		case !out.rollback:
			rec.RollbackStatus = awsapi.WorkflowStepExecutionRollbackStatusSkipped
			fmt.Fprintf(b.Log, "step %s: rollback skipped (rollbackEnabled is false)\n", rec.Name)
		default:
			var err error
			if rb, ok := inst.(Rollbacker); ok {
				err = e.inStepLog(step, func() error { return rb.Rollback(rctx, step) })
			} else {
				fmt.Fprintf(b.Log, "step %s: rolled back (nothing to undo)\n", rec.Name)
			}
			if err != nil {
				rec.RollbackStatus = awsapi.WorkflowStepExecutionRollbackStatusFailed
				fmt.Fprintf(b.Log, "step %s: rollback failed: %v\n", rec.Name, err)
			} else {
				rec.RollbackStatus = awsapi.WorkflowStepExecutionRollbackStatusCompleted
				undone = append(undone, rec.Name)
			}
		}
		e.Store.Update(rctx, func(tx store.Tx) error { return e.putStep(rctx, tx, b.Image.Arn, rec) })
	}
	return undone
}

// inStepLog runs fn with the step's log reopened for appending: a
// rollback writes to the log of the step it undoes.
func (e *Engine) inStepLog(step *Step, fn func() error) error {
	if step.logPath == "" {
		return fn()
	}
	f, err := os.OpenFile(step.logPath, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fn()
	}
	defer f.Close()
	step.Log = io.MultiWriter(f, step.buildLog)
	step.Logf("rolling back step %s (%s)", step.Name, step.Action)
	return fn()
}

// runStep runs one step and records it.
func (e *Engine) runStep(ctx context.Context, b *Build, inst Instance, wf loadedWorkflow, wfID string, i int, st workflow.Step, vals *workflow.Values) stepOutcome {
	s := StepExecution{GetWorkflowStepExecutionResponse: awsapi.GetWorkflowStepExecutionResponse{
		StepExecutionId: newID("step"), WorkflowBuildVersionArn: wf.ref.ARN, WorkflowExecutionId: wfID,
		ImageBuildVersionArn: b.Image.Arn, Name: st.Name, Description: st.Description, Action: st.Action,
		Status:    awsapi.WorkflowStepExecutionStatusRunning,
		StartTime: recordTime(e.now()), OnFailure: st.OnFailure,
	}, Seq: i}
	if st.Timeout > 0 {
		s.TimeoutSeconds = ptr(int32(st.Timeout / time.Second))
	}
	record := func(ctx context.Context) error {
		return e.Store.Update(ctx, func(tx store.Tx) error { return e.putStep(ctx, tx, b.Image.Arn, s) })
	}
	out := stepOutcome{rollback: true}
	finish := func(status, msg string) stepOutcome {
		s.Status, s.Message, s.EndTime = status, msg, recordTime(e.now())
		if status == awsapi.WorkflowStepExecutionStatusFailed {
			out.msg = msg
			if s.Log == "" {
				fmt.Fprintf(b.Log, "step %s (%s) of workflow %s failed before it started: %s\n", st.Name, st.Action, wf.doc.Name, msg)
			}
		}
		out.rec = s
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := record(rctx); err != nil && out.msg == "" {
			out.msg = "kiln could not record the step: " + err.Error()
		}
		return out
	}

	// The condition, the inputs and rollbackEnabled are read before the
	// step starts; a reference that cannot be resolved fails the step.
	if st.If != nil {
		ok, err := st.If.Eval(vals)
		if err != nil {
			s.Inputs = rawInputs(st.Inputs)
			return finish(awsapi.WorkflowStepExecutionStatusFailed, "the step's if condition cannot be evaluated: "+err.Error())
		}
		if !ok {
			s.Inputs = rawInputs(st.Inputs)
			fmt.Fprintf(b.Log, "step %s (%s) of workflow %s skipped: its if condition is false\n", st.Name, st.Action, wf.doc.Name)
			out.skipped = true
			return finish(awsapi.WorkflowStepExecutionStatusSkipped, "The step's if condition is false.")
		}
	}
	inputs, err := vals.ResolveInputs(st.Inputs)
	if err != nil {
		s.Inputs = rawInputs(st.Inputs)
		return finish(awsapi.WorkflowStepExecutionStatusFailed, err.Error())
	}
	s.Inputs = rawInputs(inputs)
	switch r := st.RollbackEnabled; {
	case r == "false":
		out.rollback = false
	case strings.HasPrefix(r, "$."):
		v, err := vals.Lookup(r)
		if err == nil {
			on, ok := v.(bool)
			if !ok {
				on, ok = v == "true", v == "true" || v == "false"
			}
			if !ok {
				err = fmt.Errorf("%s is not true or false", workflow.Text(v))
			}
			out.rollback = on
		}
		if err != nil {
			return finish(awsapi.WorkflowStepExecutionStatusFailed, "rollbackEnabled: "+err.Error())
		}
	}

	s.Log = filepath.Join(imageDir(b.Image.Arn), fmt.Sprintf("%s-%02d-%s.log", logPrefix(b, wf), i+1, st.Name))
	if err := record(ctx); err != nil {
		out.msg = "kiln could not record the step: " + err.Error()
		return out
	}
	logPath := filepath.Join(e.logDir(), s.Log)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return finish(awsapi.WorkflowStepExecutionStatusFailed, "kiln could not open the step's log: "+err.Error())
	}
	resolved := st
	resolved.Inputs = inputs
	step := &Step{Workflow: wf.ref.Type, Step: resolved, Log: io.MultiWriter(f, b.Log), Outputs: map[string]any{},
		logPath: logPath, buildLog: b.Log}
	out.step = step
	step.Logf("step %s (%s) of workflow %s", st.Name, st.Action, wf.doc.Name)

	stepCtx := ctx
	if st.Timeout > 0 {
		var cancel context.CancelFunc
		stepCtx, cancel = context.WithTimeoutCause(ctx, st.Timeout, fmt.Errorf("the step timed out after %s", st.Timeout))
		defer cancel()
	}
	var runErr error
	switch st.Action {
	case "RunSysPrep":
		runErr = errors.New(workflow.RunSysPrepRefusal)
	case "WaitForAction":
		var w waitResult
		w, runErr = e.waitForAction(stepCtx, b, &s, step)
		out.stop = w.stop
		if w.shutdown {
			f.Close()
			out.shutdown = true
			return out
		}
	default:
		runErr = inst.Do(stepCtx, step)
	}
	if runErr != nil && stepCtx.Err() != nil && !errors.Is(runErr, errWaitTimedOut) {
		runErr = fmt.Errorf("%w (%v)", runErr, context.Cause(stepCtx))
	}
	status, msg := awsapi.WorkflowStepExecutionStatusCompleted, ""
	switch {
	case errors.Is(context.Cause(ctx), errCancelled):
		status, msg = awsapi.WorkflowStepExecutionStatusCancelled, "The image build was cancelled."
	case runErr != nil:
		status, msg = awsapi.WorkflowStepExecutionStatusFailed, runErr.Error()
	}
	if runErr != nil {
		step.Logf("step %s failed: %v", st.Name, runErr)
	} else {
		step.Logf("step %s completed", st.Name)
	}
	f.Close()
	if len(step.Outputs) > 0 {
		o, _ := json.Marshal(step.Outputs)
		s.Outputs = string(o)
	}
	out = finish(status, msg)
	if status == awsapi.WorkflowStepExecutionStatusCancelled {
		out.msg = "cancelled"
	}
	return out
}

// rawInputs renders inputs as the step execution's inputs member: a JSON
// string.
func rawInputs(in map[string]any) string {
	if in == nil {
		return ""
	}
	b, _ := json.Marshal(in)
	return string(b)
}
