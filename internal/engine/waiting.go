package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// errWaitTimedOut is a WaitForAction step's failure when its timeout
// passed with no action sent.
var errWaitTimedOut = errors.New("no RESUME or STOP was sent to the step in time")

// waitPoll is how often a waiting step reads its record for an action.
// SendWorkflowStepAction writes the action into the store, so any kiln
// process sharing the store can take it, and a restart loses nothing.
const waitPoll = 300 * time.Millisecond

type waitResult struct {
	stop     bool // the step was STOPped: the workflow aborts whatever onFailure says
	shutdown bool // kiln is stopping: the step stays waiting for the next start
}

// waitingMessage is a waiting step's message: what to do to go on.
const waitingMessage = "Waiting for an action: send RESUME or STOP with SendWorkflowStepAction (or kiln workflow resume|stop IMAGE-ARN)."

// waitForAction runs a WaitForAction step: the step is recorded as
// waiting (status RUNNING, the model having no WAITING status, and a row
// ListWaitingWorkflowSteps finds), then waits for SendWorkflowStepAction.
// RESUME completes the step, STOP fails it and aborts the workflow; the
// step's outputs are the action and its reason. An action sent to the
// same step in an earlier attempt of the build (kiln restarted since) is
// taken at once. kiln has no SNS or Lambda: snsTopicArn,
// lambdaFunctionName and payload are written to the step's log instead.
func (e *Engine) waitForAction(ctx context.Context, b *Build, s *StepExecution, step *Step) (waitResult, error) {
	for _, in := range []string{"snsTopicArn", "lambdaFunctionName"} {
		if v := step.InputString(in); v != "" {
			step.Logf("%s %s: kiln has no SNS or Lambda to notify; the step waits here and in ListWaitingWorkflowSteps", in, v)
		}
	}
	if p, ok := step.Input("payload"); ok {
		text, _ := json.Marshal(p)
		if str, isStr := p.(string); isStr {
			text = []byte(str)
		}
		step.Logf("payload: %s", text)
	}
	sent, err := e.earlierAction(ctx, *s)
	if err != nil {
		return waitResult{}, err
	}
	if sent != nil {
		step.Logf("%s was sent to this step before kiln restarted the build; taking it", sent.Action)
	} else {
		sent, err = e.wait(ctx, b, s, step)
		if sent == nil {
			return waitResult{shutdown: err == nil}, err
		}
	}
	s.Sent = sent
	step.Outputs["action"] = sent.Action
	step.Outputs["reason"] = sent.Reason
	if sent.Action == awsapi.WorkflowStepActionTypeStop {
		msg := "the step was stopped with SendWorkflowStepAction STOP"
		if sent.Reason != "" {
			msg += ": " + sent.Reason
		}
		return waitResult{stop: true}, errors.New(msg)
	}
	step.Logf("RESUME sent by account %s%s", sent.By, reasonSuffix(sent.Reason))
	return waitResult{}, nil
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// wait marks the step waiting and polls its record until an action comes.
// It returns the action, or nil with the error that ended the wait (the
// timeout, a cancellation), or nil and nil when kiln is stopping.
func (e *Engine) wait(ctx context.Context, b *Build, s *StepExecution, step *Step) (*StepAction, error) {
	s.Waiting, s.Message = true, waitingMessage
	owner, _ := arn.Parse(b.Image.Arn)
	listed, _ := json.Marshal(awsapi.WorkflowStepExecution{
		StepExecutionId: s.StepExecutionId, ImageBuildVersionArn: s.ImageBuildVersionArn,
		WorkflowExecutionId: s.WorkflowExecutionId, WorkflowBuildVersionArn: s.WorkflowBuildVersionArn,
		Name: s.Name, Action: s.Action, StartTime: s.StartTime,
	})
	now := e.now()
	err := e.Store.Update(ctx, func(tx store.Tx) error {
		if err := e.putStep(ctx, tx, b.Image.Arn, *s); err != nil {
			return err
		}
		return tx.Insert(ctx, store.Resource{
			ARN: waitingStepKey(s.StepExecutionId), Kind: KindWaitingStep, Account: owner.Account, Region: e.Region,
			Name: b.Image.Arn, Doc: listed, Created: now, Updated: now,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("recording the wait: %w", err)
	}
	step.Logf("waiting for RESUME or STOP (step execution %s): aws imagebuilder send-workflow-step-action, or kiln workflow resume|stop %s", s.StepExecutionId, b.Image.Arn)
	if sl := buildSlot(ctx); sl != nil {
		// Waiting takes no worker: other builds run meanwhile.
		sl.release()
		e.wakeLocal()
		defer func() {
			if err := sl.acquire(ctx); err != nil {
				step.Logf("waiting for a free worker: %v", err)
			}
		}()
	}

	t := time.NewTicker(waitPoll)
	defer t.Stop()
	for {
		var got *StepAction
		err := e.Store.View(ctx, func(tx store.Tx) error {
			cur, _, err := GetStepExecution(ctx, tx, s.StepExecutionId)
			got = cur.Sent
			return err
		})
		if err == nil && got != nil {
			e.stopWaiting(ctx, s)
			return got, nil
		}
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
		}
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, errCancelled):
			e.stopWaiting(ctx, s)
			return nil, cause
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			e.stopWaiting(ctx, s)
			return nil, fmt.Errorf("%w: nothing was sent within %s", errWaitTimedOut, step.Timeout)
		case errors.Is(cause, context.Canceled):
			// kiln is stopping: the step stays listed as waiting, and an
			// action sent meanwhile (through another kiln on the same
			// store) is taken by the next attempt.
			return nil, nil
		default:
			e.stopWaiting(ctx, s)
			return nil, cause
		}
	}
}

// stopWaiting removes the step from the waiting list.
func (e *Engine) stopWaiting(ctx context.Context, s *StepExecution) {
	s.Waiting, s.Message = false, ""
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := e.Store.Update(rctx, func(tx store.Tx) error {
		if err := tx.Delete(rctx, waitingStepKey(s.StepExecutionId)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		e.Log.Error("removing a waiting step", "step", s.StepExecutionId, "err", err)
	}
}

// earlierAction finds the action sent to the same step (same workflow,
// same step name) of an earlier attempt of this build.
func (e *Engine) earlierAction(ctx context.Context, s StepExecution) (*StepAction, error) {
	var found *StepAction
	err := e.Store.View(ctx, func(tx store.Tx) error {
		execs, err := WorkflowExecutions(ctx, tx, e.Region, s.ImageBuildVersionArn)
		if err != nil {
			return err
		}
		for _, x := range execs {
			if x.WorkflowExecutionId == s.WorkflowExecutionId || x.WorkflowBuildVersionArn != s.WorkflowBuildVersionArn {
				continue
			}
			steps, err := StepExecutions(ctx, tx, e.Region, x.WorkflowExecutionId)
			if err != nil {
				return err
			}
			for _, st := range steps {
				if st.Name == s.Name && st.Sent != nil && (found == nil || st.Sent.At > found.At) {
					found = st.Sent
				}
			}
		}
		return nil
	})
	return found, err
}

// WaitingStepKind is the kind of the rows ListWaitingWorkflowSteps reads.
const WaitingStepKind = KindWaitingStep

// DecodeWaitingStep reads a waiting-step row.
func DecodeWaitingStep(r store.Resource) (awsapi.WorkflowStepExecution, error) {
	return decode[awsapi.WorkflowStepExecution](r)
}

// SendStepAction records action (RESUME or STOP) for the waiting step id
// of image, sent by account, inside the caller's transaction; the build
// waiting on it takes it within a moment. It fails with
// store.ErrNotFound when there is no such step, and with ErrNotWaiting
// when the step is not waiting or already has an action.
func SendStepAction(ctx context.Context, tx store.Tx, image, id string, action StepAction) error {
	r, err := tx.Get(ctx, stepExecutionKey(id))
	if err != nil {
		return err
	}
	s, err := decode[StepExecution](r)
	if err != nil {
		return err
	}
	if s.ImageBuildVersionArn != image {
		return store.ErrNotFound
	}
	if !s.Waiting || s.Sent != nil {
		return ErrNotWaiting
	}
	s.Sent = &action
	s.Waiting = false
	doc, err := json.Marshal(s)
	if err != nil {
		return err
	}
	r.Doc, r.Updated = doc, time.Now().UTC()
	if err := tx.Put(ctx, r); err != nil {
		return err
	}
	if err := tx.Delete(ctx, waitingStepKey(id)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// ErrNotWaiting: the step is not waiting for an action.
var ErrNotWaiting = errors.New("the step is not waiting for an action")
