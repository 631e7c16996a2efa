package service

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/catalog"
	"github.com/kiln-build/kiln/internal/semver"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/workflow"
)

// Workflows are stored under their ARN type, one kind per workflow type,
// so that s.resolve finds them by ARN like any build-versioned resource.
var workflowKinds = []string{arn.TypeWorkflowBuild, arn.TypeWorkflowTest, arn.TypeWorkflowDistribution}

// workflowKind is the ARN type (and store kind) of a WorkflowType.
func workflowKind(workflowType string) string {
	return "workflow/" + strings.ToLower(workflowType)
}

func (s *Service) workflowHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateWorkflow:            handle(s.CreateWorkflow),
		awsapi.OpGetWorkflow:               handle(s.GetWorkflow),
		awsapi.OpListWorkflows:             handle(s.ListWorkflows),
		awsapi.OpListWorkflowBuildVersions: handle(s.ListWorkflowBuildVersions),
		awsapi.OpDeleteWorkflow:            handle(s.DeleteWorkflow),
		awsapi.OpListWaitingWorkflowSteps:  handle(s.ListWaitingWorkflowSteps),
		awsapi.OpSendWorkflowStepAction:    handle(s.SendWorkflowStepAction),
	}
}

// CreateWorkflow stores a new build of a workflow version. The document is
// parsed and validated for the workflow's type (known actions, the stages
// they may run in, their timeout limits, references between steps) and
// every problem is reported with its line. Versions get build numbers as
// components do: the same version again makes the next build, unless the
// document is identical to the latest build's (ResourceInUseException).
func (s *Service) CreateWorkflow(ctx context.Context, account string, in *awsapi.CreateWorkflowRequest) (*awsapi.CreateWorkflowResponse, error) {
	data, err := s.documentData(ctx, in.Data, in.Uri)
	if err != nil {
		return nil, err
	}
	version, err := parseSemanticVersion(in.SemanticVersion)
	if err != nil {
		return nil, err
	}
	member := "data"
	if in.Uri != "" {
		member = "uri"
	}
	doc, err := parseWorkflowDocument(member, in.Type, data)
	if err != nil {
		return nil, err
	}
	if deref(in.DryRun) {
		return nil, awsapi.Errorf(awsapi.ErrCodeDryRunOperationException, "The request would have succeeded, but the DryRun parameter was set.")
	}
	wf := awsapi.Workflow{
		Name:              in.Name,
		Version:           version.String(),
		Description:       in.Description,
		ChangeDescription: in.ChangeDescription,
		Type:              in.Type,
		Owner:             account,
		Data:              data,
		KmsKeyId:          in.KmsKeyId,
		Parameters:        workflowParameters(doc),
	}
	out := &awsapi.CreateWorkflowResponse{ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateWorkflow, in.ClientToken, in, out, func() error {
			a, err := s.insertWorkflow(ctx, tx, account, wf, in.Tags)
			out.WorkflowBuildVersionArn = a
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	out.LatestVersionReferences = latestVersionReferences(out.WorkflowBuildVersionArn)
	return out, nil
}

// parseWorkflowDocument parses and validates a workflow document for its
// type, answering InvalidParameterValueException that lists every problem
// with its line and column.
func parseWorkflowDocument(member, workflowType, data string) (*workflow.Document, error) {
	doc, err := workflow.Parse([]byte(data))
	if err != nil {
		return nil, badValue(member, "The workflow document is not valid: %v", err)
	}
	if ps := doc.Validate(workflow.Stage(workflowType)); len(ps) > 0 {
		return nil, badValue(member, "The workflow document is not valid: %v", ps)
	}
	return doc, nil
}

// workflowParameters lists the parameters a document declares, in the
// API's shape (types as the document spells them; defaults as strings).
func workflowParameters(doc *workflow.Document) []awsapi.WorkflowParameterDetail {
	var out []awsapi.WorkflowParameterDetail
	for _, p := range doc.Parameters {
		d := awsapi.WorkflowParameterDetail{Name: p.Name, Type: p.Type, Description: p.Description}
		if p.HasDefault {
			d.DefaultValue = p.Default
		}
		out = append(out, d)
	}
	return out
}

// insertWorkflow assigns wf its next build number and stores it.
func (s *Service) insertWorkflow(ctx context.Context, tx store.Tx, account string, wf awsapi.Workflow, tags map[string]string) (string, error) {
	return s.insertBuild(ctx, tx, account, workflowKind(wf.Type), "workflow", wf.Name, wf.Version, wf.Data, tags,
		func(a string, now time.Time) any {
			wf.Arn = a
			wf.DateCreated = formatDateTime(now)
			return wf
		})
}

// GetWorkflow returns a workflow build: by build ARN, or by version ARN
// (with `x` wildcards) resolved to the latest matching build.
func (s *Service) GetWorkflow(ctx context.Context, account string, in *awsapi.GetWorkflowRequest) (*awsapi.GetWorkflowResponse, error) {
	a, err := s.parseARN("workflowBuildVersionArn", in.WorkflowBuildVersionArn, workflowKinds...)
	if err != nil {
		return nil, err
	}
	var out awsapi.GetWorkflowResponse
	err = s.view(ctx, func(tx store.Tx) error {
		r, err := s.resolve(ctx, tx, account, a, "Workflow")
		if err != nil {
			return err
		}
		wf, err := decodeWorkflow(r)
		out.Workflow = &wf
		return err
	})
	if err != nil {
		return nil, err
	}
	out.LatestVersionReferences = latestVersionReferences(out.Workflow.Arn)
	return &out, nil
}

func decodeWorkflow(r store.Resource) (awsapi.Workflow, error) {
	var w awsapi.Workflow
	if err := json.Unmarshal(r.Doc, &w); err != nil {
		return w, fmt.Errorf("stored workflow %s: %w", r.ARN, err)
	}
	w.Owner = ownerName(r.Account)
	if len(r.Tags) > 0 {
		w.Tags = r.Tags
	}
	return w, nil
}

var workflowFilters = filterFields{
	"description": store.DocField("description"),
	"name":        store.DocField("name"),
	"type":        store.DocField("type"),
	"version":     store.DocField("version"),
}

// ListWorkflows lists workflow versions (one entry per version, showing
// its latest build), or one entry per name with byName, across the three
// workflow types. Entries are ordered by name, then type, then owner and
// version; the nextToken carries the last entry's ARN.
func (s *Service) ListWorkflows(ctx context.Context, account string, in *awsapi.ListWorkflowsRequest) (*awsapi.ListWorkflowsResponse, error) {
	match, err := workflowFilters.compile(in.Filters)
	if err != nil {
		return nil, err
	}
	byName := deref(in.ByName)
	if err := checkByName(byName, in.Filters); err != nil {
		return nil, err
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	qhash, err := requestHash(params)
	if err != nil {
		return nil, err
	}
	var after *workflowListKey
	if in.NextToken != "" {
		last, err := s.decodeToken(in.NextToken, awsapi.OpListWorkflows, qhash)
		if err != nil {
			return nil, err
		}
		a, err := arn.Parse(last)
		if err != nil {
			return nil, awsapi.Errorf(awsapi.ErrCodeInvalidPaginationTokenException, "The pagination token is not valid for ListWorkflows.")
		}
		k := keyOfWorkflowARN(a, byName)
		after = &k
	}
	limit := defaultMaxResults
	if in.MaxResults != nil {
		limit = int(*in.MaxResults)
	}
	out := &awsapi.ListWorkflowsResponse{WorkflowVersionList: []awsapi.WorkflowVersion{}}
	err = s.view(ctx, func(tx store.Tx) error {
		// Latest build per entry, across the three kinds. Workflow counts
		// are small (tens per account), so the whole selection is read and
		// ordered here rather than merged from three keyset scans.
		latest := map[workflowListKey]store.Resource{}
		for _, kind := range workflowKinds {
			q := store.Query{Kind: kind, Region: s.Region}
			ownerQuery(&q, in.Owner, account)
			q.Where = append(q.Where, match...)
			rows, err := tx.List(ctx, q)
			if err != nil {
				return err
			}
			for _, r := range rows { // ascending version and build: the last wins
				a, err := arn.Parse(r.ARN)
				if err != nil {
					continue
				}
				latest[keyOfWorkflowARN(a, byName)] = r
			}
		}
		keys := make([]workflowListKey, 0, len(latest))
		for k := range latest {
			if after == nil || after.less(k) {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
		if len(keys) > limit {
			keys = keys[:limit]
			out.NextToken = s.encodeToken(cursor{Op: awsapi.OpListWorkflows, Query: qhash, After: latest[keys[limit-1]].ARN})
		}
		for _, k := range keys {
			w, err := decodeWorkflow(latest[k])
			if err != nil {
				return err
			}
			a, _ := arn.Parse(w.Arn)
			a.Build = 0
			if byName {
				a.Version = "x.x.x"
			}
			out.WorkflowVersionList = append(out.WorkflowVersionList, awsapi.WorkflowVersion{
				Arn: a.String(), Name: w.Name, Version: w.Version, Description: w.Description,
				Type: w.Type, Owner: w.Owner, DateCreated: w.DateCreated,
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// workflowListKey identifies one ListWorkflows entry and orders entries.
type workflowListKey struct {
	name, kind, account string
	version             semver.Version // zero with byName
}

func keyOfWorkflowARN(a arn.ARN, byName bool) workflowListKey {
	k := workflowListKey{name: a.Name, kind: a.Type, account: a.Account}
	if !byName {
		k.version = storedVersion(a.Version)
	}
	return k
}

func (k workflowListKey) less(o workflowListKey) bool {
	if k.name != o.name {
		return k.name < o.name
	}
	if k.kind != o.kind {
		return k.kind < o.kind
	}
	if k.account != o.account {
		return k.account < o.account
	}
	return semver.Compare(k.version, o.version) < 0
}

// ListWorkflowBuildVersions lists the builds of one workflow version.
// WorkflowSummary.arn is typed as a name ARN in the model; kiln returns
// each build's own ARN, which is what a client can pass to GetWorkflow
// (spec: UNSURE).
func (s *Service) ListWorkflowBuildVersions(ctx context.Context, account string, in *awsapi.ListWorkflowBuildVersionsRequest) (*awsapi.ListWorkflowBuildVersionsResponse, error) {
	a, err := s.parseARN("workflowVersionArn", in.WorkflowVersionArn, workflowKinds...)
	if err != nil {
		return nil, err
	}
	if _, err := semver.Parse(a.Version); err != nil || a.Build != 0 {
		return nil, badValue("workflowVersionArn", "workflowVersionArn must name one version (…/workflow/TYPE/NAME/M.m.p).")
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: awsapi.OpListWorkflowBuildVersions, params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{
			Kind: a.Type, Region: s.Region, Owners: []string{a.Account}, Name: a.Name, Version: a.Version,
			Where: visibleTo(account),
		},
	}
	if a.Region != s.Region {
		return &awsapi.ListWorkflowBuildVersionsResponse{WorkflowSummaryList: []awsapi.WorkflowSummary{}}, nil
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.WorkflowSummary, error) {
		w, err := decodeWorkflow(r)
		return awsapi.WorkflowSummary{
			Arn: w.Arn, Name: w.Name, Version: w.Version, Description: w.Description,
			ChangeDescription: w.ChangeDescription, Type: w.Type, Owner: w.Owner, State: w.State,
			DateCreated: w.DateCreated, Tags: w.Tags,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListWorkflowBuildVersionsResponse{WorkflowSummaryList: list, NextToken: next}, nil
}

// DeleteWorkflow deletes one workflow build. A build an image pipeline
// uses cannot be deleted: one named by its build ARN or its version ARN,
// or one that is the last build a pipeline's wildcard ARN (…/x.x.x,
// …/1.x.x, …/1.0.x) still resolves to, so that deleting never leaves a
// pipeline naming a workflow that no longer exists.
func (s *Service) DeleteWorkflow(ctx context.Context, account string, in *awsapi.DeleteWorkflowRequest) (*awsapi.DeleteWorkflowResponse, error) {
	a, err := s.parseARN("workflowBuildVersionArn", in.WorkflowBuildVersionArn, workflowKinds...)
	if err != nil {
		return nil, err
	}
	if a.Build == 0 {
		return nil, badValue("workflowBuildVersionArn", "workflowBuildVersionArn must be a build version ARN (…/M.m.p/BUILD).")
	}
	err = s.update(ctx, func(tx store.Tx) error {
		r, err := s.ownedResource(ctx, tx, account, a, "Workflow")
		if err != nil {
			return err
		}
		version := a
		version.Build = 0
		refs := []string{r.ARN, version.String()}
		for _, w := range wildcardsMatching(a) {
			others, err := tx.List(ctx, store.Query{Kind: a.Type, Region: s.Region, Owners: []string{a.Account}, Name: a.Name,
				Where: []store.Cond{store.Ne(store.FieldARN, r.ARN), versionLike(wildcard(w.Version))}})
			if err != nil {
				return err
			}
			if len(others) == 0 {
				refs = append(refs, w.String())
			}
		}
		if err := s.checkUnused(ctx, tx, account, "workflow", r.ARN, refs, arn.TypeImagePipeline); err != nil {
			return err
		}
		return tx.Delete(ctx, r.ARN)
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.DeleteWorkflowResponse{WorkflowBuildVersionArn: a.String()}, nil
}

// wildcardsMatching returns the wildcard version ARNs that match a's
// version: …/x.x.x, …/M.x.x and …/M.m.x.
func wildcardsMatching(a arn.ARN) []arn.ARN {
	v := storedVersion(a.Version)
	var out []arn.ARN
	for _, f := range []string{"x.x.x", fmt.Sprintf("%d.x.x", v.Major), fmt.Sprintf("%d.%d.x", v.Major, v.Minor)} {
		w := a
		w.Build = 0
		w.Version = f
		out = append(out, w)
	}
	return out
}

// SeedWorkflows makes kiln's Amazon-owned default workflows (build-image,
// test-container, ...) visible in this region under owner "aws", as
// SeedCatalog does for components: build 1 of their version, replaced when
// the embedded document changed and left alone otherwise.
func (s *Service) SeedWorkflows(ctx context.Context) error {
	wfs, err := catalog.Workflows()
	if err != nil {
		return err
	}
	created := s.now()
	return s.update(ctx, func(tx store.Tx) error {
		for _, c := range wfs {
			doc, err := parseWorkflowDocument("data", c.Type, c.Data)
			if err != nil {
				return fmt.Errorf("catalog workflow %s: %w", c.Name, err)
			}
			a := arn.New(s.Partition, s.Region, AmazonAccount, workflowKind(c.Type), c.Name).WithVersion(c.Version).WithBuild(1)
			err = s.seedAmazonBuild(ctx, tx, a, created, func(dateCreated string) any {
				return awsapi.Workflow{
					Arn: a.String(), Name: c.Name, Version: c.Version, Description: c.Description, Type: c.Type,
					Owner: amazonOwnerName, Data: c.Data, Parameters: workflowParameters(doc),
					DateCreated: dateCreated,
				}
			}, sameData)
			if err != nil {
				return err
			}
		}
		return nil
	})
}
