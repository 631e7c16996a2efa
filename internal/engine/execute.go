package engine

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/caller"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/workflow"
)

// Executor does the work of workflow actions for one image type.
type Executor interface {
	// Open prepares a build and returns its instance: the build and test
	// environments, the artifact in the making.
	Open(ctx context.Context, b *Build) (Instance, error)
}

// Instance is one build in an Executor's hands.
type Instance interface {
	// Do runs one workflow step; ErrUnsupportedAction when the executor
	// has no implementation of the step's action.
	Do(ctx context.Context, s *Step) error
	// Close releases what the build holds. keep says the build failed and
	// its infrastructure configuration asked to keep the instance
	// (terminateInstanceOnFailure: false) so a user can open a shell in it.
	Close(keep bool) error
}

// ErrUnsupportedAction is returned by Instance.Do for actions kiln does not
// run yet.
var ErrUnsupportedAction = errors.New("kiln does not run this workflow action yet")

// Build is what an Executor knows of the build it runs.
type Build struct {
	Image      awsapi.Image
	Job        Job
	Components []Component
	// WorkDir is a private directory for this build, removed at Close
	// unless the instance is kept.
	WorkDir string
	// Log receives build-level lines (the current step's log).
	Log io.Writer

	engine *Engine
	// scanned is set once the build's image scan ran (ScanImage);
	// gateFailure, when set, is the failure the kiln:fail-on-severity
	// gate gives the build once the workflow that scanned it ends: no
	// later workflow (distribution) runs.
	scanned     bool
	gateFailure string
}

// Component is a resolved recipe component with its document.
type Component struct {
	ARN        string
	Name       string
	Type       string // BUILD or TEST
	Data       string
	Parameters []awsapi.ComponentParameter
}

// Update applies edit to the image record durably: executors publish
// outputResources and osVersion this way.
func (b *Build) Update(ctx context.Context, edit func(*awsapi.Image)) error {
	return b.engine.Store.Update(ctx, func(tx store.Tx) error { return b.updateIn(ctx, tx, edit) })
}

// updateIn is Update within tx, for methods that publish more than the
// image record in one transaction (RegisterAMIs).
func (b *Build) updateIn(ctx context.Context, tx store.Tx, edit func(*awsapi.Image)) error {
	r, err := tx.Get(ctx, b.Image.Arn)
	if err != nil {
		return err
	}
	img, err := decode[awsapi.Image](r)
	if err != nil {
		return err
	}
	edit(&img)
	edit(&b.Image)
	doc, err := json.Marshal(img)
	if err != nil {
		return err
	}
	r.Doc, r.Updated = doc, b.engine.now()
	return tx.Put(ctx, r)
}

// SetPackages records the image's package inventory for ListImagePackages.
func (b *Build) SetPackages(ctx context.Context, pkgs []awsapi.ImagePackage) error {
	if pkgs == nil {
		pkgs = []awsapi.ImagePackage{}
	}
	doc, err := json.Marshal(pkgs)
	if err != nil {
		return err
	}
	now := b.engine.now()
	return b.engine.Store.Update(ctx, func(tx store.Tx) error {
		r := store.Resource{
			ARN: imagePackagesKey(b.Image.Arn), Kind: KindImagePackages, Account: b.Job.Account,
			Region: b.engine.Region, Name: b.Image.Arn, Doc: doc, Created: now, Updated: now,
		}
		if err := tx.Put(ctx, r); errors.Is(err, store.ErrNotFound) {
			return tx.Insert(ctx, r)
		} else {
			return err
		}
	})
}

// Step is one workflow step being run.
type Step struct {
	Workflow string // BUILD, TEST or DISTRIBUTION
	workflow.Step
	// Log receives the step's output; it is the file `kiln logs` shows.
	Log io.Writer
	// Outputs become the step execution's outputs (JSON), and what later
	// steps reference as $.stepOutputs.STEP.NAME.
	Outputs map[string]any

	logPath  string    // the step's log file, reopened by a rollback
	buildLog io.Writer // the build's log
}

// Logf writes one line to the step's log.
func (s *Step) Logf(format string, args ...any) {
	fmt.Fprintf(s.Log, time.Now().UTC().Format("2006-01-02 15:04:05.000")+" "+format+"\n", args...)
}

