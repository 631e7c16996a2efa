// Package build is kiln's build engine: durable build jobs, the workers
// that claim them, the image state machine, the workflows a build runs as
// (with their step executions and logs), cancellation, and recovery after
// a crash. What a step really does to a container or a machine image is an
// Executor's business (build/container, build/machine); the engine only
// walks workflows and keeps the records true.
//
// Everything the engine remembers lives in the store next to the API's
// resources, as rows of kiln's own kinds (prefix "kiln/"), so a job is
// enqueued in the same transaction that creates its image and survives
// kill -9 like any acknowledged write.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/store"
)

// Kinds of the engine's rows in the store. The "kiln/" prefix keeps them
// apart from every Image Builder ARN resource type.
const (
	KindJob               = "kiln/build-job"
	KindWorkflowExecution = "kiln/workflow-execution"
	KindStepExecution     = "kiln/workflow-step-execution"
	KindImagePackages     = "kiln/image-packages"
	// KindWaitingStep rows index the WaitForAction steps waiting now, per
	// account, for ListWaitingWorkflowSteps.
	KindWaitingStep = "kiln/waiting-workflow-step"
)

// Store keys of the engine's rows: stable strings derived from what the
// API looks them up by.
func jobKey(image string) string            { return "kiln:build-job:" + image }
func workflowExecutionKey(id string) string { return "kiln:workflow-execution:" + id }
func stepExecutionKey(id string) string     { return "kiln:workflow-step-execution:" + id }
func imagePackagesKey(image string) string  { return "kiln:image-packages:" + image }
func waitingStepKey(id string) string       { return "kiln:waiting-workflow-step:" + id }
func isTerminal(status string) bool         { return terminalStatus[status] }
func isWorkflowTerminal(status string) bool {
	return status != "" && status != "PENDING" && status != "RUNNING"
}
func recordTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
func decode[T any](r store.Resource) (T, error) {
	var v T
	if err := json.Unmarshal(r.Doc, &v); err != nil {
		return v, fmt.Errorf("stored %s %s: %w", r.Kind, r.ARN, err)
	}
	return v, nil
}

var terminalStatus = map[string]bool{
	awsapi.ImageStatusAvailable: true, awsapi.ImageStatusFailed: true, awsapi.ImageStatusCancelled: true,
	awsapi.ImageStatusDeprecated: true, awsapi.ImageStatusDeleted: true, awsapi.ImageStatusDisabled: true,
}

// IsTerminal reports whether an image status is final: the build behind
// it is over.
func IsTerminal(status string) bool { return isTerminal(status) }

// Job is a queued or running build of one image. It exists from CreateImage
// until the build reaches a terminal state.
type Job struct {
	Image   string `json:"image"` // image build version ARN
	Account string `json:"account"`
	// Attempt counts the claims of this job; a claim of a job whose last
	// attempt never finished is a restart after a crash.
	Attempt int `json:"attempt"`
	// Worker holds the job until LeaseUntil; a worker renews its lease
	// while the build runs, so a lease that lapsed belongs to a worker
	// that died.
	Worker     string    `json:"worker,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil,omitzero"`
	// CancelRequested is set by CancelImageCreation; the worker holding
	// the job notices it at its next lease renewal and stops the build.
	CancelRequested bool      `json:"cancelRequested,omitempty"`
	Enqueued        time.Time `json:"enqueued"`
	Spec
}

// Spec is what a build runs, resolved when the build was asked for (the
// service resolves `x` wildcards and visibility), so the build uses the
// versions that were current at CreateImage time however long it waits.
type Spec struct {
	// Components are the recipe's components, each a component build ARN.
	Components []ComponentRef `json:"components"`
	// Workflows are the build, test and distribution workflows in the
	// order they run, each a workflow build ARN.
	Workflows []WorkflowRef `json:"workflows"`
	// ParentImage is the parent as the build pulls it: a container image
	// reference; for machine images the parent AMI's root filesystem in
	// kiln's registry, "REPOSITORY@DIGEST" (the executor adds the host).
	ParentImage string `json:"parentImage"`
	// Platforms, for a container image, are the platforms to build
	// ("linux/arm64"), resolved at CreateImage time from the recipe's
	// kiln:platforms tag, the instance types' architecture or a
	// single-platform parent; empty: the parent's own, else the host's.
	Platforms []string `json:"platforms,omitempty"`
	// Import, for ImportDiskImage, is what to import instead of a build.
	Import *ImportSpec `json:"import,omitempty"`
	// Distribution, for DistributeImage, makes the job distribute an
	// image built before instead of building one: only Workflows (its
	// distribution workflows) run.
	Distribution *DistributionSpec `json:"distribution,omitempty"`
}

