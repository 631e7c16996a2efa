package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// Kinds of kiln's lifecycle rows in the store (see internal/engine for the
// "kiln/" convention).
const (
	// KindLifecycleExecution is one run of a lifecycle policy, or one
	// StartResourceStateUpdate. Its Name is the policy ARN (the image ARN
	// for a state update) and its Build the run's sequence number, so a
	// policy's runs list in order.
	KindLifecycleExecution = "kiln/lifecycle-execution"
	// KindLifecycleResource is one resource an execution acted on (or
	// spared): an image at the top, its AMIs below it. Its Name is the
	// execution ID (with "/" and the parent's ID for a child) and its
	// Build the resource's place in the execution.
	KindLifecycleResource = "kiln/lifecycle-execution-resource"
)

func lifecycleExecutionKey(id string) string { return "kiln:lifecycle-execution:" + id }
func lifecycleResourceKey(id string, n int) string {
	return fmt.Sprintf("kiln:lifecycle-execution-resource:%s/%d", id, n)
}

// lifecycleStale is how long an execution may go without progress before
// another may take its policy over: kiln was stopped in the middle of it.
// Each resource takes one transaction (and a disk or registry deletion),
// so a live execution makes progress far more often.
const lifecycleStale = 10 * time.Minute

// deprecatedByTag is the tag a deprecating rule puts on AMIs, and which
// disabling or restoring them removes, as Image Builder does.
const deprecatedByTag = "DeprecatedBy"

// LifecycleArtifacts removes what lifecycle actions delete outside the
// store. cmd/kiln wires kiln's registry and data directory in; without it
// (nil) records change but disks and registry images stay.
type LifecycleArtifacts interface {
	// RemoveDisk removes an AMI disk no AMI uses any more (relative to the
	// data directory).
	RemoveDisk(rel string) error
	// DeleteContainerImage deletes the image an output image URI names
	// from kiln's registry; an image already gone is no error.
	DeleteContainerImage(ctx context.Context, uri string) error
}

// lifecycleExecution is the stored execution: the API's shape, plus what
// kiln needs to carry it out.
type lifecycleExecution struct {
	awsapi.LifecycleExecution
	// Resource is the image of a state update ("" for a policy's run).
	Resource string            `json:"kilnResourceArn,omitempty"`
	Actions  []lifecycleAction `json:"kilnActions,omitempty"`
	// DueAt is when a PENDING state update (updateAt) is carried out.
	DueAt           time.Time `json:"kilnDueAt,omitzero"`
	CancelRequested bool      `json:"kilnCancelRequested,omitempty"`
	// Heartbeat is the last progress; see lifecycleStale.
	Heartbeat time.Time `json:"kilnHeartbeat,omitzero"`
	// Executor is the ExecutionRole given, kept for the record only.
	ExecutionRole string `json:"kilnExecutionRole,omitempty"`
}

func (e lifecycleExecution) status() string {
	if e.State == nil {
		return ""
	}
	return e.State.Status
}

// lifecycleActive reports whether an execution still holds its policy or
// image: waiting, running or being cancelled.
func (e lifecycleExecution) active(now time.Time) bool {
	switch e.status() {
	case awsapi.LifecycleExecutionStatusPending:
		return true
	case awsapi.LifecycleExecutionStatusInProgress, awsapi.LifecycleExecutionStatusCancelling:
		return now.Sub(e.Heartbeat) < lifecycleStale
	}
	return false
}

// LifecycleResource is one resource of an execution: the API's
// LifecycleExecutionResource, with the image it belongs to for an AMI.
type LifecycleResource struct {
	ParentResourceId string `json:"parentResourceId,omitempty"`
	awsapi.LifecycleExecutionResource
	seq int
}

// LifecycleRun is what `kiln lifecycle run` gets back: the execution (none
// for a dry run) and every resource it acted on or would act on.
type LifecycleRun struct {
	LifecycleExecutionId string                          `json:"lifecycleExecutionId,omitempty"`
	LifecyclePolicyArn   string                          `json:"lifecyclePolicyArn"`
	DryRun               bool                            `json:"dryRun,omitempty"`
	State                *awsapi.LifecycleExecutionState `json:"state,omitempty"`
	Resources            []LifecycleResource             `json:"resources"`
}

func newLifecycleExecutionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return "lce-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func decodeLifecycleExecution(r store.Resource) (lifecycleExecution, error) {
	var e lifecycleExecution
	if err := json.Unmarshal(r.Doc, &e); err != nil {
		return e, fmt.Errorf("stored lifecycle execution %s: %w", r.ARN, err)
	}
	return e, nil
}

func decodeLifecycleResource(r store.Resource) (LifecycleResource, error) {
	var lr LifecycleResource
	if err := json.Unmarshal(r.Doc, &lr); err != nil {
		return lr, fmt.Errorf("stored lifecycle resource %s: %w", r.ARN, err)
	}
	lr.seq = r.Build
	return lr, nil
}

// putLifecycleExecution stores e (inserted when insert).
func (s *Service) putLifecycleExecution(ctx context.Context, tx store.Tx, account, name string, seq int, e lifecycleExecution, now time.Time, insert bool) error {
	doc, err := json.Marshal(e)
	if err != nil {
		return err
	}
	r := store.Resource{
		ARN: lifecycleExecutionKey(e.LifecycleExecutionId), Kind: KindLifecycleExecution, Account: account,
		Region: s.Region, Name: name, Build: seq, Doc: doc, Created: now, Updated: now,
	}
	if insert {
		return tx.Insert(ctx, r)
	}
	old, err := tx.Get(ctx, r.ARN)
	if err != nil {
		return err
	}
	r.Created = old.Created
	return tx.Put(ctx, r)
}

// getLifecycleExecution reads an execution the account owns; anything
// else is ResourceNotFoundException, as for an unknown ID.
func (s *Service) getLifecycleExecution(ctx context.Context, tx store.Tx, account, id string) (store.Resource, lifecycleExecution, error) {
	r, err := tx.Get(ctx, lifecycleExecutionKey(id))
	if errors.Is(err, store.ErrNotFound) || (err == nil && (r.Account != account || r.Kind != KindLifecycleExecution)) {
		return r, lifecycleExecution{}, notFound("The lifecycle execution '%s' does not exist.", id)
	}
	if err != nil {
		return r, lifecycleExecution{}, err
	}
	e, err := decodeLifecycleExecution(r)
	return r, e, err
}

// activeLifecycleExecution returns the execution holding name (a policy
// or image ARN), if any. One that made no progress for lifecycleStale is
// abandoned (kiln stopped during it): it is closed FAILED here, so a new
// one may start.
func (s *Service) activeLifecycleExecution(ctx context.Context, tx store.Tx, account, name string, now time.Time) (string, error) {
	rows, err := tx.List(ctx, store.Query{Kind: KindLifecycleExecution, Region: s.Region, Owners: []string{account}, Name: name,
		Where: []store.Cond{store.Eq(store.DocField("state", "status"), awsapi.LifecycleExecutionStatusPending,
			awsapi.LifecycleExecutionStatusInProgress, awsapi.LifecycleExecutionStatusCancelling)}})
	if err != nil {
		return "", err
	}
	for _, r := range rows {
		e, err := decodeLifecycleExecution(r)
		if err != nil {
			return "", err
		}
		if e.active(now) {
			return e.LifecycleExecutionId, nil
		}
		e.State = &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusFailed,
			Reason: "kiln stopped during this execution; the resources it had not reached were left as they were"}
		e.EndTime = lifecycleTimestamp(now)
		if err := s.putLifecycleExecution(ctx, tx, account, name, r.Build, e, now, false); err != nil {
			return "", err
		}
	}
	return "", nil
}

