package service

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

func (s *Service) lifecycleExecutionHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpGetLifecycleExecution:           handle(s.GetLifecycleExecution),
		awsapi.OpListLifecycleExecutions:         handle(s.ListLifecycleExecutions),
		awsapi.OpListLifecycleExecutionResources: handle(s.ListLifecycleExecutionResources),
		awsapi.OpCancelLifecycleExecution:        handle(s.CancelLifecycleExecution),
		awsapi.OpStartResourceStateUpdate:        handle(s.StartResourceStateUpdate),
	}
}

// GetLifecycleExecution returns one of the caller's lifecycle executions.
func (s *Service) GetLifecycleExecution(ctx context.Context, account string, in *awsapi.GetLifecycleExecutionRequest) (*awsapi.GetLifecycleExecutionResponse, error) {
	var e lifecycleExecution
	err := s.view(ctx, func(tx store.Tx) error {
		var err error
		_, e, err = s.getLifecycleExecution(ctx, tx, account, in.LifecycleExecutionId)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.GetLifecycleExecutionResponse{LifecycleExecution: &e.LifecycleExecution}, nil
}

// ListLifecycleExecutions lists the executions of a lifecycle policy,
// oldest first, or those that acted on an image: the policy runs (by
// policy) and then its StartResourceStateUpdates.
func (s *Service) ListLifecycleExecutions(ctx context.Context, account string, in *awsapi.ListLifecycleExecutionsRequest) (*awsapi.ListLifecycleExecutionsResponse, error) {
	a, err := s.parseARN("resourceArn", in.ResourceArn, kindLifecyclePolicy, kindImage)
	if err != nil {
		return nil, err
	}
	if a.Type == kindImage && a.Build == 0 {
		return nil, badValue("resourceArn", "An image resourceArn must name one image build version (…/image/NAME/M.m.p/BUILD).")
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	q := store.Query{Kind: KindLifecycleExecution, Region: s.Region, Owners: []string{account}, Name: a.String()}
	if a.Type == kindImage {
		// An image's executions: its state updates (named by it) and the
		// policy runs that acted on it (found by their resources).
		ran := map[string]bool{}
		err := s.view(ctx, func(tx store.Tx) error {
			rows, err := tx.List(ctx, store.Query{Kind: KindLifecycleResource, Region: s.Region, Owners: []string{account},
				Where: []store.Cond{store.Eq(store.DocField("resourceId"), a.String())}})
			for _, r := range rows {
				if id, _, _ := strings.Cut(r.Name, "/"); id == r.Name {
					ran[lifecycleExecutionKey(id)] = true
				}
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		image := a.String()
		q.Name = ""
		q.Where = []store.Cond{{Check: func(r store.Resource) bool { return r.Name == image || ran[r.ARN] }}}
	}
	p := listPage{
		op: awsapi.OpListLifecycleExecutions, params: params, maxResults: in.MaxResults, nextToken: in.NextToken, query: q,
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.LifecycleExecution, error) {
		e, err := decodeLifecycleExecution(r)
		return e.LifecycleExecution, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListLifecycleExecutionsResponse{LifecycleExecutions: list, NextToken: next}, nil
}

// ListLifecycleExecutionResources lists what an execution acted on: its
// images, or with parentResourceId one image's AMIs.
func (s *Service) ListLifecycleExecutionResources(ctx context.Context, account string, in *awsapi.ListLifecycleExecutionResourcesRequest) (*awsapi.ListLifecycleExecutionResourcesResponse, error) {
	var e lifecycleExecution
	err := s.view(ctx, func(tx store.Tx) error {
		var err error
		_, e, err = s.getLifecycleExecution(ctx, tx, account, in.LifecycleExecutionId)
		return err
	})
	if err != nil {
		return nil, err
	}
	name := in.LifecycleExecutionId
	if in.ParentResourceId != "" {
		name += "/" + in.ParentResourceId
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: awsapi.OpListLifecycleExecutionResources, params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{Kind: KindLifecycleResource, Region: s.Region, Owners: []string{account}, Name: name},
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.LifecycleExecutionResource, error) {
		lr, err := decodeLifecycleResource(r)
		return lr.LifecycleExecutionResource, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListLifecycleExecutionResourcesResponse{
		LifecycleExecutionId: e.LifecycleExecutionId, LifecycleExecutionState: e.State, Resources: list, NextToken: next,
	}, nil
}

// CancelLifecycleExecution stops an execution: a PENDING state update at
// once; a running one before its next image (what it already did stays
// done, as in Image Builder), going CANCELLING, then CANCELLED. A
// finished execution is ResourceInUseException.
func (s *Service) CancelLifecycleExecution(ctx context.Context, account string, in *awsapi.CancelLifecycleExecutionRequest) (*awsapi.CancelLifecycleExecutionResponse, error) {
	out := &awsapi.CancelLifecycleExecutionResponse{LifecycleExecutionId: in.LifecycleExecutionId}
	err := s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCancelLifecycleExecution, in.ClientToken, in, out, func() error {
			now := s.now()
			r, e, err := s.getLifecycleExecution(ctx, tx, account, in.LifecycleExecutionId)
			if err != nil {
				return err
			}
			switch {
			case e.status() == awsapi.LifecycleExecutionStatusPending:
				e.State = &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusCancelled,
					Reason: "cancelled by CancelLifecycleExecution before it started"}
				e.EndTime = lifecycleTimestamp(now)
			case e.active(now):
				e.CancelRequested = true
				e.State = &awsapi.LifecycleExecutionState{Status: awsapi.LifecycleExecutionStatusCancelling,
					Reason: "cancelled by CancelLifecycleExecution; stopping before the next image"}
			default:
				return awsapi.Errorf(awsapi.ErrCodeResourceInUseException,
					"The lifecycle execution '%s' is %s; only a pending or running execution can be cancelled.", e.LifecycleExecutionId, e.status())
			}
			return s.putLifecycleExecution(ctx, tx, account, r.Name, r.Build, e, now, false)
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StartResourceStateUpdate moves one image to a new state, with the same
// effects as a lifecycle rule (its AMIs, their disks, its registry images
// as includeResources asks; AMIs spared by exclusionRules), recorded as a
// lifecycle execution that ListLifecycleExecutions lists under the image's
// ARN. The states an image may go to:
//
//	AVAILABLE   from DEPRECATED or DISABLED (restores its AMIs)
//	DEPRECATED  from AVAILABLE (AMI images only)
//	DISABLED    from AVAILABLE or DEPRECATED (AMI images only)
//	DELETED     from any state but a build in progress
//
// An image already in the state is accepted (its resources get the
// state again). A build still in progress is ResourceInUseException;
// anything else refused is InvalidRequestException naming the states.
// updateAt in the future leaves the execution PENDING until then, for
// `kiln serve`'s lifecycle loop (--lifecycle-interval) to carry out.
// executionRole is accepted and, having no IAM to assume, ignored (with
// a log line).
func (s *Service) StartResourceStateUpdate(ctx context.Context, account string, in *awsapi.StartResourceStateUpdateRequest) (*awsapi.StartResourceStateUpdateResponse, error) {
	a, err := s.imageBuildARN("resourceArn", in.ResourceArn)
	if err != nil {
		return nil, err
	}
	target := ""
	if in.State != nil {
		target = in.State.Status
	}
	action, ok := map[string]string{
		awsapi.ResourceStatusAvailable:  awsapi.LifecycleExecutionResourceActionNameAvailable,
		awsapi.ResourceStatusDeprecated: awsapi.LifecycleExecutionResourceActionNameDeprecate,
		awsapi.ResourceStatusDisabled:   awsapi.LifecycleExecutionResourceActionNameDisable,
		awsapi.ResourceStatusDeleted:    awsapi.LifecycleExecutionResourceActionNameDelete,
	}[target]
	if !ok {
		return nil, badValue("state.status", "The state must be AVAILABLE, DEPRECATED, DISABLED or DELETED.")
	}
	if ex := in.ExclusionRules; ex != nil && ex.Amis != nil {
		for k, r := range ex.Amis.Regions {
			if !arn.ValidRegion(r) {
				return nil, badValue(fmt.Sprintf("exclusionRules.amis.regions[%d]", k), "'%s' is not a valid region name.", r)
			}
		}
	}
	if in.ExecutionRole != "" {
		s.logInfo("StartResourceStateUpdate: executionRole accepted and ignored; kiln acts on its own resources without IAM roles", "role", in.ExecutionRole, "image", a.String())
	}
	out := &awsapi.StartResourceStateUpdateResponse{ResourceArn: a.String()}
	var (
		started bool
		pending bool
	)
	err = s.update(ctx, func(tx store.Tx) error {
		started, pending = false, false
		return idempotent(ctx, tx, account, awsapi.OpStartResourceStateUpdate, in.ClientToken, in, out, func() error {
			now := s.now()
			_, img, err := s.ownedImage(ctx, tx, account, a)
			if err != nil {
				return err
			}
			st := imageStatus(img)
			container := img.Type == awsapi.ImageTypeDocker
			switch {
			case st == awsapi.ImageStatusDeleted:
				return invalidRequest("The image '%s' is DELETED; its state can no longer change.", a)
			case !slices.Contains(lifecycleFrom[awsapi.LifecycleExecutionResourceActionNameDelete], st):
				return awsapi.Errorf(awsapi.ErrCodeResourceInUseException,
					"The image '%s' is %s: its build is still in progress; change its state once it is over.", a, st)
			case container && (target == awsapi.ResourceStatusDeprecated || target == awsapi.ResourceStatusDisabled):
				return invalidRequest("The image '%s' is a container image; only AMI images can be %s (container images can be deleted).", a, target)
			case !slices.Contains(lifecycleFrom[action], st):
				return invalidRequest("The image '%s' is %s; it cannot go to %s (AVAILABLE from DEPRECATED or DISABLED, DEPRECATED from AVAILABLE, DISABLED from AVAILABLE or DEPRECATED, DELETED from any state but a build in progress).", a, st, target)
			}
			act := lifecycleAction{Image: a.String(), Action: action, Reason: "StartResourceStateUpdate to " + target}
			if inc := in.IncludeResources; inc != nil {
				if container && (deref(inc.Amis) || deref(inc.Snapshots)) {
					return badValue("includeResources", "'amis' and 'snapshots' apply only to AMI images; '%s' is a container image.", a)
				}
				if !container && deref(inc.Containers) {
					return badValue("includeResources.containers", "'containers' applies only to container images; '%s' is an AMI image.", a)
				}
				act.Include.Amis, act.Include.Snapshots, act.Include.Containers = deref(inc.Amis), deref(inc.Snapshots), deref(inc.Containers)
			}
			if ex := in.ExclusionRules; ex != nil && ex.Amis != nil {
				if container {
					return badValue("exclusionRules.amis", "AMI exclusion rules apply only to AMI images; '%s' is a container image.", a)
				}
				act.AMIExclusions = ex.Amis
			}
			e := lifecycleExecution{Resource: a.String(), Actions: []lifecycleAction{act}, ExecutionRole: in.ExecutionRole}
			if in.UpdateAt != nil {
				e.DueAt = in.UpdateAt.Time
			}
			e, err = s.beginLifecycle(ctx, tx, account, a.String(), e, now)
			if err != nil {
				return err
			}
			out.LifecycleExecutionId = e.LifecycleExecutionId
			started, pending = true, e.status() == awsapi.LifecycleExecutionStatusPending
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if started && !pending {
		// The update goes on if the caller hangs up: it has its answer.
		if _, err := s.performLifecycle(context.WithoutCancel(ctx), account, out.LifecycleExecutionId); err != nil {
			return nil, err
		}
	}
	return out, nil
}