// ImportSpec is a disk image or root-filesystem tarball to import.
type ImportSpec struct {
	URI string `json:"uri"`
}

// Importer is an Executor that can also import images.
type Importer interface {
	Import(ctx context.Context, b *Build, log io.Writer) error
}

// ComponentRef is one recipe component.
type ComponentRef struct {
	ARN        string                      `json:"arn"`
	Parameters []awsapi.ComponentParameter `json:"parameters,omitempty"`
}

// WorkflowRef is one workflow of a build.
type WorkflowRef struct {
	ARN        string                     `json:"arn"`
	Type       string                     `json:"type"` // BUILD, TEST or DISTRIBUTION
	Parameters []awsapi.WorkflowParameter `json:"parameters,omitempty"`
	OnFailure  string                     `json:"onFailure,omitempty"`
}

// Enqueue queues a build of the image row img inside the caller's
// transaction, so the image and its job are committed together.
func Enqueue(ctx context.Context, tx store.Tx, img store.Resource, spec Spec, now time.Time) error {
	j := Job{Image: img.ARN, Account: img.Account, Enqueued: now.UTC(), Spec: spec}
	return tx.Insert(ctx, jobRow(img.Region, j, now))
}

func jobRow(region string, j Job, now time.Time) store.Resource {
	doc, _ := json.Marshal(j)
	return store.Resource{
		ARN: jobKey(j.Image), Kind: KindJob, Account: j.Account, Region: region,
		Name: j.Image, Doc: doc, Created: now, Updated: now,
	}
}

// GetJob returns the job of an image, or store.ErrNotFound when the image
// has none (it is not queued or running).
func GetJob(ctx context.Context, tx store.Tx, image string) (Job, error) {
	r, err := tx.Get(ctx, jobKey(image))
	if err != nil {
		return Job{}, err
	}
	return decode[Job](r)
}

// RequestCancel marks the running or queued build of image to be
// cancelled. A job no worker holds is cancelled on the spot: its image
// becomes CANCELLED and the job is removed. It reports whether the build
// was still going.
func RequestCancel(ctx context.Context, tx store.Tx, image string, now time.Time) (bool, error) {
	r, err := tx.Get(ctx, jobKey(image))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	j, err := decode[Job](r)
	if err != nil {
		return false, err
	}
	if j.Worker == "" || now.After(j.LeaseUntil) {
		if err := tx.Delete(ctx, r.ARN); err != nil {
			return false, err
		}
		status, reason := j.finalState(awsapi.ImageStatusCancelled, "The image build was cancelled before it started.")
		return true, setImageState(ctx, tx, image, status, reason, now, nil)
	}
	j.CancelRequested = true
	// Replace: a claim or renewal committed since the Get is not undone.
	return true, tx.Replace(ctx, jobRow(r.Region, j, now), r.Doc)
}

// setImageState moves an image row to status with reason, applying edit
// (may be nil) to the document first.
func setImageState(ctx context.Context, tx store.Tx, image, status, reason string, now time.Time, edit func(*awsapi.Image)) error {
	r, err := tx.Get(ctx, image)
	if err != nil {
		return err
	}
	img, err := decode[awsapi.Image](r)
	if err != nil {
		return err
	}
	if edit != nil {
		edit(&img)
	}
	img.State = &awsapi.ImageState{Status: status, Reason: reason}
	doc, err := json.Marshal(img)
	if err != nil {
		return err
	}
	r.Doc, r.Updated = doc, now
	return tx.Put(ctx, r)
}

