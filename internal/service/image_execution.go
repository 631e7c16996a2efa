package service

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/store"
)

// What the build engine recorded about a build, read back: workflow
// executions, their steps, and the image's package inventory. The engine
// writes these rows (internal/engine); the service only decides who may
// read them — the image's owner and the accounts it is shared with.

func (s *Service) imageExecutionHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpListWorkflowExecutions:     handle(s.ListWorkflowExecutions),
		awsapi.OpGetWorkflowExecution:       handle(s.GetWorkflowExecution),
		awsapi.OpListWorkflowStepExecutions: handle(s.ListWorkflowStepExecutions),
		awsapi.OpGetWorkflowStepExecution:   handle(s.GetWorkflowStepExecution),
		awsapi.OpListImagePackages:          handle(s.ListImagePackages),
	}
}

// visibleImage reads an image build the caller may see.
func (s *Service) visibleImage(ctx context.Context, tx store.Tx, account, member, value string) (store.Resource, error) {
	a, err := s.imageBuildARN(member, value)
	if err != nil {
		return store.Resource{}, err
	}
	return s.getVisible(ctx, tx, account, a, "Image")
}

// ListWorkflowExecutions lists the workflows an image build ran, in order.
func (s *Service) ListWorkflowExecutions(ctx context.Context, account string, in *awsapi.ListWorkflowExecutionsRequest) (*awsapi.ListWorkflowExecutionsResponse, error) {
	var image store.Resource
	if err := s.view(ctx, func(tx store.Tx) (err error) {
		image, err = s.visibleImage(ctx, tx, account, "imageBuildVersionArn", in.ImageBuildVersionArn)
		if err == nil && !LogsReadable(image, account) {
			// A shared image's build record stays its owner's (see
			// executionVisible).
			return notFound("The resource Image '%s' has no workflow executions visible to account %s.", image.ARN, account)
		}
		return err
	}); err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: awsapi.OpListWorkflowExecutions, params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{Kind: engine.KindWorkflowExecution, Region: s.Region, Name: image.ARN},
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.WorkflowExecutionMetadata, error) {
		var x engine.WorkflowExecution
		err := json.Unmarshal(r.Doc, &x)
		return awsapi.WorkflowExecutionMetadata{
			WorkflowBuildVersionArn: x.WorkflowBuildVersionArn, WorkflowExecutionId: x.WorkflowExecutionId,
			Type: x.Type, Status: x.Status, Message: x.Message, TotalStepCount: x.TotalStepCount,
			TotalStepsSucceeded: x.TotalStepsSucceeded, TotalStepsFailed: x.TotalStepsFailed,
			TotalStepsSkipped: x.TotalStepsSkipped, StartTime: x.StartTime, EndTime: x.EndTime,
			ParallelGroup: x.ParallelGroup,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListWorkflowExecutionsResponse{
		WorkflowExecutions: list, ImageBuildVersionArn: image.ARN, NextToken: next,
	}, nil
}

// executionVisible checks that account owns the image a workflow
// execution belongs to; unknown and invisible executions look the same.
// Workflow and step executions are the build's record (step messages and
// outputs carry what the build printed), so like the build logs they stay
// with the image's owner when a policy shares the image itself.
func (s *Service) executionVisible(ctx context.Context, tx store.Tx, account, image string, missing error) error {
	r, err := tx.Get(ctx, image)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !LogsReadable(r, account)) {
		return missing
	}
	return err
}

