package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/schedule"
	"github.com/kiln-build/kiln/internal/semver"
	"github.com/kiln-build/kiln/internal/store"
)

const kindImagePipeline = arn.TypeImagePipeline

// Defaults Image Builder applies to a pipeline's optional members.
const (
	defaultTestTimeoutMinutes = 720
	defaultTimezone           = "UTC"
)

func (s *Service) pipelineHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateImagePipeline: handle(s.CreateImagePipeline),
		awsapi.OpGetImagePipeline:    handle(s.GetImagePipeline),
		awsapi.OpUpdateImagePipeline: handle(s.UpdateImagePipeline),
		awsapi.OpListImagePipelines:  handle(s.ListImagePipelines),
		awsapi.OpDeleteImagePipeline: handle(s.DeleteImagePipeline),
		// StartImagePipelineExecution and ListImagePipelineImages live in
		// pipeline_run.go with the scheduler's side.
	}
}

// CreateImagePipeline stores a pipeline. Names are unique per account
// (ResourceAlreadyExistsException). The recipe, infrastructure and
// distribution configurations and workflows it names must exist and be
// visible to the caller; they are kept exactly as given (a wildcard recipe
// or workflow ARN stays a wildcard, resolved again by every build) so that
// deleting any of them while the pipeline exists is refused.
func (s *Service) CreateImagePipeline(ctx context.Context, account string, in *awsapi.CreateImagePipelineRequest) (*awsapi.CreateImagePipelineResponse, error) {
	if err := checkGateTag("tags", in.Tags); err != nil {
		return nil, err
	}
	if err := checkGateTag("imageTags", in.ImageTags); err != nil {
		return nil, err
	}
	p := awsapi.ImagePipeline{
		Name:                           in.Name,
		Description:                    in.Description,
		ImageRecipeArn:                 in.ImageRecipeArn,
		ContainerRecipeArn:             in.ContainerRecipeArn,
		InfrastructureConfigurationArn: in.InfrastructureConfigurationArn,
		DistributionConfigurationArn:   in.DistributionConfigurationArn,
		ImageTestsConfiguration:        in.ImageTestsConfiguration,
		EnhancedImageMetadataEnabled:   in.EnhancedImageMetadataEnabled,
		Schedule:                       in.Schedule,
		Status:                         in.Status,
		ImageScanningConfiguration:     in.ImageScanningConfiguration,
		Workflows:                      in.Workflows,
		ExecutionRole:                  in.ExecutionRole,
		ImageTags:                      in.ImageTags,
		LoggingConfiguration:           in.LoggingConfiguration,
	}
	if err := checkPipeline(&p); err != nil {
		return nil, err
	}
	a := arn.New(s.Partition, s.Region, account, kindImagePipeline, in.Name)
	if err := a.Validate(); err != nil {
		return nil, badValue("name", "%v", err)
	}
	out := &awsapi.CreateImagePipelineResponse{ClientToken: in.ClientToken}
	err := s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateImagePipeline, in.ClientToken, in, out, func() error {
			if _, err := tx.Get(ctx, a.String()); err == nil {
				return awsapi.Errorf(awsapi.ErrCodeResourceAlreadyExistsException, "The following resource 'ImagePipeline' already exists: '%s'.", a)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := s.checkPipelineReferences(ctx, tx, account, &p); err != nil {
				return err
			}
			now := s.now()
			p.Arn = a.String()
			p.DateCreated = formatDateTime(now)
			p.DateUpdated = p.DateCreated
			doc, err := json.Marshal(p)
			if err != nil {
				return err
			}
			out.ImagePipelineArn = p.Arn
			return tx.Insert(ctx, store.Resource{
				ARN: p.Arn, Kind: kindImagePipeline, Account: account, Region: s.Region,
				Name: a.Name, Doc: doc, Tags: in.Tags, Created: now, Updated: now,
			})
		})
	})
	if err != nil {
		return nil, err
	}
	s.wakeSchedules()
	return out, nil
}

