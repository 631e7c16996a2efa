package main

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

// skipUnsupported skips the test while an operation another family owns
// is still answered as unsupported.
func skipUnsupported(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "does not support the operation") {
		t.Skipf("%s is not implemented yet: %v", what, err)
	}
}

// pipelineGraph is component → image recipe → infrastructure and
// distribution configurations, built through the API.
type pipelineGraph struct {
	component, recipe, infra, dist string
}

func buildPipelineGraph(t *testing.T, c *imagebuilder.Client, prefix string) pipelineGraph {
	t.Helper()
	ctx := kilntest.Context(t)
	var g pipelineGraph
	g.component = createHello(t, c, prefix+"-hello", "1.0.0")
	recipe, err := c.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String(prefix + "-recipe"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String("ami-0123456789abcdef0"),
		Components: []types.ComponentConfiguration{{ComponentArn: aws.String(g.component),
			Parameters: []types.ComponentParameter{{Name: aws.String("Target"), Value: []string{"world"}}}}},
	})
	skipUnsupported(t, "CreateImageRecipe", err)
	if err != nil {
		t.Fatal(err)
	}
	g.recipe = aws.ToString(recipe.ImageRecipeArn)
	infra, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String(prefix + "-infra"), InstanceProfileName: aws.String("builder"),
	})
	skipUnsupported(t, "CreateInfrastructureConfiguration", err)
	if err != nil {
		t.Fatal(err)
	}
	g.infra = aws.ToString(infra.InfrastructureConfigurationArn)
	dist, err := c.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String(prefix + "-dist"), Distributions: []types.Distribution{{Region: aws.String("us-east-1"),
			AmiDistributionConfiguration: &types.AmiDistributionConfiguration{Name: aws.String("out-{{ imagebuilder:buildDate }}")}}},
	})
	skipUnsupported(t, "CreateDistributionConfiguration", err)
	if err != nil {
		t.Fatal(err)
	}
	g.dist = aws.ToString(dist.DistributionConfigurationArn)
	return g
}

