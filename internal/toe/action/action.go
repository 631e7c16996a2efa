// Package action holds AWSTOE's action modules (ExecuteBash, CreateFile,
// S3Download, ...), one file per family, behind one small interface. The
// document engine in package toe parses, validates and expands a step, then
// hands the expanded inputs to the module named by the step's action.
package action

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Problem is one static validation finding about a step's inputs. Path
// locates it inside the inputs ("" for the inputs as a whole, "path",
// "[2].source", ...) so the engine can map it to a line and column.
type Problem struct {
	Path    string
	Message string
}

// S3Options says how S3Download and S3Upload reach S3: an S3-compatible
// endpoint (empty for AWS's own), region and path-style addressing.
type S3Options struct {
	Endpoint     string
	Region       string
	UsePathStyle bool
}

// Env is what a running step may use.
type Env struct {
	// Stdout and Stderr receive the step's live output (the engine copies
	// them to console.log and the terminal).
	Stdout, Stderr io.Writer
	Log            *slog.Logger
	// WorkDir is the working directory for relative paths and commands.
	WorkDir string
	// Environ is the environment for processes the step starts.
	Environ []string
	S3      S3Options
	// RunDocument runs a nested document for ExecuteDocument: path is the
	// document's location, phases the phases to run ("" for the default)
	// and parameters its parameter values. The engine detects cycles.
	RunDocument func(ctx context.Context, path, phases string, parameters map[string]string) error
	// StateDir is where a module may keep state that must survive a
	// reboot (ExecuteBash exit 194, Reboot).
	StateDir string
	// Evaluate evaluates a condition expression in the grammar of a
	// step's `if` (without then/else) for the Assert module. The engine
	// owns that grammar, so Assert delegates to it rather than keeping a
	// second copy that could drift.
	Evaluate func(ctx context.Context, expr map[string]any) (bool, error)
}

// Result is what a step produced.
type Result struct {
	// Outputs are the step's outputs by name (ExecuteBash: "stdout").
	Outputs map[string]any
	// Reboot asks the engine to reboot the machine and re-run this step
	// afterwards (exit code 194, or the Reboot action).
	Reboot bool
	// ResumeAtNextStep, with Reboot, says execution continues after the
	// reboot with the step after this one instead of re-running it: the
	// Reboot action's contract, as opposed to exit code 194.
	ResumeAtNextStep bool
	// RebootDelay, with Reboot, is how long to wait before rebooting
	// (the Reboot action's delaySeconds).
	RebootDelay time.Duration
}

// Recorder is a Module whose recorded inputs (the step's `inputs` in
// detailedoutput.json) carry defaults the step may leave out, as awstoe
// records them: ExecuteDocument's document-s3-bucket-owner, phases and
// parameters.
type Recorder interface {
	RecordedInputs(inputs map[string]any) map[string]any
}

// Module is one action module.
type Module interface {
	// Name is the action's name as documents spell it ("ExecuteBash").
	Name() string
	// Validate checks the step's inputs before any expansion: the decoded
	// YAML value (map[string]any, []any, string, int, bool, float64).
	// Values that still contain {{ }} references are not type-checked
	// beyond being strings.
	Validate(inputs any) []Problem
	// Run executes the step with fully expanded inputs. A returned error
	// fails the step; its message goes into the logs and the report.
	Run(ctx context.Context, env *Env, inputs any) (Result, error)
}