// UpdateImagePipeline replaces a pipeline's settings: every optional
// member left out is cleared or back to its default, as for Create. The
// name, ARN, dateCreated and tags stay; a pipeline cannot switch between
// an image recipe and a container recipe.
func (s *Service) UpdateImagePipeline(ctx context.Context, account string, in *awsapi.UpdateImagePipelineRequest) (*awsapi.UpdateImagePipelineResponse, error) {
	if err := checkGateTag("imageTags", in.ImageTags); err != nil {
		return nil, err
	}
	a, err := s.parseARN("imagePipelineArn", in.ImagePipelineArn, kindImagePipeline)
	if err != nil {
		return nil, err
	}
	p := awsapi.ImagePipeline{
		Description:                    in.Description,
		ImageRecipeArn:                 in.ImageRecipeArn,
		ContainerRecipeArn:             in.ContainerRecipeArn,
		InfrastructureConfigurationArn: in.InfrastructureConfigurationArn,
		DistributionConfigurationArn:   in.DistributionConfigurationArn,
		ImageTestsConfiguration:        in.ImageTestsConfiguration,
		EnhancedImageMetadataEnabled:   in.EnhancedImageMetadataEnabled,
		Schedule:                       in.Schedule,
		Status:                         in.Status,
		ImageScanningConfiguration:     in.ImageScanningConfiguration,
		Workflows:                      in.Workflows,
		ExecutionRole:                  in.ExecutionRole,
		ImageTags:                      in.ImageTags,
		LoggingConfiguration:           in.LoggingConfiguration,
	}
	if err := checkPipeline(&p); err != nil {
		return nil, err
	}
	out := &awsapi.UpdateImagePipelineResponse{ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpUpdateImagePipeline, in.ClientToken, in, out, func() error {
			r, err := s.ownedResource(ctx, tx, account, a, "ImagePipeline")
			if err != nil {
				return err
			}
			old, err := decodePipeline(r)
			if err != nil {
				return err
			}
			if (old.ImageRecipeArn != "") != (p.ImageRecipeArn != "") {
				return invalidRequest("An image pipeline cannot change between an image recipe and a container recipe; create a new pipeline instead.")
			}
			if err := s.checkPipelineReferences(ctx, tx, account, &p); err != nil {
				return err
			}
			now := s.now()
			p.Arn, p.Name, p.DateCreated = old.Arn, old.Name, old.DateCreated
			// The run history is the pipeline's, not its settings'.
			p.DateLastRun = old.DateLastRun
			p.DateUpdated = formatDateTime(now)
			if r.Doc, err = json.Marshal(p); err != nil {
				return err
			}
			r.Updated = now
			out.ImagePipelineArn = p.Arn
			return tx.Put(ctx, r)
		})
	})
	if err != nil {
		return nil, err
	}
	s.wakeSchedules()
	return out, nil
}