// imageDir is where an image's logs live below LogDir: readable, and
// unique per build version.
func imageDir(image string) string {
	a, err := arn.Parse(image)
	if err != nil {
		return strings.NewReplacer(":", "_", "/", "_").Replace(image)
	}
	return filepath.Join(a.Account, a.Name, a.Version, fmt.Sprint(a.Build))
}

// execute runs a claimed job's workflows and returns the image's terminal
// status and reason.
func (e *Engine) execute(ctx context.Context, j Job) (status, reason string) {
	if j.Attempt > maxAttempts {
		return awsapi.ImageStatusFailed, fmt.Sprintf(
			"kiln stopped during this build %d times; the build is not resumed again. Use RetryImage to build it anew.", j.Attempt-1)
	}
	// What the build reaches with kiln's own credentials (S3) it reaches
	// for the image's owner.
	ctx = caller.WithAccount(ctx, j.Account)
	b, wfs, err := e.load(ctx, j)
	if err != nil {
		return awsapi.ImageStatusFailed, "kiln could not start the build: " + err.Error()
	}
	exec, ok := e.Executors[b.Image.Type]
	if !ok {
		return awsapi.ImageStatusFailed, fmt.Sprintf("kiln cannot build images of type %s yet.", b.Image.Type)
	}
	b.WorkDir = WorkDir(e.DataDir, j.Image)
	os.RemoveAll(b.WorkDir) // what an interrupted attempt left behind
	if err := os.MkdirAll(b.WorkDir, 0o700); err != nil {
		return awsapi.ImageStatusFailed, "kiln could not start the build: " + err.Error()
	}
	logDir := filepath.Join(e.logDir(), imageDir(j.Image))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return awsapi.ImageStatusFailed, "kiln could not start the build: " + err.Error()
	}
	buildLog, err := os.OpenFile(filepath.Join(logDir, "build.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return awsapi.ImageStatusFailed, "kiln could not start the build: " + err.Error()
	}
	defer buildLog.Close()
	b.Log = buildLog
	defer e.shipLogs(b, logDir)
	defer e.shipSegments(logDir, imageDir(j.Image))()
	if j.Attempt > 1 {
		fmt.Fprintf(buildLog, "kiln stopped during attempt %d of this build; starting it again from the beginning\n", j.Attempt-1)
	}

	if j.Import != nil {
		return e.runImport(ctx, b, exec)
	}
	if j.Distribution != nil {
		return e.runDistribution(ctx, b, exec, logDir, wfs)
	}
	inst, err := exec.Open(ctx, b)
	if err != nil {
		return awsapi.ImageStatusFailed, "kiln could not start the build: " + err.Error()
	}
	keep := false
	defer func() {
		if err := inst.Close(keep); err != nil {
			e.Log.Error("cleaning up a build", "image", j.Image, "err", err)
		}
	}()

	// Outputs of the workflows run so far: $.workflowOutputs of later ones.
	wfOutputs := map[string]any{}
	tests := b.Image.ImageTestsConfiguration == nil || b.Image.ImageTestsConfiguration.ImageTestsEnabled == nil ||
		*b.Image.ImageTestsConfiguration.ImageTestsEnabled
	for _, wf := range wfs {
		if b.gateFailure != "" {
			return awsapi.ImageStatusFailed, b.gateFailure
		}
		status := map[string]string{
			awsapi.WorkflowTypeBuild:        awsapi.ImageStatusBuilding,
			awsapi.WorkflowTypeTest:         awsapi.ImageStatusTesting,
			awsapi.WorkflowTypeDistribution: awsapi.ImageStatusDistributing,
		}[wf.ref.Type]
		if err := e.setStatus(ctx, j.Image, status); err != nil {
			return e.outcome(ctx, err, "")
		}
		if wf.ref.Type == awsapi.WorkflowTypeTest && !tests {
			if err := e.recordSkipped(ctx, b, wf, "Image tests are disabled (imageTestsEnabled is false)."); err != nil {
				return e.outcome(ctx, err, "")
			}
			continue
		}
		if failure := e.runWorkflow(ctx, b, logDir, inst, wf, wfOutputs); failure != "" {
			if strings.EqualFold(wf.ref.OnFailure, awsapi.OnWorkflowFailureContinue) && ctx.Err() == nil {
				// WorkflowConfiguration.onFailure CONTINUE: the workflow
				// failed, the image goes on.
				fmt.Fprintf(buildLog, "%s; the workflow's onFailure is CONTINUE, so the build goes on\n", failure)
				continue
			}
			infra := b.Image.InfrastructureConfiguration
			keep = infra != nil && infra.TerminateInstanceOnFailure != nil && !*infra.TerminateInstanceOnFailure
			return e.outcome(ctx, errors.New(failure), failure)
		}
	}
	if reason := b.gateVerdict(ctx); reason != "" {
		return awsapi.ImageStatusFailed, reason
	}
	if err := e.setStatus(ctx, j.Image, awsapi.ImageStatusIntegrating); err != nil {
		return e.outcome(ctx, err, "")
	}
	return awsapi.ImageStatusAvailable, ""
}