// beginLifecycle stores a new execution of actions for name (a policy ARN,
// or the image ARN of a state update) in tx. Unless it waits for dueAt, it
// starts at once: IN_PROGRESS, with its resources recorded, for
// performLifecycle to carry out once tx has committed.
func (s *Service) beginLifecycle(ctx context.Context, tx store.Tx, account, name string, e lifecycleExecution, now time.Time) (lifecycleExecution, error) {
	if id, err := s.activeLifecycleExecution(ctx, tx, account, name, now); err != nil {
		return e, err
	} else if id != "" {
		return e, awsapi.Errorf(awsapi.ErrCodeResourceInUseException,
			"The lifecycle execution '%s' of '%s' is still in progress; one execution runs at a time.", id, name)
	}
	seq, err := tx.NextBuild(ctx, account, s.Region, KindLifecycleExecution, name, "")
	if err != nil {
		return e, err
	}
	e.LifecycleExecutionId = newLifecycleExecutionID()
	e.StartTime = lifecycleTimestamp(now)
	e.Heartbeat = now
	e.ResourcesImpactedSummary = &awsapi.LifecycleExecutionResourcesImpactedSummary{HasImpactedResources: ptr(len(e.Actions) > 0)}
	if e.DueAt.After(now) {
		e.State = &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusPending,
			Reason: "waiting until " + formatDateTime(e.DueAt)}
		return e, s.putLifecycleExecution(ctx, tx, account, name, seq, e, now, true)
	}
	e.State = &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusInProgress}
	if err := s.putLifecycleExecution(ctx, tx, account, name, seq, e, now, true); err != nil {
		return e, err
	}
	return e, s.recordLifecycleResources(ctx, tx, account, e, now)
}

