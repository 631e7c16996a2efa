package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
)

const workflowUsage = `usage: kiln workflow resume|stop [--endpoint URL] [--reason TEXT] IMAGE-ARN

Resumes or stops an image build paused at a WaitForAction step: the step
waiting in the image's build (ListWaitingWorkflowSteps) gets RESUME,
which lets the build go on, or STOP, which ends it FAILED with a reason
naming the step and --reason. Credentials come from the standard AWS
chain (any on a loopback kiln); the endpoint from --endpoint or
KILN_ENDPOINT.`

// workflowMain is `kiln workflow`.
func workflowMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "resume" && args[0] != "stop") {
		fmt.Fprintln(stderr, workflowUsage)
		return 2
	}
	verb := args[0]
	fs, endpoint := clientFlags("kiln workflow "+verb, workflowUsage, stderr)
	reason := fs.String("reason", "", "why, recorded as the step's reason output")
	image, ok := oneArgument(fs, args[1:])
	if !ok {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	client, err := imageBuilderClient(ctx, *endpoint)
	if err != nil {
		fmt.Fprintf(stderr, "kiln workflow %s: %v\n", verb, err)
		return 1
	}
	step, err := waitingStep(ctx, client, image)
	if err != nil {
		fmt.Fprintf(stderr, "kiln workflow %s: %v\n", verb, err)
		return 1
	}
	token := make([]byte, 16)
	rand.Read(token)
	action := types.WorkflowStepActionTypeResume
	if verb == "stop" {
		action = types.WorkflowStepActionTypeStop
	}
	in := &imagebuilder.SendWorkflowStepActionInput{
		StepExecutionId: step.StepExecutionId, ImageBuildVersionArn: aws.String(image),
		Action: action, ClientToken: aws.String(hex.EncodeToString(token)),
	}
	if *reason != "" {
		in.Reason = reason
	}
	if _, err := client.SendWorkflowStepAction(ctx, in); err != nil {
		fmt.Fprintf(stderr, "kiln workflow %s: %v\n", verb, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s sent to step %s (%s)\n", action, aws.ToString(step.Name), aws.ToString(step.StepExecutionId))
	return 0
}

// waitingStep finds the step of image that waits for an action.
func waitingStep(ctx context.Context, client *imagebuilder.Client, image string) (types.WorkflowStepExecution, error) {
	p := imagebuilder.NewListWaitingWorkflowStepsPaginator(client, &imagebuilder.ListWaitingWorkflowStepsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return types.WorkflowStepExecution{}, err
		}
		for _, s := range page.Steps {
			if aws.ToString(s.ImageBuildVersionArn) == image {
				return s, nil
			}
		}
	}
	return types.WorkflowStepExecution{}, errors.New("no step of " + image + " is waiting for an action (ListWaitingWorkflowSteps lists none)")
}

// imageBuilderClient is an Image Builder client of kiln at endpoint, signing with
// the standard AWS credential chain; with no credentials configured at
// all it signs with placeholder ones, which a kiln on a loopback address
// accepts.
func imageBuilderClient(ctx context.Context, endpoint string) (*imagebuilder.Client, error) {
	region := os.Getenv("AWS_REGION")
	if region == "" {
		region = os.Getenv("AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if !credentialsConfigured() {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("kiln", "kiln", "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return imagebuilder.NewFromConfig(cfg, func(o *imagebuilder.Options) {
		o.BaseEndpoint = aws.String(strings.TrimRight(endpoint, "/"))
	}), nil
}

// credentialsConfigured reports whether the environment or the shared
// files name credentials: without, the chain would end at the EC2
// metadata service, which a kiln host is usually not.
func credentialsConfigured() bool {
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		if os.Getenv(v) != "" {
			return true
		}
	}
	home, _ := os.UserHomeDir()
	for _, f := range []string{os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), os.Getenv("AWS_CONFIG_FILE"), home + "/.aws/credentials", home + "/.aws/config"} {
		if f != "" {
			if _, err := os.Stat(f); err == nil {
				return true
			}
		}
	}
	return false
}
