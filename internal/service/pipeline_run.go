package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/schedule"
	"github.com/kiln-build/kiln/internal/scheduler"
	"github.com/kiln-build/kiln/internal/store"
)

// Kinds of kiln's own pipeline rows in the store (see internal/engine for
// the "kiln/" convention).
const (
	// KindPipelineRun is one run of a pipeline: a due tick of its
	// schedule or a StartImagePipelineExecution, with what it did. Its
	// Name is the pipeline ARN and its Build the run's sequence number.
	KindPipelineRun = "kiln/pipeline-run"
	// KindPipelineTick is a pipeline's scheduling state: when its last due
	// tick was claimed and which of its builds are still being watched.
	// Claiming a tick rewrites it, which is what makes a tick fire once
	// however many kiln processes share the store.
	KindPipelineTick = "kiln/pipeline-tick"
)

// keepRuns is how many run records are kept per pipeline: a per-minute
// schedule records 1,440 a day, and only the recent ones explain anything.
const keepRuns = 1000

func pipelineRunKey(pipeline string, seq int) string {
	return fmt.Sprintf("kiln:pipeline-run:%s/%d", pipeline, seq)
}
func pipelineTickKey(pipeline string) string { return "kiln:pipeline-tick:" + pipeline }

// Outcomes of a pipeline run.
const (
	RunBuilt   = "BUILT"   // an image build was queued
	RunSkipped = "SKIPPED" // the tick came due but nothing was built, for Reason
	RunFailed  = "FAILED"  // a build was wanted but could not be queued, for Reason
)