// checkPipeline applies the rules that need no stored state and fills in
// the defaults Get shows:
//   - exactly one of imageRecipeArn and containerRecipeArn;
//   - a schedule expression in the AWS cron grammar or a rate expression,
//     and an IANA time zone (default UTC — shown in Get, UNSURE whether the
//     service echoes the default; Terraform treats the member as computed);
//   - pipelineExecutionStartCondition defaults to
//     EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE when a schedule is
//     given;
//   - imageTestsConfiguration {imageTestsEnabled: true, timeoutMinutes:
//     720}, enhancedImageMetadataEnabled true and status ENABLED by
//     default;
//   - workflows need an execution role.
func checkPipeline(p *awsapi.ImagePipeline) error {
	switch {
	case p.ImageRecipeArn != "" && p.ContainerRecipeArn != "":
		return invalidRequest("You must specify either 'imageRecipeArn' or 'containerRecipeArn', not both.")
	case p.ImageRecipeArn == "" && p.ContainerRecipeArn == "":
		return invalidRequest("You must specify either 'imageRecipeArn' or 'containerRecipeArn'.")
	}
	if len(p.Workflows) > 0 && p.ExecutionRole == "" {
		return invalidRequest("An execution role is required to provide workflows")
	}
	if sc := p.Schedule; sc != nil {
		c := *sc
		if c.Timezone == "" {
			c.Timezone = defaultTimezone
		}
		if _, err := schedule.LoadZone(c.Timezone); err != nil {
			return badValue("schedule.timezone", "%v", err)
		}
		if c.ScheduleExpression != "" {
			if _, err := schedule.Parse(c.ScheduleExpression); err != nil {
				return badValue("schedule.scheduleExpression", "%v", err)
			}
		}
		if c.PipelineExecutionStartCondition == "" {
			c.PipelineExecutionStartCondition = awsapi.PipelineExecutionStartConditionExpressionMatchAndDependencyUpdatesAvailable
		}
		p.Schedule = &c
	}
	tests := awsapi.ImageTestsConfiguration{}
	if p.ImageTestsConfiguration != nil {
		tests = *p.ImageTestsConfiguration
	}
	if tests.ImageTestsEnabled == nil {
		tests.ImageTestsEnabled = ptr(true)
	}
	if tests.TimeoutMinutes == nil {
		tests.TimeoutMinutes = ptr(int32(defaultTestTimeoutMinutes))
	}
	p.ImageTestsConfiguration = &tests
	if p.EnhancedImageMetadataEnabled == nil {
		p.EnhancedImageMetadataEnabled = ptr(true)
	}
	if p.Status == "" {
		p.Status = awsapi.PipelineStatusEnabled
	}
	// Nothing has run yet, and an update resets the count (spec §7.4).
	p.ConsecutiveFailures = ptr(int32(0))
	return nil
}

// checkPipelineReferences checks that every resource p names exists and is
// visible to account, and takes the pipeline's platform from its recipe.
// A missing reference is InvalidParameterValueException naming the member
// (the service's wording for a missing instance profile; UNSURE which code
// it uses for a missing recipe or configuration).
func (s *Service) checkPipelineReferences(ctx context.Context, tx store.Tx, account string, p *awsapi.ImagePipeline) error {
	member, value, kind, label := "imageRecipeArn", p.ImageRecipeArn, arn.TypeImageRecipe, "image recipe"
	if p.ContainerRecipeArn != "" {
		member, value, kind, label = "containerRecipeArn", p.ContainerRecipeArn, arn.TypeContainerRecipe, "container recipe"
	}
	recipe, err := s.reference(ctx, tx, account, member, value, label, kind)
	if err != nil {
		return err
	}
	var platform struct {
		Platform string `json:"platform"`
	}
	_ = json.Unmarshal(recipe.Doc, &platform)
	p.Platform = platform.Platform

	infra, err := s.reference(ctx, tx, account, "infrastructureConfigurationArn", p.InfrastructureConfigurationArn,
		"infrastructure configuration", arn.TypeInfrastructureConfiguration)
	if err != nil {
		return err
	}
	if err := s.checkPipelineArchitecture(ctx, tx, account, recipe, infra); err != nil {
		return err
	}
	if p.DistributionConfigurationArn != "" {
		if _, err := s.reference(ctx, tx, account, "distributionConfigurationArn", p.DistributionConfigurationArn,
			"distribution configuration", arn.TypeDistributionConfiguration); err != nil {
			return err
		}
	}
	for i, wc := range p.Workflows {
		member := fmt.Sprintf("workflows[%d].workflowArn", i)
		r, err := s.reference(ctx, tx, account, member, wc.WorkflowArn, "workflow", workflowKinds...)
		if err != nil {
			return err
		}
		wf, err := decodeWorkflow(r)
		if err != nil {
			return err
		}
		if err := checkWorkflowParameters(i, wf, wc.Parameters); err != nil {
			return err
		}
	}
	return nil
}