// ImagePackages returns the package inventory recorded for an image
// (empty when none was collected).
func ImagePackages(ctx context.Context, tx store.Tx, image string) ([]awsapi.ImagePackage, error) {
	r, err := tx.Get(ctx, imagePackagesKey(image))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return decode[[]awsapi.ImagePackage](r)
}

// DeleteImageRecords removes what the engine recorded about an image
// (workflow and step executions, packages); the logs on disk stay until
// the data directory is cleaned, as CloudWatch logs outlive images.
func DeleteImageRecords(ctx context.Context, tx store.Tx, region, image string) error {
	execs, err := WorkflowExecutions(ctx, tx, region, image)
	if err != nil {
		return err
	}
	for _, e := range execs {
		steps, err := StepExecutions(ctx, tx, region, e.WorkflowExecutionId)
		if err != nil {
			return err
		}
		for _, s := range steps {
			if err := tx.Delete(ctx, stepExecutionKey(s.StepExecutionId)); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if err := tx.Delete(ctx, workflowExecutionKey(e.WorkflowExecutionId)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if err := tx.Delete(ctx, imagePackagesKey(image)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return scan.Delete(ctx, tx, region, image)
}

// WorkflowExecution is a stored workflow execution: the API's Get shape
// plus its place among the image's executions.
type WorkflowExecution struct {
	awsapi.GetWorkflowExecutionResponse
	Seq int `json:"kilnSeq"`
}

// StepExecution is a stored step execution: the API's Get shape plus
// where its log is.
type StepExecution struct {
	awsapi.GetWorkflowStepExecutionResponse
	// Log is the step's log file relative to the engine's log directory.
	Log string `json:"kilnLog,omitempty"`
	Seq int    `json:"kilnSeq"`
	// Waiting is set while a WaitForAction step waits for
	// SendWorkflowStepAction (its status is RUNNING: the model has no
	// WAITING status).
	Waiting bool `json:"kilnWaiting,omitempty"`
	// Sent is the action SendWorkflowStepAction gave the step. It outlives
	// the attempt: a build that kiln restarts runs its workflows again,
	// and its WaitForAction step takes the action sent to the same step
	// of an earlier attempt instead of waiting anew.
	Sent *StepAction `json:"kilnSent,omitempty"`
}

// StepAction is a RESUME or STOP sent to a waiting step.
type StepAction struct {
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	// By is the account that sent it.
	By string `json:"by,omitempty"`
	At string `json:"at"`
}

// WorkflowExecutions lists an image's workflow executions in the order
// they ran.
func WorkflowExecutions(ctx context.Context, tx store.Tx, region, image string) ([]WorkflowExecution, error) {
	rows, err := tx.List(ctx, store.Query{Kind: KindWorkflowExecution, Region: region, Name: image})
	if err != nil {
		return nil, err
	}
	out := make([]WorkflowExecution, 0, len(rows))
	for _, r := range rows {
		e, err := decode[WorkflowExecution](r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// GetWorkflowExecution returns one workflow execution by id, with the
// account that owns its image; store.ErrNotFound when unknown.
func GetWorkflowExecution(ctx context.Context, tx store.Tx, id string) (WorkflowExecution, string, error) {
	r, err := tx.Get(ctx, workflowExecutionKey(id))
	if err != nil {
		return WorkflowExecution{}, "", err
	}
	e, err := decode[WorkflowExecution](r)
	return e, r.Account, err
}

// StepExecutions lists the steps of a workflow execution in order.
func StepExecutions(ctx context.Context, tx store.Tx, region, workflowExecutionID string) ([]StepExecution, error) {
	rows, err := tx.List(ctx, store.Query{Kind: KindStepExecution, Region: region, Name: workflowExecutionID})
	if err != nil {
		return nil, err
	}
	out := make([]StepExecution, 0, len(rows))
	for _, r := range rows {
		s, err := decode[StepExecution](r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// GetStepExecution returns one step execution by id, with the account
// that owns its image; store.ErrNotFound when unknown.
func GetStepExecution(ctx context.Context, tx store.Tx, id string) (StepExecution, string, error) {
	r, err := tx.Get(ctx, stepExecutionKey(id))
	if err != nil {
		return StepExecution{}, "", err
	}
	s, err := decode[StepExecution](r)
	return s, r.Account, err
}