// PipelineRun records one due tick or manual start of a pipeline and what
// came of it, so a user can see why a scheduled run did or did not happen
// (`kiln pipeline runs`).
type PipelineRun struct {
	Pipeline string `json:"imagePipelineArn"`
	Sequence int    `json:"sequence"`
	// Trigger is SCHEDULED or USER_INITIATED (the image's buildType).
	Trigger string `json:"trigger"`
	// DueAt is the scheduled time of the tick; when kiln was down over
	// several ticks it is the first one missed, and Missed counts the
	// others, which fire together as this one run.
	DueAt  string `json:"dueAt,omitempty"`
	Missed int    `json:"missed,omitempty"`
	// At is when the run was decided.
	At      string `json:"at"`
	Outcome string `json:"outcome"`
	Image   string `json:"imageBuildVersionArn,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Dependencies are what the recipe's references resolved to for this
	// run (member → resolved ARN or reference), compared by the start
	// condition EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE.
	Dependencies map[string]string `json:"dependencies,omitempty"`
}

// pipelineTick is a pipeline's scheduling state (KindPipelineTick).
type pipelineTick struct {
	// Claimed is when the last due tick was claimed; the next tick is the
	// first firing after it (or after the pipeline's last update).
	Claimed time.Time `json:"claimed,omitzero"`
	// Building are the pipeline's images not yet seen in a final state, in
	// build order; Good is the newest one seen AVAILABLE, the baseline of
	// the dependency-updates start condition.
	Building []builtImage `json:"building,omitempty"`
	Good     *builtImage  `json:"good,omitempty"`

	// stored is the record as read (nil: none yet). putPipelineTick
	// writes on condition that it is unchanged, so two nodes that read
	// the same due tick cannot both claim it, whatever the store's
	// isolation.
	stored []byte
}

// errTickRaced is putPipelineTick's answer when another transaction (a
// scheduler on another node) wrote the tick since it was read.
var errTickRaced = fmt.Errorf("%w: the pipeline's tick was claimed by another transaction", store.ErrConflict)

type builtImage struct {
	Image        string            `json:"image"`
	Dependencies map[string]string `json:"dependencies,omitempty"`
}

func (s *Service) pipelineRunHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpStartImagePipelineExecution: handle(s.StartImagePipelineExecution),
		awsapi.OpListImagePipelineImages:     handle(s.ListImagePipelineImages),
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// StartImagePipelineExecution builds a pipeline's image now (buildType
// USER_INITIATED), whatever its schedule, status and start condition say,
// and even while an earlier build of it is running: the user asked for
// this one (UNSURE whether the service refuses DISABLED pipelines; kiln
// lets the user run them by hand). The image gets the pipeline's
// imageTags plus the request's tags. The run is recorded like a due tick.
func (s *Service) StartImagePipelineExecution(ctx context.Context, account string, in *awsapi.StartImagePipelineExecutionRequest) (*awsapi.StartImagePipelineExecutionResponse, error) {
	a, err := s.parseARN("imagePipelineArn", in.ImagePipelineArn, kindImagePipeline)
	if err != nil {
		return nil, err
	}
	out := &awsapi.StartImagePipelineExecutionResponse{ClientToken: in.ClientToken}
	var run PipelineRun
	err = s.updateTick(ctx, func(tx store.Tx) error {
		run = PipelineRun{}
		return idempotent(ctx, tx, account, awsapi.OpStartImagePipelineExecution, in.ClientToken, in, out, func() error {
			r, err := s.ownedResource(ctx, tx, account, a, "ImagePipeline")
			if err != nil {
				return err
			}
			p, err := decodePipeline(r)
			if err != nil {
				return err
			}
			tick, err := getPipelineTick(ctx, tx, r.ARN)
			if err != nil {
				return err
			}
			if _, err := s.watchBuilds(ctx, tx, &tick); err != nil {
				return err
			}
			now := s.now()
			run = PipelineRun{Trigger: awsapi.BuildTypeUserInitiated, At: formatDateTime(now)}
			if err := s.buildPipeline(ctx, tx, r, &p, &tick, &run, in.Tags); err != nil {
				return err
			}
			if err := s.recordRun(ctx, tx, r, &run, now); err != nil {
				return err
			}
			out.ImageBuildVersionArn = run.Image
			return putPipelineTick(ctx, tx, r, tick, now)
		})
	})
	if err != nil {
		return nil, err
	}
	if run.Image != "" { // not a repeat of an earlier request
		s.logRun(run)
		s.wakeBuilds()
	}
	return out, nil
}

// buildPipeline queues a build of the pipeline's image in tx, marks it in
// the pipeline's dateLastRun and in tick, and fills run. Errors are the
// API errors of CreateImage (a reference gone, say).
func (s *Service) buildPipeline(ctx context.Context, tx store.Tx, r store.Resource, p *awsapi.ImagePipeline, tick *pipelineTick, run *PipelineRun, extraTags map[string]string) error {
	deps := run.Dependencies
	if deps == nil {
		var err error
		if deps, err = s.pipelineDependencies(ctx, tx, r.Account, *p); err != nil {
			return err
		}
	}
	tags := maps.Clone(p.ImageTags)
	if len(extraTags) > 0 {
		if tags == nil {
			tags = map[string]string{}
		}
		maps.Copy(tags, extraTags)
	}
	img, err := s.createImage(ctx, tx, r.Account, imageRequest{
		ImageRecipeArn: p.ImageRecipeArn, ContainerRecipeArn: p.ContainerRecipeArn,
		InfrastructureConfigurationArn: p.InfrastructureConfigurationArn,
		DistributionConfigurationArn:   p.DistributionConfigurationArn,
		ImageTestsConfiguration:        p.ImageTestsConfiguration,
		EnhancedImageMetadataEnabled:   p.EnhancedImageMetadataEnabled,
		ImageScanningConfiguration:     p.ImageScanningConfiguration,
		Workflows:                      p.Workflows, ExecutionRole: p.ExecutionRole,
		LoggingConfiguration: imageLogging(p.LoggingConfiguration), Tags: tags,
		BuildType:         run.Trigger,
		SourcePipelineArn: r.ARN, SourcePipelineName: p.Name,
	})
	if err != nil {
		return err
	}
	run.Outcome, run.Image, run.Dependencies = RunBuilt, img, deps
	tick.Building = append(tick.Building, builtImage{Image: img, Dependencies: deps})
	// dateLastRun is when the pipeline last started a build.
	// UNSURE: the service may also count runs its start condition skipped.
	p.DateLastRun = run.At
	doc, err := json.Marshal(p)
	if err != nil {
		return err
	}
	r.Doc = doc
	return tx.Put(ctx, r)
}

// imageLogging is the image's share of a pipeline's logging
// configuration: its image log group.
func imageLogging(c *awsapi.PipelineLoggingConfiguration) *awsapi.ImageLoggingConfiguration {
	if c == nil || c.ImageLogGroupName == "" {
		return nil
	}
	return &awsapi.ImageLoggingConfiguration{LogGroupName: c.ImageLogGroupName}
}

// watchBuilds updates tick from the current state of the pipeline's
// builds: finished ones leave Building, and the newest AVAILABLE one
// becomes Good. It returns the first build still in progress ("" when
// none) with its status.
func (s *Service) watchBuilds(ctx context.Context, tx store.Tx, tick *pipelineTick) ([2]string, error) {
	var running [2]string
	var still []builtImage
	for _, b := range tick.Building {
		status := awsapi.ImageStatusDeleted
		r, err := tx.Get(ctx, b.Image)
		switch {
		case err == nil:
			img, err := decodeImage(r)
			if err != nil {
				return running, err
			}
			status = imageStatus(img)
		case !errors.Is(err, store.ErrNotFound):
			return running, err
		}
		switch {
		case !engine.IsTerminal(status):
			still = append(still, b)
			if running[0] == "" {
				running = [2]string{b.Image, status}
			}
		case status == awsapi.ImageStatusAvailable:
			b := b
			tick.Good = &b
		}
	}
	tick.Building = still
	return running, nil
}

// pipelineDependencies resolves the references of the pipeline's recipe
// that can move: the recipe itself (when the pipeline names it with `x`
// wildcards), each component, and a parent image given as an Image
// Builder image ARN. A parent given as an AMI ID or a container reference
// is taken as it is: kiln cannot see it change without pulling it.
func (s *Service) pipelineDependencies(ctx context.Context, tx store.Tx, account string, p awsapi.ImagePipeline) (map[string]string, error) {
	deps := map[string]string{}
	var (
		parent string
		comps  []awsapi.ComponentConfiguration
	)
	if p.ContainerRecipeArn != "" {
		r, err := s.reference(ctx, tx, account, "containerRecipeArn", p.ContainerRecipeArn, "container recipe", arn.TypeContainerRecipe)
		if err != nil {
			return nil, err
		}
		recipe, err := decodeContainerRecipe(r)
		if err != nil {
			return nil, err
		}
		deps["containerRecipeArn"], parent, comps = r.ARN, recipe.ParentImage, recipe.Components
	} else {
		r, err := s.reference(ctx, tx, account, "imageRecipeArn", p.ImageRecipeArn, "image recipe", arn.TypeImageRecipe)
		if err != nil {
			return nil, err
		}
		recipe, err := decodeImageRecipe(r)
		if err != nil {
			return nil, err
		}
		deps["imageRecipeArn"], parent, comps = r.ARN, recipe.ParentImage, recipe.Components
	}
	deps["parentImage"] = parent
	if a, err := arn.Parse(parent); err == nil && a.Type == kindImage {
		r, err := s.resolve(ctx, tx, account, a, "Image")
		if err != nil {
			return nil, badValue("parentImage", "The parent image '%s' does not exist.", parent)
		}
		deps["parentImage"] = r.ARN
	}
	for i, c := range comps {
		member := fmt.Sprintf("components[%d]", i)
		a, err := s.parseARN(member+".componentArn", c.ComponentArn, arn.TypeComponent)
		if err != nil {
			return nil, err
		}
		r, err := s.resolve(ctx, tx, account, a, "Component")
		if err != nil {
			return nil, badValue(member+".componentArn", "The component '%s' does not resolve to a component you can use.", c.ComponentArn)
		}
		deps[member] = r.ARN
	}
	return deps, nil
}

// recordRun stores run as the pipeline's next run record, dropping the
// record keepRuns older.
func (s *Service) recordRun(ctx context.Context, tx store.Tx, pipeline store.Resource, run *PipelineRun, now time.Time) error {
	seq, err := tx.NextBuild(ctx, pipeline.Account, s.Region, KindPipelineRun, pipeline.ARN, "")
	if err != nil {
		return err
	}
	run.Pipeline, run.Sequence = pipeline.ARN, seq
	doc, err := json.Marshal(run)
	if err != nil {
		return err
	}
	if err := tx.Insert(ctx, store.Resource{
		ARN: pipelineRunKey(pipeline.ARN, seq), Kind: KindPipelineRun, Account: pipeline.Account, Region: s.Region,
		Name: pipeline.ARN, Build: seq, Doc: doc, Created: now, Updated: now,
	}); err != nil {
		return err
	}
	if seq > keepRuns {
		if err := tx.Delete(ctx, pipelineRunKey(pipeline.ARN, seq-keepRuns)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (s *Service) logRun(run PipelineRun) {
	attrs := []any{"pipeline", run.Pipeline, "run", run.Sequence, "trigger", run.Trigger, "outcome", run.Outcome}
	if run.DueAt != "" {
		attrs = append(attrs, "due", run.DueAt)
	}
	if run.Missed > 0 {
		attrs = append(attrs, "missed", run.Missed)
	}
	if run.Image != "" {
		attrs = append(attrs, "image", run.Image)
	}
	if run.Reason != "" {
		attrs = append(attrs, "reason", run.Reason)
	}
	level := slog.LevelInfo
	if run.Outcome == RunFailed {
		level = slog.LevelWarn
	}
	s.log().Log(context.Background(), level, "pipeline run", attrs...)
}

// updateTick is update for a transaction that writes a pipeline's tick
// on behalf of a person (StartImagePipelineExecution): a tick another
// node's scheduler claimed meanwhile is not the person's failure, so the
// transaction runs again on the new tick.
func (s *Service) updateTick(ctx context.Context, fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.update(ctx, fn)
		if !errors.Is(err, errTickRaced) || attempt == 5 {
			return err
		}
	}
}

func getPipelineTick(ctx context.Context, tx store.Tx, pipeline string) (pipelineTick, error) {
	var t pipelineTick
	r, err := tx.Get(ctx, pipelineTickKey(pipeline))
	if errors.Is(err, store.ErrNotFound) {
		return t, nil
	} else if err != nil {
		return t, err
	}
	if err := json.Unmarshal(r.Doc, &t); err != nil {
		return t, fmt.Errorf("stored pipeline tick %s: %w", r.ARN, err)
	}
	t.stored = r.Doc
	return t, nil
}

func putPipelineTick(ctx context.Context, tx store.Tx, pipeline store.Resource, t pipelineTick, now time.Time) error {
	doc, err := json.Marshal(t)
	if err != nil {
		return err
	}
	row := store.Resource{
		ARN: pipelineTickKey(pipeline.ARN), Kind: KindPipelineTick, Account: pipeline.Account, Region: pipeline.Region,
		Name: pipeline.ARN, Doc: doc, Created: now, Updated: now,
	}
	if t.stored == nil {
		err = tx.Insert(ctx, row)
	} else {
		err = tx.Replace(ctx, row, t.stored)
	}
	if errors.Is(err, store.ErrExists) || errors.Is(err, store.ErrConflict) || (t.stored != nil && errors.Is(err, store.ErrNotFound)) {
		return errTickRaced
	}
	return err
}

// schedules caches parsed expressions and zones while due times are
// computed for many pipelines.
type schedules struct {
	exprs map[string]*schedule.Schedule
	zones map[string]*time.Location
}

// due is when pipeline p's schedule next comes due after its tick was
// last claimed at claimed: the first firing after the later of claimed and
// the pipeline's last update (the moment its schedule was set, which is
// also the anchor of a rate expression — the same rule as nextRun, so
// dateNextRun shows when the scheduler will fire). ok is false for
// pipelines whose schedule does not run: no expression, or DISABLED.
func (c *schedules) due(p awsapi.ImagePipeline, claimed time.Time) (time.Time, bool) {
	if p.Schedule == nil || p.Schedule.ScheduleExpression == "" || p.Status == awsapi.PipelineStatusDisabled {
		return time.Time{}, false
	}
	if c.exprs == nil {
		c.exprs, c.zones = map[string]*schedule.Schedule{}, map[string]*time.Location{}
	}
	sch, ok := c.exprs[p.Schedule.ScheduleExpression]
	if !ok {
		sch, _ = schedule.Parse(p.Schedule.ScheduleExpression)
		c.exprs[p.Schedule.ScheduleExpression] = sch
	}
	zone := p.Schedule.Timezone
	if zone == "" {
		zone = defaultTimezone
	}
	loc, ok := c.zones[zone]
	if !ok {
		loc, _ = schedule.LoadZone(zone)
		c.zones[zone] = loc
	}
	if sch == nil || loc == nil {
		return time.Time{}, false
	}
	anchor, err := time.Parse(time.RFC3339Nano, p.DateUpdated)
	if err != nil {
		if anchor, err = time.Parse(time.RFC3339Nano, p.DateCreated); err != nil {
			return time.Time{}, false
		}
	}
	after := anchor
	if claimed.After(after) {
		after = claimed
	}
	return sch.NextFrom(anchor, after, loc)
}

// Scheduled implements scheduler.Pipelines: the next due time of every
// pipeline whose schedule runs, in every account of this region.
func (s *Service) Scheduled(ctx context.Context) ([]scheduler.Due, error) {
	var out []scheduler.Due
	err := s.view(ctx, func(tx store.Tx) error {
		ticks, err := tx.List(ctx, store.Query{Kind: KindPipelineTick, Region: s.Region})
		if err != nil {
			return err
		}
		claimed := make(map[string]time.Time, len(ticks))
		for _, r := range ticks {
			var t struct {
				Claimed time.Time `json:"claimed"`
			}
			if err := json.Unmarshal(r.Doc, &t); err == nil {
				claimed[r.Name] = t.Claimed
			}
		}
		rows, err := tx.List(ctx, store.Query{Kind: kindImagePipeline, Region: s.Region})
		if err != nil {
			return err
		}
		var c schedules
		for _, r := range rows {
			// Only the members due reads: decoding whole pipelines was a
			// third of a refresh's CPU with 10,000 of them.
			var p awsapi.ImagePipeline
			var doc struct {
				Schedule    *awsapi.Schedule `json:"schedule"`
				Status      string           `json:"status"`
				DateCreated string           `json:"dateCreated"`
				DateUpdated string           `json:"dateUpdated"`
			}
			if err := json.Unmarshal(r.Doc, &doc); err != nil {
				s.log().Error("reading a pipeline's schedule", "pipeline", r.ARN, "err", err)
				continue
			}
			p.Schedule, p.Status, p.DateCreated, p.DateUpdated = doc.Schedule, doc.Status, doc.DateCreated, doc.DateUpdated
			if at, ok := c.due(p, claimed[r.ARN]); ok {
				out = append(out, scheduler.Due{Pipeline: r.ARN, At: at})
			}
		}
		return nil
	})
	return out, err
}

// Fire implements scheduler.Pipelines. In one transaction it reads the
// pipeline's due time and, when it has come, claims the tick (moves the
// due time past now, so a tick missed while kiln was down fires once, not
// once per missed firing, and a second kiln process finds nothing due) and
// decides what the tick does:
//   - an earlier build of the pipeline is not finished: skipped (at most
//     one scheduled run of a pipeline at a time);
//   - start condition EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE
//     and every reference of the recipe resolves as it did for the last
//     image that became AVAILABLE: skipped. kiln builds when a resolution
//     differs, which with `x` wildcards means something newer was
//     published (or the newest was deleted);
//   - otherwise a build (buildType SCHEDULED), or, when the build cannot
//     be queued (a reference gone), a failed run with the reason.
//
// Every tick is recorded as a PipelineRun and logged.
func (s *Service) Fire(ctx context.Context, pipeline string) (time.Time, error) {
	var (
		next time.Time
		run  *PipelineRun
	)
	err := s.update(ctx, func(tx store.Tx) error {
		next, run = time.Time{}, nil
		r, err := tx.Get(ctx, pipeline)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted
		} else if err != nil {
			return err
		}
		p, err := decodePipeline(r)
		if err != nil {
			return err
		}
		tick, err := getPipelineTick(ctx, tx, pipeline)
		if err != nil {
			return err
		}
		var c schedules
		due, ok := c.due(p, tick.Claimed)
		if !ok {
			return nil
		}
		now := s.now()
		if due.After(now) {
			next = due
			return nil
		}
		missed := 0
		for t := due; missed < 10000; missed++ {
			if t, ok = c.due(p, t); !ok || t.After(now) {
				break
			}
		}
		tick.Claimed = now
		next, _ = c.due(p, now)
		run = &PipelineRun{Trigger: awsapi.BuildTypeScheduled, DueAt: formatDateTime(due), Missed: missed, At: formatDateTime(now)}
		if err := s.decideTick(ctx, tx, r, &p, &tick, run); err != nil {
			return err
		}
		if err := s.recordRun(ctx, tx, r, run, now); err != nil {
			return err
		}
		return putPipelineTick(ctx, tx, r, tick, now)
	})
	if errors.Is(err, errTickRaced) {
		// Another node claimed this tick between our read and write:
		// it fires there. Look again shortly, to learn the next due time.
		return s.now(), nil
	}
	if err != nil {
		return time.Time{}, err
	}
	if run != nil {
		s.logRun(*run)
		if run.Outcome == RunBuilt {
			s.wakeBuilds()
		}
	}
	return next, nil
}

// decideTick fills run with what a due tick does, queuing the build when
// there is one. It returns only errors that should undo the claim (the
// store failing); a build that cannot be asked for is a FAILED run.
func (s *Service) decideTick(ctx context.Context, tx store.Tx, r store.Resource, p *awsapi.ImagePipeline, tick *pipelineTick, run *PipelineRun) error {
	running, err := s.watchBuilds(ctx, tx, tick)
	if err != nil {
		return err
	}
	if running[0] != "" {
		run.Outcome = RunSkipped
		run.Reason = fmt.Sprintf("the pipeline's previous build %s is still %s", running[0], running[1])
		return nil
	}
	failed := func(err error) error {
		var apiErr *awsapi.Error
		if !errors.As(err, &apiErr) {
			return err
		}
		run.Outcome, run.Reason = RunFailed, apiErr.Message
		return nil
	}
	deps, err := s.pipelineDependencies(ctx, tx, r.Account, *p)
	if err != nil {
		return failed(err)
	}
	run.Dependencies = deps
	if p.Schedule.PipelineExecutionStartCondition != awsapi.PipelineExecutionStartConditionExpressionMatchOnly && tick.Good != nil {
		if maps.Equal(deps, tick.Good.Dependencies) {
			run.Outcome = RunSkipped
			run.Reason = fmt.Sprintf("start condition %s: no dependency update since %s (every wildcard reference resolves as it did)",
				awsapi.PipelineExecutionStartConditionExpressionMatchAndDependencyUpdatesAvailable, tick.Good.Image)
			return nil
		}
		run.Reason = "dependency updates: " + changedDependencies(tick.Good.Dependencies, deps)
	}
	// createImage answers API errors only from its checks, which come
	// before it writes anything, so recording a FAILED run in the same
	// transaction leaves no half-made image; store errors undo the claim.
	if err := s.buildPipeline(ctx, tx, r, p, tick, run, nil); err != nil {
		return failed(err)
	}
	return nil
}

// changedDependencies describes what differs between two resolutions.
func changedDependencies(old, cur map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(cur)) {
		if old[k] != cur[k] {
			out = append(out, fmt.Sprintf("%s %s → %s", k, orNone(old[k]), cur[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(old)) {
		if _, ok := cur[k]; !ok {
			out = append(out, k+" removed")
		}
	}
	return strings.Join(out, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// PipelineRuns returns the recorded runs of a pipeline the account owns,
// oldest first. Runs outlive their pipeline, so a deleted pipeline's
// history can still be read.
func (s *Service) PipelineRuns(ctx context.Context, account, pipeline string) ([]PipelineRun, error) {
	a, err := s.parseARN("imagePipelineArn", pipeline, kindImagePipeline)
	if err != nil {
		return nil, err
	}
	runs := []PipelineRun{}
	err = s.view(ctx, func(tx store.Tx) error {
		rows, err := tx.List(ctx, store.Query{Kind: KindPipelineRun, Region: s.Region, Owners: []string{account}, Name: a.String()})
		if err != nil {
			return err
		}
		for _, r := range rows {
			var run PipelineRun
			if err := json.Unmarshal(r.Doc, &run); err != nil {
				return fmt.Errorf("stored pipeline run %s: %w", r.ARN, err)
			}
			runs = append(runs, run)
		}
		if len(rows) > 0 {
			return nil
		}
		_, err = s.ownedResource(ctx, tx, account, a, "ImagePipeline")
		return err
	})
	if err != nil {
		return nil, err
	}
	return runs, nil
}

var pipelineImageFilters = filterFields{
	"name":    store.DocField("name"),
	"version": store.DocField("version"),
}

// ListImagePipelineImages lists the images a pipeline built (those whose
// sourcePipelineArn names it), ordered by name, version and build, with
// the filters name and version.
func (s *Service) ListImagePipelineImages(ctx context.Context, account string, in *awsapi.ListImagePipelineImagesRequest) (*awsapi.ListImagePipelineImagesResponse, error) {
	a, err := s.parseARN("imagePipelineArn", in.ImagePipelineArn, kindImagePipeline)
	if err != nil {
		return nil, err
	}
	match, err := pipelineImageFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	if err := s.view(ctx, func(tx store.Tx) error {
		_, err := s.getVisible(ctx, tx, account, a, "ImagePipeline")
		return err
	}); err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: awsapi.OpListImagePipelineImages, params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{
			Kind: kindImage, Region: s.Region, Owners: []string{a.Account},
			Where: append(append(match, visibleTo(account)...), store.Eq(store.DocField("sourcePipelineArn"), a.String())),
		},
	}
	list, next, err := listRows(ctx, s, p, imageSummary)
	if err != nil {
		return nil, err
	}
	return &awsapi.ListImagePipelineImagesResponse{ImageSummaryList: list, NextToken: next}, nil
}
