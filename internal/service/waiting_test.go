package service

import (
	"context"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// TestSendWorkflowStepActionRefusals: what SendWorkflowStepAction and
// ListWaitingWorkflowSteps refuse, with the error type a client expects,
// before any build waits (the waiting paths run end to end in test/wf).
func TestSendWorkflowStepActionRefusals(t *testing.T) {
	ctx := context.Background()
	s := newWorkflowTestService(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	const account = "111122223333"
	image := "arn:aws:imagebuilder:us-east-1:" + account + ":image/web/1.0.0/1"
	for _, tc := range []struct {
		name string
		in   awsapi.SendWorkflowStepActionRequest
		code string
	}{
		{"bad image ARN", awsapi.SendWorkflowStepActionRequest{StepExecutionId: "step-1", ImageBuildVersionArn: "not-an-arn", Action: "RESUME", ClientToken: "t1"}, awsapi.ErrCodeInvalidParameterValueException},
		{"image version, not build", awsapi.SendWorkflowStepActionRequest{StepExecutionId: "step-1", ImageBuildVersionArn: image[:len(image)-2], Action: "RESUME", ClientToken: "t2"}, awsapi.ErrCodeInvalidParameterValueException},
		{"unknown action", awsapi.SendWorkflowStepActionRequest{StepExecutionId: "step-1", ImageBuildVersionArn: image, Action: "PAUSE", ClientToken: "t3"}, awsapi.ErrCodeInvalidParameterValueException},
		{"unknown image", awsapi.SendWorkflowStepActionRequest{StepExecutionId: "step-1", ImageBuildVersionArn: image, Action: "STOP", ClientToken: "t4"}, awsapi.ErrCodeResourceNotFoundException},
	} {
		_, err := s.SendWorkflowStepAction(ctx, account, &tc.in)
		if errCode(err) != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
		}
	}
	out, err := s.ListWaitingWorkflowSteps(ctx, account, &awsapi.ListWaitingWorkflowStepsRequest{})
	if err != nil || len(out.Steps) != 0 || out.NextToken != "" {
		t.Errorf("ListWaitingWorkflowSteps with nothing waiting: %v %+v", err, out)
	}
	_, err = s.ListWaitingWorkflowSteps(ctx, account, &awsapi.ListWaitingWorkflowStepsRequest{NextToken: "forged"})
	if errCode(err) != awsapi.ErrCodeInvalidPaginationTokenException {
		t.Errorf("a forged token: %v", err)
	}
}