// GetWorkflowExecution returns one workflow execution.
func (s *Service) GetWorkflowExecution(ctx context.Context, account string, in *awsapi.GetWorkflowExecutionRequest) (*awsapi.GetWorkflowExecutionResponse, error) {
	missing := notFound("The workflow execution '%s' does not exist.", in.WorkflowExecutionId)
	var out awsapi.GetWorkflowExecutionResponse
	err := s.view(ctx, func(tx store.Tx) error {
		x, _, err := engine.GetWorkflowExecution(ctx, tx, in.WorkflowExecutionId)
		if errors.Is(err, store.ErrNotFound) {
			return missing
		} else if err != nil {
			return err
		}
		out = x.GetWorkflowExecutionResponse
		return s.executionVisible(ctx, tx, account, x.ImageBuildVersionArn, missing)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWorkflowStepExecutions lists the steps of one workflow execution.
func (s *Service) ListWorkflowStepExecutions(ctx context.Context, account string, in *awsapi.ListWorkflowStepExecutionsRequest) (*awsapi.ListWorkflowStepExecutionsResponse, error) {
	missing := notFound("The workflow execution '%s' does not exist.", in.WorkflowExecutionId)
	var x engine.WorkflowExecution
	err := s.view(ctx, func(tx store.Tx) error {
		var err error
		x, _, err = engine.GetWorkflowExecution(ctx, tx, in.WorkflowExecutionId)
		if errors.Is(err, store.ErrNotFound) {
			return missing
		} else if err != nil {
			return err
		}
		return s.executionVisible(ctx, tx, account, x.ImageBuildVersionArn, missing)
	})
	if err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: awsapi.OpListWorkflowStepExecutions, params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{Kind: engine.KindStepExecution, Region: s.Region, Name: x.WorkflowExecutionId},
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.WorkflowStepMetadata, error) {
		var st engine.StepExecution
		err := json.Unmarshal(r.Doc, &st)
		return awsapi.WorkflowStepMetadata{
			StepExecutionId: st.StepExecutionId, Name: st.Name, Description: st.Description, Action: st.Action,
			Status: st.Status, RollbackStatus: st.RollbackStatus, Message: st.Message, Inputs: st.Inputs,
			Outputs: st.Outputs, StartTime: st.StartTime, EndTime: st.EndTime,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListWorkflowStepExecutionsResponse{
		Steps: list, WorkflowBuildVersionArn: x.WorkflowBuildVersionArn, WorkflowExecutionId: x.WorkflowExecutionId,
		ImageBuildVersionArn: x.ImageBuildVersionArn, NextToken: next,
	}, nil
}

// GetWorkflowStepExecution returns one step execution.
func (s *Service) GetWorkflowStepExecution(ctx context.Context, account string, in *awsapi.GetWorkflowStepExecutionRequest) (*awsapi.GetWorkflowStepExecutionResponse, error) {
	missing := notFound("The workflow step execution '%s' does not exist.", in.StepExecutionId)
	var out awsapi.GetWorkflowStepExecutionResponse
	err := s.view(ctx, func(tx store.Tx) error {
		st, _, err := engine.GetStepExecution(ctx, tx, in.StepExecutionId)
		if errors.Is(err, store.ErrNotFound) {
			return missing
		} else if err != nil {
			return err
		}
		out = st.GetWorkflowStepExecutionResponse
		return s.executionVisible(ctx, tx, account, st.ImageBuildVersionArn, missing)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListImagePackages lists the packages the build found installed in the
// image (dpkg, rpm or apk databases), in the order the databases list
// them. Images built without enhanced metadata have an empty list.
func (s *Service) ListImagePackages(ctx context.Context, account string, in *awsapi.ListImagePackagesRequest) (*awsapi.ListImagePackagesResponse, error) {
	params := *in
	params.NextToken, params.MaxResults = "", nil
	query, err := requestHash(params)
	if err != nil {
		return nil, err
	}
	start := 0
	if in.NextToken != "" {
		after, err := s.decodeToken(in.NextToken, awsapi.OpListImagePackages, query)
		if err != nil {
			return nil, err
		}
		if start, err = strconv.Atoi(after); err != nil {
			return nil, awsapi.Errorf(awsapi.ErrCodeInvalidPaginationTokenException, "The pagination token '%s' is not valid for ListImagePackages.", in.NextToken)
		}
	}
	limit := defaultMaxResults
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	var pkgs []awsapi.ImagePackage
	err = s.view(ctx, func(tx store.Tx) error {
		image, err := s.visibleImage(ctx, tx, account, "imageBuildVersionArn", in.ImageBuildVersionArn)
		if err != nil {
			return err
		}
		pkgs, err = engine.ImagePackages(ctx, tx, image.ARN)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &awsapi.ListImagePackagesResponse{ImagePackageList: []awsapi.ImagePackage{}}
	if start < len(pkgs) {
		end := min(start+limit, len(pkgs))
		out.ImagePackageList = pkgs[start:end]
		if end < len(pkgs) {
			out.NextToken = s.encodeToken(cursor{Op: awsapi.OpListImagePackages, Query: query, After: strconv.Itoa(end)})
		}
	}
	return out, nil
}