// recordLifecycleResources stores the resources of e's actions,
// IN_PROGRESS (or SKIPPED where an AMI exclusion rule spares them).
func (s *Service) recordLifecycleResources(ctx context.Context, tx store.Tx, account string, e lifecycleExecution, now time.Time) error {
	n := 0
	for _, a := range e.Actions {
		list, err := s.lifecycleResources(ctx, tx, a, now)
		if err != nil {
			return err
		}
		for _, lr := range list {
			n++
			lr.StartTime = lifecycleTimestamp(now)
			if err := s.putLifecycleResource(ctx, tx, account, e.LifecycleExecutionId, n, lr, now, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Service) putLifecycleResource(ctx context.Context, tx store.Tx, account, exec string, n int, lr LifecycleResource, now time.Time, insert bool) error {
	doc, err := json.Marshal(lr)
	if err != nil {
		return err
	}
	name := exec
	if lr.ParentResourceId != "" {
		name += "/" + lr.ParentResourceId
	}
	r := store.Resource{
		ARN: lifecycleResourceKey(exec, n), Kind: KindLifecycleResource, Account: account, Region: s.Region,
		Name: name, Build: n, Doc: doc, Created: now, Updated: now,
	}
	if insert {
		return tx.Insert(ctx, r)
	}
	return tx.Put(ctx, r)
}

// lifecycleResources lists what an action touches: the image, then each of
// its AMIs when the action includes them (SKIPPED when an exclusion rule
// spares one), each with the disk it would free when snapshots are
// included. A container image's URIs are listed when containers are.
func (s *Service) lifecycleResources(ctx context.Context, tx store.Tx, a lifecycleAction, now time.Time) ([]LifecycleResource, error) {
	r, err := tx.Get(ctx, a.Image)
	if err != nil {
		return nil, err
	}
	img, err := decodeImage(r)
	if err != nil {
		return nil, err
	}
	top := LifecycleResource{LifecycleExecutionResource: awsapi.LifecycleExecutionResource{
		AccountId: r.Account, ResourceId: r.ARN, Region: r.Region,
		State:  &awsapi.LifecycleExecutionResourceState{Status: awsapi.LifecycleExecutionResourceStatusInProgress},
		Action: &awsapi.LifecycleExecutionResourceAction{Name: a.Action, Reason: a.Reason},
	}}
	out := []LifecycleResource{top}
	if img.OutputResources == nil {
		return out, nil
	}
	if a.Include.Containers {
		for _, c := range img.OutputResources.Containers {
			out[0].ImageUris = append(out[0].ImageUris, c.ImageUris...)
		}
	}
	if !a.Include.Amis {
		return out, nil
	}
	for _, o := range img.OutputResources.Amis {
		child := LifecycleResource{ParentResourceId: r.ARN, LifecycleExecutionResource: awsapi.LifecycleExecutionResource{
			AccountId: o.AccountId, ResourceId: o.Image, Region: o.Region,
			State:  &awsapi.LifecycleExecutionResourceState{Status: awsapi.LifecycleExecutionResourceStatusInProgress},
			Action: &awsapi.LifecycleExecutionResourceAction{Name: a.Action, Reason: "an AMI of " + r.ARN},
		}}
		m, err := ami.Get(ctx, tx, o.Image)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			if why := amiExcluded(a.AMIExclusions, m, now); why != "" {
				child.State = &awsapi.LifecycleExecutionResourceState{Status: awsapi.LifecycleExecutionResourceStatusSkipped, Reason: why}
			} else if a.Include.Snapshots && a.Action == awsapi.LifecycleExecutionResourceActionNameDelete {
				child.Snapshots = []awsapi.LifecycleExecutionSnapshotResource{{SnapshotId: snapshotID(m.Disk),
					State: &awsapi.LifecycleExecutionResourceState{Status: awsapi.LifecycleExecutionResourceStatusInProgress}}}
			}
		}
		out = append(out, child)
	}
	return out, nil
}

// snapshotID names an AMI's disk as the EBS snapshot it stands for: kiln's
// AMIs have one content-addressed disk each, shared by every AMI of a
// build, which is what a snapshot is to an EC2 AMI.
func snapshotID(disk string) string {
	sum := sha256.Sum256([]byte(disk))
	return "snap-" + hex.EncodeToString(sum[:])[:17]
}

// lifecycleFrom is which image statuses an action may start from; the
// action's own target is among them (an image already there is a success,
// and the action's effects on its AMIs are applied again).
var lifecycleFrom = map[string][]string{
	awsapi.LifecycleExecutionResourceActionNameAvailable: {awsapi.ImageStatusAvailable, awsapi.ImageStatusDeprecated, awsapi.ImageStatusDisabled},
	awsapi.LifecycleExecutionResourceActionNameDeprecate: {awsapi.ImageStatusAvailable, awsapi.ImageStatusDeprecated},
	awsapi.LifecycleExecutionResourceActionNameDisable:   {awsapi.ImageStatusAvailable, awsapi.ImageStatusDeprecated, awsapi.ImageStatusDisabled},
	awsapi.LifecycleExecutionResourceActionNameDelete: {awsapi.ImageStatusAvailable, awsapi.ImageStatusDeprecated,
		awsapi.ImageStatusDisabled, awsapi.ImageStatusFailed, awsapi.ImageStatusCancelled},
}

// performLifecycle carries out a started execution, image by image, each
// in its own transaction (registry images deleted before it, disks freed
// after it commits), and closes it: SUCCESS, FAILED when any resource
// failed, CANCELLED when CancelLifecycleExecution asked, the resources
// not reached then SKIPPED.
func (s *Service) performLifecycle(ctx context.Context, account, id string) (lifecycleExecution, error) {
	var (
		e    lifecycleExecution
		name string
		seq  int
		rows []LifecycleResource
	)
	err := s.view(ctx, func(tx store.Tx) error {
		r, ex, err := s.getLifecycleExecution(ctx, tx, account, id)
		if err != nil {
			return err
		}
		e, name, seq = ex, r.Name, r.Build
		all, err := tx.List(ctx, store.Query{Kind: KindLifecycleResource, Region: s.Region, Owners: []string{account}, Name: id})
		if err != nil {
			return err
		}
		rows = rows[:0]
		for _, r := range all {
			lr, err := decodeLifecycleResource(r)
			if err != nil {
				return err
			}
			rows = append(rows, lr)
		}
		return nil
	})
	if err != nil {
		return e, err
	}
	failed, cancelled := 0, false
	for _, top := range rows {
		if top.State.Status != awsapi.LifecycleExecutionResourceStatusInProgress {
			continue
		}
		i := slices.IndexFunc(e.Actions, func(a lifecycleAction) bool { return a.Image == top.ResourceId })
		if i < 0 {
			continue
		}
		ok, stop, err := s.applyLifecycleAction(ctx, account, id, e.Actions[i], top)
		if err != nil {
			return e, err
		}
		if stop {
			cancelled = true
			break
		}
		if !ok {
			failed++
		}
	}
	err = s.update(ctx, func(tx store.Tx) error {
		now := s.now()
		_, cur, err := s.getLifecycleExecution(ctx, tx, account, id)
		if err != nil {
			return err
		}
		e = cur
		state := &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusSuccess}
		switch {
		case cancelled || e.CancelRequested:
			state = &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusCancelled,
				Reason: "cancelled by CancelLifecycleExecution; the resources already acted on stay as they are"}
		case failed > 0:
			state = &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusFailed,
				Reason: fmt.Sprintf("%d of %d images could not be acted on; see ListLifecycleExecutionResources", failed, len(e.Actions))}
		}
		e.State, e.EndTime, e.Heartbeat = state, lifecycleTimestamp(now), now
		if err := s.putLifecycleExecution(ctx, tx, account, name, seq, e, now, false); err != nil {
			return err
		}
		// Whatever was not reached (a cancel) is skipped.
		all, err := s.executionResources(ctx, tx, account, id)
		if err != nil {
			return err
		}
		for _, lr := range all {
			if lr.State == nil || lr.State.Status != awsapi.LifecycleExecutionResourceStatusInProgress {
				continue
			}
			lr.State = &awsapi.LifecycleExecutionResourceState{Status: awsapi.LifecycleExecutionResourceStatusSkipped,
				Reason: "the execution ended before reaching this resource"}
			lr.EndTime = lifecycleTimestamp(now)
			if err := s.putLifecycleResource(ctx, tx, account, id, lr.seq, lr, now, false); err != nil {
				return err
			}
		}
		return nil
	})
	return e, err
}