// reference resolves an ARN member to the stored resource it names:
// exact ARNs directly, version ARNs with `x` wildcards to the latest
// visible match (recipes: the highest version; workflows: its latest
// build).
func (s *Service) reference(ctx context.Context, tx store.Tx, account, member, value, label string, kinds ...string) (store.Resource, error) {
	a, err := s.parseARN(member, value, kinds...)
	if err != nil {
		return store.Resource{}, err
	}
	missing := badValue(member, "The %s '%s' does not exist.", label, value)
	if arn.Versioned(a.Type) && !arn.BuildVersioned(a.Type) && a.Version != "" && a.Region == s.Region {
		if f, err := semver.ParseFilter(a.Version); err == nil && !f.IsExact() {
			rows, err := tx.List(ctx, store.Query{Kind: a.Type, Region: s.Region, Owners: []string{a.Account}, Name: a.Name,
				Where: append(visibleTo(account), versionLike(f))})
			if err != nil {
				return store.Resource{}, err
			}
			if len(rows) == 0 {
				return store.Resource{}, missing
			}
			return rows[len(rows)-1], nil
		}
	}
	r, err := s.resolve(ctx, tx, account, a, label)
	var apiErr *awsapi.Error
	if errors.As(err, &apiErr) && apiErr.Code == awsapi.ErrCodeResourceNotFoundException {
		return r, missing
	}
	return r, err
}

// checkWorkflowParameters checks a pipeline's parameter values for one of
// its workflows: each name must be one the workflow declares, given once,
// and integer and boolean parameters take exactly one value of that type.
func checkWorkflowParameters(i int, wf awsapi.Workflow, params []awsapi.WorkflowParameter) error {
	declared := map[string]string{}
	for _, d := range wf.Parameters {
		declared[d.Name] = d.Type
	}
	seen := map[string]bool{}
	for j, p := range params {
		member := fmt.Sprintf("workflows[%d].parameters[%d]", i, j)
		typ, ok := declared[p.Name]
		switch {
		case !ok:
			return badValue(member+".name", "The workflow '%s' has no parameter '%s'.", wf.Arn, p.Name)
		case seen[p.Name]:
			return badValue(member+".name", "The parameter '%s' is given twice.", p.Name)
		}
		seen[p.Name] = true
		if typ == "stringList" {
			continue
		}
		if len(p.Value) != 1 {
			return badValue(member+".value", "The %s parameter '%s' takes exactly one value.", typ, p.Name)
		}
		switch v := p.Value[0]; typ {
		case "integer":
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil || fmt.Sprint(n) != v {
				return badValue(member+".value", "The integer parameter '%s' cannot take '%s'.", p.Name, v)
			}
		case "boolean":
			if v != "true" && v != "false" {
				return badValue(member+".value", "The boolean parameter '%s' takes true or false, not '%s'.", p.Name, v)
			}
		}
	}
	// A parameter the document gives no default must be given here: the
	// build could not run the workflow without it.
	for _, d := range wf.Parameters {
		if !seen[d.Name] && d.DefaultValue == nil && d.Type != "stringList" {
			return badValue(fmt.Sprintf("workflows[%d].parameters", i), "The workflow '%s' needs a value for its parameter '%s', which has no default.", wf.Arn, d.Name)
		}
	}
	return nil
}

// GetImagePipeline returns a pipeline with its computed dateNextRun.
func (s *Service) GetImagePipeline(ctx context.Context, account string, in *awsapi.GetImagePipelineRequest) (*awsapi.GetImagePipelineResponse, error) {
	a, err := s.parseARN("imagePipelineArn", in.ImagePipelineArn, kindImagePipeline)
	if err != nil {
		return nil, err
	}
	p, err := getDecoded(ctx, s, account, a, "ImagePipeline", decodePipeline)
	if err != nil {
		return nil, err
	}
	p.DateNextRun = nextRun(p, s.now())
	return &awsapi.GetImagePipelineResponse{ImagePipeline: &p}, nil
}

