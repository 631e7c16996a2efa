package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

const (
	testAccount   = "111122223333"
	testRecipe    = "arn:aws:imagebuilder:us-east-1:111122223333:image-recipe/r/1.0.0"
	testRecipe2   = "arn:aws:imagebuilder:us-east-1:111122223333:image-recipe/r/1.2.0"
	testContainer = "arn:aws:imagebuilder:us-east-1:111122223333:container-recipe/c/1.0.0"
	testInfra     = "arn:aws:imagebuilder:us-east-1:111122223333:infrastructure-configuration/i"
	testDist      = "arn:aws:imagebuilder:us-east-1:111122223333:distribution-configuration/d"
)

// seedPipelineDeps stores the resources a pipeline refers to, as the
// recipe and configuration operations would.
func seedPipelineDeps(t *testing.T, s *Service) {
	t.Helper()
	ctx := context.Background()
	rows := []store.Resource{
		{ARN: testRecipe, Kind: "image-recipe", Name: "r", Version: "1.0.0", Doc: []byte(`{"platform":"Linux"}`)},
		{ARN: testRecipe2, Kind: "image-recipe", Name: "r", Version: "1.2.0", Doc: []byte(`{"platform":"Linux"}`)},
		{ARN: testContainer, Kind: "container-recipe", Name: "c", Version: "1.0.0", Doc: []byte(`{"platform":"Linux"}`)},
		{ARN: testInfra, Kind: "infrastructure-configuration", Name: "i", Doc: []byte(`{}`)},
		{ARN: testDist, Kind: "distribution-configuration", Name: "d", Doc: []byte(`{}`)},
	}
	err := s.update(ctx, func(tx store.Tx) error {
		for _, r := range rows {
			r.Account, r.Region = testAccount, "us-east-1"
			if err := tx.Insert(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNextRun(t *testing.T) {
	// 2026-03-28 is the Saturday before Europe's switch to summer time.
	now := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	setAt := "2026-03-28T10:30:00.000Z"
	tests := []struct {
		name, expr, zone, status, want string
	}{
		{"cron UTC", "cron(0 9 * * ? *)", "", "ENABLED", "2026-03-29T09:00:00.000Z"},
		{"cron across DST", "cron(0 9 * * ? *)", "Europe/Berlin", "ENABLED", "2026-03-29T07:00:00.000Z"},
		{"cron before DST", "cron(0 13 * * ? *)", "Europe/Berlin", "ENABLED", "2026-03-29T11:00:00.000Z"},
		{"rate from when set", "rate(4 hours)", "", "ENABLED", "2026-03-28T14:30:00.000Z"},
		{"disabled", "cron(0 9 * * ? *)", "", "DISABLED", ""},
		{"manual", "", "", "ENABLED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := awsapi.ImagePipeline{Status: tt.status, DateUpdated: setAt,
				Schedule: &awsapi.Schedule{ScheduleExpression: tt.expr, Timezone: tt.zone}}
			if got := nextRun(p, now); got != tt.want {
				t.Errorf("nextRun = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckPipelineDefaults(t *testing.T) {
	p := awsapi.ImagePipeline{ImageRecipeArn: testRecipe, Schedule: &awsapi.Schedule{ScheduleExpression: "cron(0 9 * * ? *)"},
		ImageTestsConfiguration: &awsapi.ImageTestsConfiguration{ImageTestsEnabled: ptr(false)}}
	if err := checkPipeline(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != "ENABLED" || !*p.EnhancedImageMetadataEnabled || *p.ImageTestsConfiguration.ImageTestsEnabled ||
		*p.ImageTestsConfiguration.TimeoutMinutes != 720 || p.Schedule.Timezone != "UTC" ||
		p.Schedule.PipelineExecutionStartCondition != "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE" {
		t.Errorf("defaults = %+v %+v %+v", p, p.ImageTestsConfiguration, p.Schedule)
	}
	bad := []struct {
		p          awsapi.ImagePipeline
		code, want string
	}{
		{awsapi.ImagePipeline{}, "InvalidRequestException", "either 'imageRecipeArn' or 'containerRecipeArn'"},
		{awsapi.ImagePipeline{ImageRecipeArn: testRecipe, ContainerRecipeArn: testContainer}, "InvalidRequestException", "not both"},
		{awsapi.ImagePipeline{ImageRecipeArn: testRecipe, Workflows: []awsapi.WorkflowConfiguration{{WorkflowArn: "x"}}}, "InvalidRequestException", "An execution role is required to provide workflows"},
		{awsapi.ImagePipeline{ImageRecipeArn: testRecipe, Schedule: &awsapi.Schedule{ScheduleExpression: "cron(0 25 * * ? *)"}}, "InvalidParameterValueException", "'schedule.scheduleExpression'"},
		{awsapi.ImagePipeline{ImageRecipeArn: testRecipe, Schedule: &awsapi.Schedule{ScheduleExpression: "every day"}}, "InvalidParameterValueException", "'schedule.scheduleExpression'"},
		{awsapi.ImagePipeline{ImageRecipeArn: testRecipe, Schedule: &awsapi.Schedule{ScheduleExpression: "rate(1 day)", Timezone: "Mars/Olympus"}}, "InvalidParameterValueException", "'schedule.timezone'"},
	}
	for _, b := range bad {
		err := checkPipeline(&b.p)
		if errCode(err) != b.code || !strings.Contains(err.Error(), b.want) {
			t.Errorf("checkPipeline(%+v) = %v, want %s containing %q", b.p, err, b.code, b.want)
		}
	}
}

func TestPipelineLifecycle(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	s := newWorkflowTestService(t, now)
	seedPipelineDeps(t, s)
	in := &awsapi.CreateImagePipelineRequest{
		Name: "Nightly Build", ImageRecipeArn: "arn:aws:imagebuilder:us-east-1:111122223333:image-recipe/r/1.x.x",
		InfrastructureConfigurationArn: testInfra, DistributionConfigurationArn: testDist,
		Schedule: &awsapi.Schedule{ScheduleExpression: "cron(0 9 * * ? *)", Timezone: "Europe/Berlin"},
		Tags:     map[string]string{"team": "images"}, ClientToken: "c1",
	}
	out, err := s.CreateImagePipeline(ctx, testAccount, in)
	if err != nil {
		t.Fatal(err)
	}
	if want := "arn:aws:imagebuilder:us-east-1:111122223333:image-pipeline/nightly-build"; out.ImagePipelineArn != want {
		t.Fatalf("arn = %s", out.ImagePipelineArn)
	}
	dup := *in
	dup.ClientToken = "c2"
	if _, err := s.CreateImagePipeline(ctx, testAccount, &dup); errCode(err) != "ResourceAlreadyExistsException" {
		t.Errorf("duplicate name: %v", err)
	}
	missing := *in
	missing.Name, missing.ClientToken, missing.DistributionConfigurationArn = "other", "c3", testDist+"-gone"
	if _, err := s.CreateImagePipeline(ctx, testAccount, &missing); errCode(err) != "InvalidParameterValueException" || !strings.Contains(err.Error(), "distributionConfigurationArn") {
		t.Errorf("missing distribution configuration: %v", err)
	}
	get, err := s.GetImagePipeline(ctx, testAccount, &awsapi.GetImagePipelineRequest{ImagePipelineArn: out.ImagePipelineArn})
	if err != nil {
		t.Fatal(err)
	}
	p := get.ImagePipeline
	if p.Name != "Nightly Build" || p.Platform != "Linux" || p.ImageRecipeArn != in.ImageRecipeArn || p.Tags["team"] != "images" ||
		p.DateCreated != "2026-03-28T12:00:00.000Z" || p.DateNextRun != "2026-03-29T07:00:00.000Z" {
		t.Errorf("GetImagePipeline = %+v", p)
	}

	s.Now = func() time.Time { return now.Add(time.Hour) }
	upd := &awsapi.UpdateImagePipelineRequest{ImagePipelineArn: out.ImagePipelineArn, ImageRecipeArn: testRecipe,
		InfrastructureConfigurationArn: testInfra, Status: "ENABLED",
		Schedule: &awsapi.Schedule{ScheduleExpression: "cron(30 18 * * ? *)"}, ClientToken: "u1"}
	if _, err := s.UpdateImagePipeline(ctx, testAccount, upd); err != nil {
		t.Fatal(err)
	}
	get, _ = s.GetImagePipeline(ctx, testAccount, &awsapi.GetImagePipelineRequest{ImagePipelineArn: out.ImagePipelineArn})
	p = get.ImagePipeline
	if p.DistributionConfigurationArn != "" || p.DateNextRun != "2026-03-28T18:30:00.000Z" || p.DateUpdated != "2026-03-28T13:00:00.000Z" ||
		p.DateCreated != "2026-03-28T12:00:00.000Z" || p.Tags["team"] != "images" || p.Name != "Nightly Build" {
		t.Errorf("after update = %+v", p)
	}
	toContainer := *upd
	toContainer.ImageRecipeArn, toContainer.ContainerRecipeArn, toContainer.ClientToken = "", testContainer, "u2"
	if _, err := s.UpdateImagePipeline(ctx, testAccount, &toContainer); errCode(err) != "InvalidRequestException" {
		t.Errorf("switching recipe kind: %v", err)
	}

	list, err := s.ListImagePipelines(ctx, testAccount, &awsapi.ListImagePipelinesRequest{Filters: []awsapi.Filter{{Name: "imageRecipeArn", Values: []string{testRecipe}}}})
	if err != nil || len(list.ImagePipelineList) != 1 || list.ImagePipelineList[0].DateNextRun == "" {
		t.Errorf("filtered list = %+v, %v", list, err)
	}
	list, err = s.ListImagePipelines(ctx, testAccount, &awsapi.ListImagePipelinesRequest{Filters: []awsapi.Filter{{Name: "status", Values: []string{"DISABLED"}}}})
	if err != nil || len(list.ImagePipelineList) != 0 {
		t.Errorf("status filter = %+v, %v", list, err)
	}
	users, err := func() (u []store.Resource, err error) {
		err = s.view(ctx, func(tx store.Tx) error {
			u, err = s.dependents(ctx, tx, []string{testRecipe, testInfra}, "image-pipeline")
			return err
		})
		return
	}()
	if err != nil || len(users) != 1 {
		t.Errorf("dependents = %v, %v", users, err)
	}
	if _, err := s.DeleteImagePipeline(ctx, testAccount, &awsapi.DeleteImagePipelineRequest{ImagePipelineArn: out.ImagePipelineArn}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetImagePipeline(ctx, testAccount, &awsapi.GetImagePipelineRequest{ImagePipelineArn: out.ImagePipelineArn}); errCode(err) != "ResourceNotFoundException" {
		t.Errorf("get after delete: %v", err)
	}
}

func TestPipelineWorkflows(t *testing.T) {
	ctx := context.Background()
	s := newWorkflowTestService(t, time.Now())
	seedPipelineDeps(t, s)
	if err := s.SeedWorkflows(ctx); err != nil {
		t.Fatal(err)
	}
	wf, err := s.CreateWorkflow(ctx, testAccount, &awsapi.CreateWorkflowRequest{Name: "mine", SemanticVersion: "1.0.0", Type: "BUILD", Data: testBuildWorkflow, ClientToken: "w"})
	if err != nil {
		t.Fatal(err)
	}
	base := awsapi.CreateImagePipelineRequest{Name: "wf", ImageRecipeArn: testRecipe, InfrastructureConfigurationArn: testInfra, ExecutionRole: "ImageBuilderRole"}
	tests := []struct {
		name       string
		workflows  []awsapi.WorkflowConfiguration
		code, want string
	}{
		{"unknown workflow", []awsapi.WorkflowConfiguration{{WorkflowArn: "arn:aws:imagebuilder:us-east-1:111122223333:workflow/build/nope/x.x.x"}}, "InvalidParameterValueException", "workflows[0].workflowArn"},
		{"unknown parameter", []awsapi.WorkflowConfiguration{{WorkflowArn: wf.WorkflowBuildVersionArn, Parameters: []awsapi.WorkflowParameter{{Name: "nope", Value: []string{"1"}}}}}, "InvalidParameterValueException", "workflows[0].parameters[0].name"},
		{"bad boolean", []awsapi.WorkflowConfiguration{{WorkflowArn: wf.WorkflowBuildVersionArn, Parameters: []awsapi.WorkflowParameter{{Name: "approve", Value: []string{"yes"}}}}}, "InvalidParameterValueException", "workflows[0].parameters[0].value"},
		{"ok", []awsapi.WorkflowConfiguration{
			{WorkflowArn: "arn:aws:imagebuilder:us-east-1:aws:workflow/build/build-image/x.x.x"},
			{WorkflowArn: wf.WorkflowBuildVersionArn, Parameters: []awsapi.WorkflowParameter{{Name: "approve", Value: []string{"true"}}}},
			{WorkflowArn: "arn:aws:imagebuilder:us-east-1:aws:workflow/test/test-image/1.0.0/1", ParallelGroup: "g1", OnFailure: "CONTINUE"},
		}, "", ""},
	}
	for _, tt := range tests {
		in := base
		in.Workflows, in.ClientToken = tt.workflows, tt.name
		_, err := s.CreateImagePipeline(ctx, testAccount, &in)
		if errCode(err) != tt.code || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: got %v, want %s containing %q", tt.name, err, tt.code, tt.want)
		}
	}
	if _, err := s.DeleteWorkflow(ctx, testAccount, &awsapi.DeleteWorkflowRequest{WorkflowBuildVersionArn: wf.WorkflowBuildVersionArn}); errCode(err) != "ResourceDependencyException" {
		t.Errorf("deleting a workflow a pipeline uses: %v", err)
	}
}