// runImport runs an ImportDiskImage job: no workflows, one log.
func (e *Engine) runImport(ctx context.Context, b *Build, exec Executor) (string, string) {
	imp, ok := exec.(Importer)
	if !ok {
		return awsapi.ImageStatusFailed, fmt.Sprintf("kiln cannot import images of type %s.", b.Image.Type)
	}
	defer RemoveInBackground(b.WorkDir)
	if err := e.setStatus(ctx, b.Image.Arn, awsapi.ImageStatusBuilding); err != nil {
		return e.outcome(ctx, err, "")
	}
	fmt.Fprintf(b.Log, "importing %s\n", b.Job.Import.URI)
	if err := imp.Import(ctx, b, b.Log); err != nil {
		fmt.Fprintf(b.Log, "import failed: %v\n", err)
		return e.outcome(ctx, err, "The import failed: "+err.Error())
	}
	fmt.Fprintf(b.Log, "import completed\n")
	return awsapi.ImageStatusAvailable, ""
}

// outcome turns a build's failure into its terminal status: CANCELLED
// when the user cancelled, FAILED with the reason otherwise.
func (e *Engine) outcome(ctx context.Context, err error, reason string) (string, string) {
	if errors.Is(context.Cause(ctx), errCancelled) {
		return awsapi.ImageStatusCancelled, "The image build was cancelled by CancelImageCreation."
	}
	if reason == "" {
		reason = err.Error()
	}
	return awsapi.ImageStatusFailed, reason
}

func (e *Engine) setStatus(ctx context.Context, image, status string) error {
	return e.Store.Update(ctx, func(tx store.Tx) error {
		return setImageState(ctx, tx, image, status, "", e.now(), nil)
	})
}

// loadedWorkflow is a workflow of a build with its parsed document.
type loadedWorkflow struct {
	ref WorkflowRef
	doc *workflow.Document
	seq int // orders executions across attempts: attempt*100 + index
}

// load reads the image, its components and its workflows, and closes
// what an interrupted earlier attempt left open in the records.
func (e *Engine) load(ctx context.Context, j Job) (*Build, []loadedWorkflow, error) {
	b := &Build{Job: j, engine: e}
	var wfs []loadedWorkflow
	err := e.Store.Update(ctx, func(tx store.Tx) error {
		r, err := tx.Get(ctx, j.Image)
		if err != nil {
			return err
		}
		if b.Image, err = decode[awsapi.Image](r); err != nil {
			return err
		}
		for _, c := range j.Components {
			r, err := tx.Get(ctx, c.ARN)
			if err != nil {
				return fmt.Errorf("component %s: %w", c.ARN, err)
			}
			doc, err := decode[awsapi.Component](r)
			if err != nil {
				return err
			}
			b.Components = append(b.Components, Component{
				ARN: c.ARN, Name: doc.Name, Type: doc.Type, Data: doc.Data, Parameters: c.Parameters,
			})
		}
		for _, w := range j.Workflows {
			r, err := tx.Get(ctx, w.ARN)
			if err != nil {
				return fmt.Errorf("workflow %s: %w", w.ARN, err)
			}
			doc, err := decode[awsapi.Workflow](r)
			if err != nil {
				return err
			}
			parsed, err := workflow.Parse([]byte(doc.Data))
			if err != nil {
				return fmt.Errorf("workflow %s: %w", w.ARN, err)
			}
			wfs = append(wfs, loadedWorkflow{ref: w, doc: parsed, seq: j.Attempt*100 + len(wfs)})
		}
		return e.closeInterrupted(ctx, tx, j.Image)
	})
	return b, wfs, err
}