func decodePipeline(r store.Resource) (awsapi.ImagePipeline, error) {
	var p awsapi.ImagePipeline
	if err := json.Unmarshal(r.Doc, &p); err != nil {
		return p, fmt.Errorf("stored image pipeline %s: %w", r.ARN, err)
	}
	if len(r.Tags) > 0 {
		p.Tags = r.Tags
	}
	return p, nil
}

// nextRun is a pipeline's dateNextRun as of now: the first time after now
// that its schedule matches, evaluated in its time zone (so a daily 09:00
// in Europe/Berlin stays 09:00 local across DST). It is "" for pipelines
// without a schedule expression and for DISABLED pipelines, whose
// schedule does not run (spec §7.4); a rate expression counts its
// intervals from the pipeline's dateUpdated, the moment its schedule was
// last set. It is computed on every read rather than stored, so it never
// shows a time already past.
func nextRun(p awsapi.ImagePipeline, now time.Time) string {
	if p.Schedule == nil || p.Schedule.ScheduleExpression == "" || p.Status == awsapi.PipelineStatusDisabled {
		return ""
	}
	sch, err := schedule.Parse(p.Schedule.ScheduleExpression)
	if err != nil {
		return ""
	}
	zone := p.Schedule.Timezone
	if zone == "" {
		zone = defaultTimezone
	}
	loc, err := schedule.LoadZone(zone)
	if err != nil {
		return ""
	}
	anchor, err := time.Parse(time.RFC3339Nano, p.DateUpdated)
	if err != nil {
		anchor = now
	}
	next, ok := sch.NextFrom(anchor, now, loc)
	if !ok {
		return ""
	}
	return formatDateTime(next)
}

var pipelineFilters = filterFields{
	"description":                    store.DocField("description"),
	"distributionConfigurationArn":   store.DocField("distributionConfigurationArn"),
	"imageRecipeArn":                 store.DocField("imageRecipeArn"),
	"infrastructureConfigurationArn": store.DocField("infrastructureConfigurationArn"),
	"name":                           store.DocField("name"),
	"status":                         store.DocField("status"),
}

// ListImagePipelines lists the caller's pipelines (full ImagePipeline
// objects, as the service returns them) ordered by name.
func (s *Service) ListImagePipelines(ctx context.Context, account string, in *awsapi.ListImagePipelinesRequest) (*awsapi.ListImagePipelinesResponse, error) {
	match, err := pipelineFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: "ListImagePipelines", params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{Kind: kindImagePipeline, Region: s.Region, Owners: []string{account}, Where: match},
	}
	now := s.now()
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.ImagePipeline, error) {
		p, err := decodePipeline(r)
		p.DateNextRun = nextRun(p, now)
		return p, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListImagePipelinesResponse{ImagePipelineList: list, NextToken: next}, nil
}

// DeleteImagePipeline deletes a pipeline. Images it built are kept, and
// nothing else depends on a pipeline, so only ownership is checked.
func (s *Service) DeleteImagePipeline(ctx context.Context, account string, in *awsapi.DeleteImagePipelineRequest) (*awsapi.DeleteImagePipelineResponse, error) {
	a, err := s.parseARN("imagePipelineArn", in.ImagePipelineArn, kindImagePipeline)
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, func(tx store.Tx) error {
		r, err := s.ownedResource(ctx, tx, account, a, "ImagePipeline")
		if err != nil {
			return err
		}
		return tx.Delete(ctx, r.ARN)
	})
	if err != nil {
		return nil, err
	}
	s.wakeSchedules()
	return &awsapi.DeleteImagePipelineResponse{ImagePipelineArn: a.String()}, nil
}

// wakeSchedules tells the scheduler that the set of pipelines or their
// schedules changed.
func (s *Service) wakeSchedules() {
	if s.Schedules != nil {
		s.Schedules.Wake()
	}
}
