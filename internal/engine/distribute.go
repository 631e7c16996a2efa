package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// DistributeImage (the operation) distributes an image built before with
// another distribution configuration. kiln records it on that image, as
// the distribution workflow it runs: a queued job of the image whose only
// workflows are distribution workflows, run by the same executors and
// steps as a build's distribution, against the artifact the build left
// (the AMIs' disk, the container image in kiln's registry). The image is
// DISTRIBUTING while the job is queued or running and AVAILABLE again
// afterwards whatever the outcome — what it already was stays usable; the
// workflow execution says how the distribution went, and a failure is
// also the AVAILABLE state's reason.

// DistributionSpec is what a DistributeImage job distributes with.
type DistributionSpec struct {
	// Configuration is the distribution configuration as it was at
	// DistributeImage time (later updates do not change a queued job).
	Configuration awsapi.DistributionConfiguration `json:"configuration"`
	// ExecutionRole is the role the request named; kiln has no IAM, so
	// it is only logged.
	ExecutionRole string `json:"executionRole,omitempty"`
	// Tags go onto the AMIs the distribution registers.
	Tags map[string]string `json:"tags,omitempty"`
}

// ErrBusy is EnqueueDistribution's answer when the image has a job
// already: a build or another distribution in progress.
var ErrBusy = errors.New("the image has a build or distribution in progress")

// Redistributor is an Executor that can distribute an image it built
// before: OpenBuilt opens an instance over the build's artifact, on which
// the distribution workflow's steps run as in a build.
type Redistributor interface {
	OpenBuilt(ctx context.Context, b *Build) (Instance, error)
}

// EnqueueDistribution queues a DistributeImage job of the image row img
// for account (the caller, whom the distribution acts as) and moves the
// image to DISTRIBUTING, inside the caller's transaction. spec.Workflows
// are the distribution workflows to run; spec.Distribution must be set.
func EnqueueDistribution(ctx context.Context, tx store.Tx, img store.Resource, account string, spec Spec, now time.Time) error {
	if spec.Distribution == nil {
		return errors.New("engine: a distribution job needs its distribution")
	}
	j := Job{Image: img.ARN, Account: account, Enqueued: now.UTC(), Spec: spec}
	if err := tx.Insert(ctx, jobRow(img.Region, j, now)); errors.Is(err, store.ErrExists) {
		return ErrBusy
	} else if err != nil {
		return err
	}
	return setImageState(ctx, tx, img.ARN, awsapi.ImageStatusDistributing, "", now, nil)
}

// finalState is the image state a job leaves: a distribution job returns
// its image to AVAILABLE whatever happened (the reason says what went
// wrong); any other job leaves the status it reached.
func (j Job) finalState(status, reason string) (string, string) {
	if j.Distribution == nil {
		return status, reason
	}
	switch status {
	case awsapi.ImageStatusAvailable:
		return status, ""
	case awsapi.ImageStatusCancelled:
		return awsapi.ImageStatusAvailable, "The last DistributeImage was cancelled."
	}
	return awsapi.ImageStatusAvailable, "The last DistributeImage failed: " + reason
}

// runDistribution runs a DistributeImage job: the distribution workflows
// over the built artifact.
func (e *Engine) runDistribution(ctx context.Context, b *Build, exec Executor, logDir string, wfs []loadedWorkflow) (string, string) {
	d, ok := exec.(Redistributor)
	if !ok {
		return awsapi.ImageStatusFailed, fmt.Sprintf("kiln cannot distribute images of type %s again.", b.Image.Type)
	}
	spec := b.Job.Distribution
	cfg := spec.Configuration
	b.Image.DistributionConfiguration = &cfg
	fmt.Fprintf(b.Log, "DistributeImage: distributing with %s (execution role %s)\n", cfg.Arn, spec.ExecutionRole)
	if err := e.setStatus(ctx, b.Image.Arn, awsapi.ImageStatusDistributing); err != nil {
		return e.outcome(ctx, err, "")
	}
	// Executions of the distribution come after everything the image
	// already ran, in ListWorkflowExecutions' order.
	var last int
	err := e.Store.View(ctx, func(tx store.Tx) error {
		execs, err := WorkflowExecutions(ctx, tx, e.Region, b.Image.Arn)
		for _, x := range execs {
			last = max(last, x.Seq)
		}
		return err
	})
	if err != nil {
		return e.outcome(ctx, err, "")
	}
	inst, err := d.OpenBuilt(ctx, b)
	if err != nil {
		fmt.Fprintf(b.Log, "DistributeImage: %v\n", err)
		return awsapi.ImageStatusFailed, "kiln could not open the built image: " + err.Error()
	}
	defer func() {
		if err := inst.Close(false); err != nil {
			e.Log.Error("cleaning up a distribution", "image", b.Image.Arn, "err", err)
		}
	}()
	for i, wf := range wfs {
		wf.seq = last + 1 + i
		if failure := e.runWorkflow(ctx, b, logDir, inst, wf, map[string]any{}); failure != "" {
			return e.outcome(ctx, errors.New(failure), failure)
		}
	}
	return awsapi.ImageStatusAvailable, ""
}

// BuiltAMIs returns the catalogue's AMIs of the image's outputResources:
// what a DistributeImage copies.
func (b *Build) BuiltAMIs(ctx context.Context) ([]ami.AMI, error) {
	var out []ami.AMI
	err := b.engine.Store.View(ctx, func(tx store.Tx) error {
		if b.Image.OutputResources == nil {
			return nil
		}
		for _, o := range b.Image.OutputResources.Amis {
			a, err := ami.Get(ctx, tx, o.Image)
			if errors.Is(err, store.ErrNotFound) {
				continue // deregistered since
			} else if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	return out, err
}

// withDistributionTags is the AMI tags a DistributeImage adds over the
// distribution's own amiTags.
func (b *Build) withDistributionTags(tags map[string]string) map[string]string {
	if b.Job.Distribution == nil || len(b.Job.Distribution.Tags) == 0 {
		return tags
	}
	out := maps.Clone(tags)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b.Job.Distribution.Tags)
	return out
}

// mergeAmis is the outputResources' AMIs after a distribution registered
// more: a build's distribution starts the list, a DistributeImage adds to
// what the image has (an AMI id is never listed twice).
func mergeAmis(have *awsapi.OutputResources, added []awsapi.Ami, redistribution bool) []awsapi.Ami {
	if !redistribution || have == nil {
		return added
	}
	out := slices.Clone(have.Amis)
	for _, a := range added {
		if !slices.ContainsFunc(out, func(x awsapi.Ami) bool { return x.Image == a.Image }) {
			out = append(out, a)
		}
	}
	return out
}

// logPrefix starts the names of a workflow's step logs: its type, and for
// a DistributeImage also its place among the image's executions, so a
// later distribution never overwrites the logs of the build's.
func logPrefix(b *Build, wf loadedWorkflow) string {
	p := strings.ToLower(wf.ref.Type)
	if b.Job.Distribution != nil {
		p += fmt.Sprintf("-%d", wf.seq)
	}
	return p
}