// closeInterrupted marks the executions an earlier attempt of this build
// left RUNNING as FAILED: kiln stopped under them.
func (e *Engine) closeInterrupted(ctx context.Context, tx store.Tx, image string) error {
	execs, err := WorkflowExecutions(ctx, tx, e.Region, image)
	if err != nil {
		return err
	}
	now := recordTime(e.now())
	for _, x := range execs {
		steps, err := StepExecutions(ctx, tx, e.Region, x.WorkflowExecutionId)
		if err != nil {
			return err
		}
		for _, s := range steps {
			if !isWorkflowTerminal(s.Status) {
				if s.Waiting {
					if err := tx.Delete(ctx, waitingStepKey(s.StepExecutionId)); err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
				}
				s.Waiting = false
				s.Status, s.Message, s.EndTime = awsapi.WorkflowStepExecutionStatusFailed, "kiln stopped while this step ran.", now
				if err := e.putStep(ctx, tx, x.ImageBuildVersionArn, s); err != nil {
					return err
				}
			}
		}
		if !isWorkflowTerminal(x.Status) {
			x.Status, x.Message, x.EndTime = awsapi.WorkflowExecutionStatusFailed, "kiln stopped while this workflow ran.", now
			if err := e.putExecution(ctx, tx, x, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func newID(prefix string) string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", prefix, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// putExecution writes a workflow execution row (insert when new).
func (e *Engine) putExecution(ctx context.Context, tx store.Tx, x WorkflowExecution, insert bool) error {
	x.RequestId = ""
	doc, err := json.Marshal(x)
	if err != nil {
		return err
	}
	owner, _ := arn.Parse(x.ImageBuildVersionArn)
	now := e.now()
	r := store.Resource{
		ARN: workflowExecutionKey(x.WorkflowExecutionId), Kind: KindWorkflowExecution, Account: owner.Account,
		Region: e.Region, Name: x.ImageBuildVersionArn, Build: x.Seq, Doc: doc, Created: now, Updated: now,
	}
	if insert {
		return tx.Insert(ctx, r)
	}
	return tx.Put(ctx, r)
}

// putStep writes a step execution row.
func (e *Engine) putStep(ctx context.Context, tx store.Tx, image string, s StepExecution) error {
	s.RequestId = ""
	doc, err := json.Marshal(s)
	if err != nil {
		return err
	}
	owner, _ := arn.Parse(image)
	now := e.now()
	r := store.Resource{
		ARN: stepExecutionKey(s.StepExecutionId), Kind: KindStepExecution, Account: owner.Account,
		Region: e.Region, Name: s.WorkflowExecutionId, Build: s.Seq, Doc: doc, Created: now, Updated: now,
	}
	if err := tx.Put(ctx, r); errors.Is(err, store.ErrNotFound) {
		return tx.Insert(ctx, r)
	} else {
		return err
	}
}

// recordSkipped records a workflow that did not run.
func (e *Engine) recordSkipped(ctx context.Context, b *Build, wf loadedWorkflow, why string) error {
	now := recordTime(e.now())
	x := WorkflowExecution{GetWorkflowExecutionResponse: awsapi.GetWorkflowExecutionResponse{
		WorkflowBuildVersionArn: wf.ref.ARN, WorkflowExecutionId: newID("wf"), ImageBuildVersionArn: b.Image.Arn,
		Type: wf.ref.Type, Status: awsapi.WorkflowExecutionStatusSkipped, Message: why,
		TotalStepCount: ptr(int32(len(wf.doc.Steps))), TotalStepsSucceeded: ptr(int32(0)),
		TotalStepsFailed: ptr(int32(0)), TotalStepsSkipped: ptr(int32(len(wf.doc.Steps))),
		StartTime: now, EndTime: now,
	}, Seq: wf.seq}
	return e.Store.Update(ctx, func(tx store.Tx) error { return e.putExecution(ctx, tx, x, true) })
}

func ptr[T any](v T) *T { return &v }

func (e *Engine) logDir() string { return filepath.Join(e.DataDir, "logs") }

// LogPath returns the file of a step execution's log, given the engine's
// log directory.
func LogPath(logDir string, s StepExecution) string {
	if s.Log == "" {
		return ""
	}
	return filepath.Join(logDir, filepath.Clean("/"+s.Log))
}