// executionResources reads every resource of an execution in tx, in the
// order they were recorded: each image, then its AMIs.
func (s *Service) executionResources(ctx context.Context, tx store.Tx, account, id string) ([]LifecycleResource, error) {
	var out []LifecycleResource
	read := func(name string) ([]LifecycleResource, error) {
		rows, err := tx.List(ctx, store.Query{Kind: KindLifecycleResource, Region: s.Region, Owners: []string{account}, Name: name})
		if err != nil {
			return nil, err
		}
		list := make([]LifecycleResource, 0, len(rows))
		for _, r := range rows {
			lr, err := decodeLifecycleResource(r)
			if err != nil {
				return nil, err
			}
			list = append(list, lr)
		}
		return list, nil
	}
	tops, err := read(id)
	if err != nil {
		return nil, err
	}
	for _, top := range tops {
		children, err := read(id + "/" + top.ResourceId)
		if err != nil {
			return nil, err
		}
		out = append(out, top)
		out = append(out, children...)
	}
	slices.SortFunc(out, func(a, b LifecycleResource) int { return a.seq - b.seq })
	return out, nil
}

// applyLifecycleAction acts on one image and its resources. It reports
// whether the image's action succeeded (false: FAILED, with the reason
// recorded) and whether the execution was cancelled before it started.
func (s *Service) applyLifecycleAction(ctx context.Context, account, id string, a lifecycleAction, top LifecycleResource) (ok, cancelled bool, err error) {
	// The registry's images go first: when that fails, the image record
	// is left as it was and the resource says why.
	var deleteErr error
	err = s.view(ctx, func(tx store.Tx) error {
		_, e, err := s.getLifecycleExecution(ctx, tx, account, id)
		cancelled = err == nil && e.CancelRequested
		return err
	})
	if err != nil || cancelled {
		return false, cancelled, err
	}
	if a.Action == awsapi.LifecycleExecutionResourceActionNameDelete && len(top.ImageUris) > 0 {
		for _, uri := range top.ImageUris {
			if s.LifecycleArtifacts == nil {
				break
			}
			if err := s.LifecycleArtifacts.DeleteContainerImage(ctx, uri); err != nil {
				deleteErr = fmt.Errorf("deleting %s from the registry: %w", uri, err)
				break
			}
		}
	}
	var orphans []string
	err = s.update(ctx, func(tx store.Tx) error {
		orphans = orphans[:0]
		now := s.now()
		r, ex, err := s.getLifecycleExecution(ctx, tx, account, id)
		if err != nil {
			return err
		}
		ex.Heartbeat = now
		if err := s.putLifecycleExecution(ctx, tx, account, r.Name, r.Build, ex, now, false); err != nil {
			return err
		}
		children, err := tx.List(ctx, store.Query{Kind: KindLifecycleResource, Region: s.Region, Owners: []string{account}, Name: id + "/" + a.Image})
		if err != nil {
			return err
		}
		finish := func(lr LifecycleResource, seq int, status, reason string) error {
			lr.State = &awsapi.LifecycleExecutionResourceState{Status: status, Reason: reason}
			lr.EndTime = lifecycleTimestamp(now)
			return s.putLifecycleResource(ctx, tx, account, id, seq, lr, now, false)
		}
		skipAll := func(status, reason string) error {
			if err := finish(top, top.seq, status, reason); err != nil {
				return err
			}
			for _, c := range children {
				lr, err := decodeLifecycleResource(c)
				if err != nil {
					return err
				}
				if lr.State.Status == awsapi.LifecycleExecutionResourceStatusInProgress {
					if err := finish(lr, c.Build, awsapi.LifecycleExecutionResourceStatusSkipped, "its image was not acted on"); err != nil {
						return err
					}
				}
			}
			return nil
		}
		ok = true
		if deleteErr != nil {
			ok = false
			return skipAll(awsapi.LifecycleExecutionResourceStatusFailed, deleteErr.Error())
		}
		row, err := tx.Get(ctx, a.Image)
		if errors.Is(err, store.ErrNotFound) {
			return skipAll(awsapi.LifecycleExecutionResourceStatusSuccess, "the image was already deleted")
		} else if err != nil {
			return err
		}
		img, err := decodeImage(row)
		if err != nil {
			return err
		}
		if st := imageStatus(img); !slices.Contains(lifecycleFrom[a.Action], st) {
			if st == lifecycleTarget[a.Action] {
				return skipAll(awsapi.LifecycleExecutionResourceStatusSuccess, "the image was already "+st)
			}
			return skipAll(awsapi.LifecycleExecutionResourceStatusSkipped, "the image is now "+st)
		}
		// The AMIs.
		amiState := map[string]string{}
		for _, c := range children {
			lr, err := decodeLifecycleResource(c)
			if err != nil {
				return err
			}
			if lr.State.Status != awsapi.LifecycleExecutionResourceStatusInProgress {
				continue
			}
			reason, orphan, err := s.applyToAMI(ctx, tx, a.Action, lr.ResourceId, now)
			if err != nil {
				return err
			}
			for i := range lr.Snapshots {
				st := &awsapi.LifecycleExecutionResourceState{Status: awsapi.LifecycleExecutionResourceStatusSuccess, Reason: "the disk was removed"}
				if orphan == "" {
					st = &awsapi.LifecycleExecutionResourceState{Status: awsapi.LifecycleExecutionResourceStatusSkipped, Reason: "the disk is still used by another AMI"}
				}
				lr.Snapshots[i].State = st
			}
			if orphan != "" {
				orphans = append(orphans, orphan)
			}
			amiState[lr.ResourceId] = lifecycleTarget[a.Action]
			if err := finish(lr, c.Build, awsapi.LifecycleExecutionResourceStatusSuccess, reason); err != nil {
				return err
			}
		}
		// The image record.
		img.State = &awsapi.ImageState{Status: lifecycleTarget[a.Action]}
		img.LifecycleExecutionId = id
		switch a.Action {
		case awsapi.LifecycleExecutionResourceActionNameDeprecate:
			img.DeprecationTime = lifecycleTimestamp(now)
		case awsapi.LifecycleExecutionResourceActionNameAvailable:
			img.DeprecationTime = nil
		}
		if img.OutputResources != nil {
			for i, o := range img.OutputResources.Amis {
				if st, ok := amiState[o.Image]; ok {
					img.OutputResources.Amis[i].State = &awsapi.ImageState{Status: st}
				}
			}
		}
		img.Tags = nil
		doc, err := json.Marshal(img)
		if err != nil {
			return err
		}
		row.Doc, row.Updated = doc, now
		if err := tx.Put(ctx, row); err != nil {
			return err
		}
		reason := "the image is now " + lifecycleTarget[a.Action]
		if len(top.ImageUris) > 0 && a.Action == awsapi.LifecycleExecutionResourceActionNameDelete {
			reason += "; its container images were deleted from the registry"
		}
		return finish(top, top.seq, awsapi.LifecycleExecutionResourceStatusSuccess, reason)
	})
	if err != nil {
		return false, false, err
	}
	for _, d := range orphans {
		if s.LifecycleArtifacts == nil {
			break
		}
		if err := s.LifecycleArtifacts.RemoveDisk(d); err != nil && s.Log != nil {
			s.Log.Warn("lifecycle: removing an unused AMI disk", "disk", d, "err", err)
		}
	}
	return ok, false, nil
}

