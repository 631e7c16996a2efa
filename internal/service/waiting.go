package service

import (
	"context"
	"errors"
	"sort"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/store"
)

// ListWaitingWorkflowSteps lists the caller's WaitForAction steps that
// wait for SendWorkflowStepAction now, across the account's image
// builds, in step execution id order. The list is short (a step waits
// for a person), so it is read whole and paged here; the token carries
// the last step's id, which stays a valid position when that step stops
// waiting between pages.
func (s *Service) ListWaitingWorkflowSteps(ctx context.Context, account string, in *awsapi.ListWaitingWorkflowStepsRequest) (*awsapi.ListWaitingWorkflowStepsResponse, error) {
	qhash, err := requestHash(struct{}{})
	if err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != "" {
		if after, err = s.decodeToken(in.NextToken, awsapi.OpListWaitingWorkflowSteps, qhash); err != nil {
			return nil, err
		}
	}
	limit := defaultMaxResults
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	out := &awsapi.ListWaitingWorkflowStepsResponse{Steps: []awsapi.WorkflowStepExecution{}}
	err = s.view(ctx, func(tx store.Tx) error {
		rows, err := tx.List(ctx, store.Query{Kind: engine.WaitingStepKind, Region: s.Region, Owners: []string{account}})
		if err != nil {
			return err
		}
		var steps []awsapi.WorkflowStepExecution
		for _, r := range rows {
			st, err := engine.DecodeWaitingStep(r)
			if err != nil {
				return err
			}
			if st.StepExecutionId > after {
				steps = append(steps, st)
			}
		}
		sort.Slice(steps, func(i, j int) bool { return steps[i].StepExecutionId < steps[j].StepExecutionId })
		if len(steps) > limit {
			steps = steps[:limit]
			out.NextToken = s.encodeToken(cursor{Op: awsapi.OpListWaitingWorkflowSteps, Query: qhash, After: steps[limit-1].StepExecutionId})
		}
		out.Steps = append(out.Steps, steps...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sendStepActionAction is the IAM action an image's resource policy
// grants another account to act on the image's waiting steps.
const sendStepActionAction = "imagebuilder:SendWorkflowStepAction"

// mayActOnSteps checks that account may act on the steps of image a: it
// owns the image, or the image's resource policy allows it
// imagebuilder:SendWorkflowStepAction.
func (s *Service) mayActOnSteps(ctx context.Context, tx store.Tx, account string, a arn.ARN) error {
	r, err := s.getVisible(ctx, tx, account, a, "Image")
	if err != nil {
		return err
	}
	if r.Account != account && !policyAllows(r, account, sendStepActionAction) {
		return awsapi.Errorf(awsapi.ErrCodeForbiddenException, "The Image '%s' is not owned by account %s, and its resource policy does not allow it %s.", a, account, sendStepActionAction)
	}
	return nil
}

// SendWorkflowStepAction resumes (RESUME) or stops (STOP) a waiting
// WaitForAction step. The image's owner may act on its steps, and so may
// an account the image's resource policy allows
// imagebuilder:SendWorkflowStepAction. The action is stored with the step, so the build takes it even
// if kiln restarts before it does; the clientToken makes a repeated
// request answer the same without acting twice. A step that is not
// waiting (it never did, it was acted on, the build ended) is an
// InvalidRequestException.
func (s *Service) SendWorkflowStepAction(ctx context.Context, account string, in *awsapi.SendWorkflowStepActionRequest) (*awsapi.SendWorkflowStepActionResponse, error) {
	a, err := s.imageBuildARN("imageBuildVersionArn", in.ImageBuildVersionArn)
	if err != nil {
		return nil, err
	}
	if in.Action != awsapi.WorkflowStepActionTypeResume && in.Action != awsapi.WorkflowStepActionTypeStop {
		return nil, badValue("action", "The action must be RESUME or STOP, not '%s'.", in.Action)
	}
	out := &awsapi.SendWorkflowStepActionResponse{StepExecutionId: in.StepExecutionId, ImageBuildVersionArn: a.String(), ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpSendWorkflowStepAction, in.ClientToken, in, out, func() error {
			if err := s.mayActOnSteps(ctx, tx, account, a); err != nil {
				return err
			}
			err := engine.SendStepAction(ctx, tx, a.String(), in.StepExecutionId, engine.StepAction{
				Action: in.Action, Reason: in.Reason, By: account, At: formatDateTime(s.now()),
			})
			switch {
			case errors.Is(err, store.ErrNotFound):
				return notFound("The workflow step execution '%s' of image '%s' does not exist.", in.StepExecutionId, a)
			case errors.Is(err, engine.ErrNotWaiting):
				return invalidRequest("The workflow step execution '%s' is not waiting for an action: only a WaitForAction step that is waiting can be resumed or stopped.", in.StepExecutionId)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