// TestPipelineGraph builds the whole graph, reads the pipeline back field
// by field, and tears it down: first in the wrong order (each refused
// with ResourceDependencyException), then in dependency order.
func TestPipelineGraph(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	g := buildPipelineGraph(t, c, "graph")
	wf := createWorkflow(t, c, "graph-flow", "1.0.0", types.WorkflowTypeBuild, testWorkflowDoc)

	before := time.Now().UTC().Add(-time.Second)
	out, err := c.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("Graph Pipeline"), Description: aws.String("the whole graph"),
		ImageRecipeArn: aws.String(g.recipe), InfrastructureConfigurationArn: aws.String(g.infra),
		DistributionConfigurationArn: aws.String(g.dist),
		Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(15 3 ? * mon-fri *)"), Timezone: aws.String("America/New_York"),
			PipelineExecutionStartCondition: types.PipelineExecutionStartConditionExpressionMatchOnly},
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ImageScanningEnabled: aws.Bool(true)},
		ExecutionRole:              aws.String("arn:aws:iam::000000000000:role/ImageBuilderWorkflows"),
		Workflows: []types.WorkflowConfiguration{
			{WorkflowArn: aws.String(wf), Parameters: []types.WorkflowParameter{{Name: aws.String("waitForApproval"), Value: []string{"false"}}}},
			{WorkflowArn: aws.String("arn:aws:imagebuilder:us-east-1:aws:workflow/test/test-image/x.x.x"), ParallelGroup: aws.String("g1"), OnFailure: types.OnWorkflowFailureContinue},
		},
		Tags: map[string]string{"team": "images"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pa := aws.ToString(out.ImagePipelineArn)
	if pa != "arn:aws:imagebuilder:us-east-1:000000000000:image-pipeline/graph-pipeline" || out.ClientToken == nil {
		t.Fatalf("CreateImagePipeline = %+v", out)
	}
	get, err := c.GetImagePipeline(ctx, &imagebuilder.GetImagePipelineInput{ImagePipelineArn: aws.String(pa)})
	if err != nil {
		t.Fatal(err)
	}
	p := get.ImagePipeline
	check := func(field string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}
	check("arn", aws.ToString(p.Arn), pa)
	check("name", aws.ToString(p.Name), "Graph Pipeline")
	check("description", aws.ToString(p.Description), "the whole graph")
	check("platform", p.Platform, types.PlatformLinux)
	check("imageRecipeArn", aws.ToString(p.ImageRecipeArn), g.recipe)
	check("infrastructureConfigurationArn", aws.ToString(p.InfrastructureConfigurationArn), g.infra)
	check("distributionConfigurationArn", aws.ToString(p.DistributionConfigurationArn), g.dist)
	check("status", p.Status, types.PipelineStatusEnabled)
	check("enhancedImageMetadataEnabled", aws.ToBool(p.EnhancedImageMetadataEnabled), true)
	check("imageTestsEnabled", aws.ToBool(p.ImageTestsConfiguration.ImageTestsEnabled), true)
	check("timeoutMinutes", aws.ToInt32(p.ImageTestsConfiguration.TimeoutMinutes), int32(720))
	check("scheduleExpression", aws.ToString(p.Schedule.ScheduleExpression), "cron(15 3 ? * mon-fri *)")
	check("timezone", aws.ToString(p.Schedule.Timezone), "America/New_York")
	check("startCondition", p.Schedule.PipelineExecutionStartCondition, types.PipelineExecutionStartConditionExpressionMatchOnly)
	check("imageScanningEnabled", aws.ToBool(p.ImageScanningConfiguration.ImageScanningEnabled), true)
	check("executionRole", aws.ToString(p.ExecutionRole), "arn:aws:iam::000000000000:role/ImageBuilderWorkflows")
	check("workflows", len(p.Workflows), 2)
	check("workflow 0", aws.ToString(p.Workflows[0].WorkflowArn), wf)
	check("workflow 0 parameter", aws.ToString(p.Workflows[0].Parameters[0].Name)+"="+p.Workflows[0].Parameters[0].Value[0], "waitForApproval=false")
	check("workflow 1 group", aws.ToString(p.Workflows[1].ParallelGroup), "g1")
	check("workflow 1 onFailure", p.Workflows[1].OnFailure, types.OnWorkflowFailureContinue)
	check("tags", p.Tags["team"], "images")
	check("dateUpdated", aws.ToString(p.DateUpdated), aws.ToString(p.DateCreated))
	if !dateTimePattern.MatchString(aws.ToString(p.DateCreated)) {
		t.Errorf("dateCreated = %q", aws.ToString(p.DateCreated))
	}
	// dateNextRun: 03:15 New York time on a weekday, after now.
	next, err := time.Parse(time.RFC3339, aws.ToString(p.DateNextRun))
	if err != nil {
		t.Fatalf("dateNextRun %q: %v", aws.ToString(p.DateNextRun), err)
	}
	ny, _ := time.LoadLocation("America/New_York")
	local := next.In(ny)
	if local.Hour() != 3 || local.Minute() != 15 || local.Weekday() == time.Saturday || local.Weekday() == time.Sunday ||
		next.Before(before) || next.After(before.Add(4*24*time.Hour)) {
		t.Errorf("dateNextRun = %s (%s in New York)", next, local)
	}

	// Wrong order first: everything the pipeline uses is refused.
	_, err = c.DeleteImageRecipe(ctx, &imagebuilder.DeleteImageRecipeInput{ImageRecipeArn: aws.String(g.recipe)})
	wantCode(t, err, "ResourceDependencyException")
	_, err = c.DeleteInfrastructureConfiguration(ctx, &imagebuilder.DeleteInfrastructureConfigurationInput{InfrastructureConfigurationArn: aws.String(g.infra)})
	wantCode(t, err, "ResourceDependencyException")
	_, err = c.DeleteDistributionConfiguration(ctx, &imagebuilder.DeleteDistributionConfigurationInput{DistributionConfigurationArn: aws.String(g.dist)})
	wantCode(t, err, "ResourceDependencyException")
	_, err = c.DeleteWorkflow(ctx, &imagebuilder.DeleteWorkflowInput{WorkflowBuildVersionArn: aws.String(wf)})
	wantCode(t, err, "ResourceDependencyException")
	_, err = c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(g.component)})
	wantCode(t, err, "ResourceDependencyException")

	// Dependency order.
	if _, err := c.DeleteImagePipeline(ctx, &imagebuilder.DeleteImagePipelineInput{ImagePipelineArn: aws.String(pa)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetImagePipeline(ctx, &imagebuilder.GetImagePipelineInput{ImagePipelineArn: aws.String(pa)})
	wantCode(t, err, "ResourceNotFoundException")
	if _, err := c.DeleteWorkflow(ctx, &imagebuilder.DeleteWorkflowInput{WorkflowBuildVersionArn: aws.String(wf)}); err != nil {
		t.Errorf("DeleteWorkflow: %v", err)
	}
	if _, err := c.DeleteDistributionConfiguration(ctx, &imagebuilder.DeleteDistributionConfigurationInput{DistributionConfigurationArn: aws.String(g.dist)}); err != nil {
		t.Errorf("DeleteDistributionConfiguration: %v", err)
	}
	if _, err := c.DeleteInfrastructureConfiguration(ctx, &imagebuilder.DeleteInfrastructureConfigurationInput{InfrastructureConfigurationArn: aws.String(g.infra)}); err != nil {
		t.Errorf("DeleteInfrastructureConfiguration: %v", err)
	}
	if _, err := c.DeleteImageRecipe(ctx, &imagebuilder.DeleteImageRecipeInput{ImageRecipeArn: aws.String(g.recipe)}); err != nil {
		t.Errorf("DeleteImageRecipe: %v", err)
	}
	if _, err := c.DeleteComponent(ctx, &imagebuilder.DeleteComponentInput{ComponentBuildVersionArn: aws.String(g.component)}); err != nil {
		t.Errorf("DeleteComponent: %v", err)
	}
}

// TestPipelineSchedules checks dateNextRun for rate expressions and its
// recomputation on update, and the errors for bad expressions, zones and
// combinations.
func TestPipelineSchedules(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	g := buildPipelineGraph(t, c, "sched")

	before := time.Now().UTC().Add(-time.Second)
	out, err := c.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("rated"), ImageRecipeArn: aws.String(g.recipe), InfrastructureConfigurationArn: aws.String(g.infra),
		Schedule: &types.Schedule{ScheduleExpression: aws.String("rate(6 hours)")},
	})
	if err != nil {
		t.Fatal(err)
	}
	get, err := c.GetImagePipeline(ctx, &imagebuilder.GetImagePipelineInput{ImagePipelineArn: out.ImagePipelineArn})
	if err != nil {
		t.Fatal(err)
	}
	p := get.ImagePipeline
	created, _ := time.Parse(time.RFC3339, aws.ToString(p.DateCreated))
	next, err := time.Parse(time.RFC3339, aws.ToString(p.DateNextRun))
	if err != nil || next.Sub(created) <= 0 || next.Sub(created) > 6*time.Hour || next.Before(before) {
		t.Errorf("rate dateNextRun = %q (created %s): %v", aws.ToString(p.DateNextRun), created, err)
	}
	if aws.ToString(p.Schedule.Timezone) != "UTC" || p.Schedule.PipelineExecutionStartCondition != types.PipelineExecutionStartConditionExpressionMatchAndDependencyUpdatesAvailable {
		t.Errorf("schedule defaults = %+v", p.Schedule)
	}

	// Update recomputes: a monthly cron in Sydney.
	_, err = c.UpdateImagePipeline(ctx, &imagebuilder.UpdateImagePipelineInput{
		ImagePipelineArn: out.ImagePipelineArn, ImageRecipeArn: aws.String(g.recipe), InfrastructureConfigurationArn: aws.String(g.infra),
		Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(0 2 1 * ? *)"), Timezone: aws.String("Australia/Sydney")},
	})
	if err != nil {
		t.Fatal(err)
	}
	get, _ = c.GetImagePipeline(ctx, &imagebuilder.GetImagePipelineInput{ImagePipelineArn: out.ImagePipelineArn})
	next, err = time.Parse(time.RFC3339, aws.ToString(get.ImagePipeline.DateNextRun))
	syd, _ := time.LoadLocation("Australia/Sydney")
	if local := next.In(syd); err != nil || local.Day() != 1 || local.Hour() != 2 || local.Minute() != 0 || next.Before(before) {
		t.Errorf("updated dateNextRun = %q (%s in Sydney)", aws.ToString(get.ImagePipeline.DateNextRun), local)
	}

	// Disabled pipelines show no dateNextRun.
	_, err = c.UpdateImagePipeline(ctx, &imagebuilder.UpdateImagePipelineInput{
		ImagePipelineArn: out.ImagePipelineArn, ImageRecipeArn: aws.String(g.recipe), InfrastructureConfigurationArn: aws.String(g.infra),
		Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(0 2 1 * ? *)")}, Status: types.PipelineStatusDisabled,
	})
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.ListImagePipelines(ctx, &imagebuilder.ListImagePipelinesInput{Filters: []types.Filter{{Name: aws.String("status"), Values: []string{"DISABLED"}}}})
	if err != nil || len(list.ImagePipelineList) != 1 || list.ImagePipelineList[0].DateNextRun != nil {
		t.Errorf("disabled list = %+v, %v", list, err)
	}

	bad := []struct {
		name      string
		in        imagebuilder.CreateImagePipelineInput
		code, in2 string
	}{
		{"bad hour", imagebuilder.CreateImagePipelineInput{Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(0 24 * * ? *)")}}, "InvalidParameterValueException", "schedule.scheduleExpression"},
		{"both days", imagebuilder.CreateImagePipelineInput{Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(0 10 * * mon *)")}}, "InvalidParameterValueException", "schedule.scheduleExpression"},
		{"five fields", imagebuilder.CreateImagePipelineInput{Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(0 10 * * ?)")}}, "InvalidParameterValueException", "schedule.scheduleExpression"},
		{"bad rate", imagebuilder.CreateImagePipelineInput{Schedule: &types.Schedule{ScheduleExpression: aws.String("rate(0 days)")}}, "InvalidParameterValueException", "schedule.scheduleExpression"},
		{"bad zone", imagebuilder.CreateImagePipelineInput{Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(0 10 * * ? *)"), Timezone: aws.String("Moon/Tranquility")}}, "InvalidParameterValueException", "schedule.timezone"},
		{"no role", imagebuilder.CreateImagePipelineInput{Workflows: []types.WorkflowConfiguration{{WorkflowArn: aws.String("arn:aws:imagebuilder:us-east-1:aws:workflow/build/build-image/x.x.x")}}}, "InvalidRequestException", "An execution role is required to provide workflows"},
		{"both recipes", imagebuilder.CreateImagePipelineInput{ContainerRecipeArn: aws.String("arn:aws:imagebuilder:us-east-1:000000000000:container-recipe/c/1.0.0")}, "InvalidRequestException", "not both"},
		{"missing infra", imagebuilder.CreateImagePipelineInput{InfrastructureConfigurationArn: aws.String(g.infra + "-gone")}, "InvalidParameterValueException", "infrastructureConfigurationArn"},
	}
	for _, b := range bad {
		in := b.in
		in.Name = aws.String("bad-" + strings.ReplaceAll(b.name, " ", "-"))
		in.ImageRecipeArn = aws.String(g.recipe)
		if in.InfrastructureConfigurationArn == nil {
			in.InfrastructureConfigurationArn = aws.String(g.infra)
		}
		_, err := c.CreateImagePipeline(ctx, &in)
		if apiCode(err) != b.code || !strings.Contains(err.Error(), b.in2) {
			t.Errorf("%s: got %v, want %s mentioning %q", b.name, err, b.code, b.in2)
		}
	}
	_, err = c.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{Name: aws.String("RATED"), ImageRecipeArn: aws.String(g.recipe), InfrastructureConfigurationArn: aws.String(g.infra)})
	wantCode(t, err, "ResourceAlreadyExistsException")
	all, err := c.ListImagePipelines(ctx, &imagebuilder.ListImagePipelinesInput{})
	if err != nil || len(all.ImagePipelineList) != 1 {
		t.Errorf("failed creates stored pipelines: %+v, %v", all, err)
	}
}

// TestPipelinesAWSCLISmoke runs test/smoke/cli_pipelines.sh: Debian's AWS
// CLI for pipelines, the newer model for workflows.
func TestPipelinesAWSCLISmoke(t *testing.T) {
	t.Parallel()
	runCLISmoke(t, "cli_pipelines.sh", true)
}

// TestPipelinesBoto3Smoke runs test/smoke/boto3_pipelines.py.
func TestPipelinesBoto3Smoke(t *testing.T) {
	t.Parallel()
	runBoto3Smoke(t, "boto3_pipelines.py", true)
}