// applyToAMI gives one AMI the action's state in tx: deprecated (with the
// DeprecatedBy tag), disabled, enabled again, or deregistered (returning
// its disk when no AMI uses it any more). An AMI already gone is a
// success, as in Image Builder.
func (s *Service) applyToAMI(ctx context.Context, tx store.Tx, action, id string, now time.Time) (reason, orphan string, err error) {
	m, err := ami.Get(ctx, tx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "the AMI was already deregistered", "", nil
	} else if err != nil {
		return "", "", err
	}
	tags := maps.Clone(m.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	switch action {
	case awsapi.LifecycleExecutionResourceActionNameDelete:
		orphan, err := ami.Release(ctx, tx, s.Region, m)
		return "deregistered", orphan, err
	case awsapi.LifecycleExecutionResourceActionNameDeprecate:
		t := now
		m.DeprecationTime = &t
		tags[deprecatedByTag] = "EC2 Image Builder"
		reason = "deprecated"
	case awsapi.LifecycleExecutionResourceActionNameDisable:
		m.Disabled = true
		delete(tags, deprecatedByTag)
		reason = "disabled: it launches for nobody until it is enabled again"
	case awsapi.LifecycleExecutionResourceActionNameAvailable:
		m.Disabled, m.DeprecationTime = false, nil
		delete(tags, deprecatedByTag)
		reason = "enabled, no longer deprecated"
	}
	if len(tags) == 0 {
		tags = nil
	}
	m.Tags = tags
	return reason, "", ami.Put(ctx, tx, s.Region, m, now)
}

// lifecycleCandidates reads the images of account a policy selects:
// neither DELETED nor still being built.
func (s *Service) lifecycleCandidates(ctx context.Context, tx store.Tx, account string, p awsapi.LifecyclePolicy) ([]lifecycleImage, error) {
	rows, err := tx.List(ctx, store.Query{Kind: kindImage, Region: s.Region, Owners: []string{account}})
	if err != nil {
		return nil, err
	}
	var out []lifecycleImage
	for _, r := range rows {
		img, err := decodeImage(r)
		if err != nil {
			return nil, err
		}
		im := lifecycleImageOf(r, img)
		if !slices.Contains(lifecycleFrom[awsapi.LifecycleExecutionResourceActionNameDelete], im.Status) {
			continue // DELETED, or still being built
		}
		if lifecycleSelects(p, im) {
			out = append(out, im)
		}
	}
	return out, nil
}
