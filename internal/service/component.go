package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/semver"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/toe"
)

const kindComponent = "component"

func (s *Service) componentHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpCreateComponent:            handle(s.CreateComponent),
		awsapi.OpGetComponent:               handle(s.GetComponent),
		awsapi.OpListComponents:             handle(s.listComponentsWire),
		awsapi.OpListComponentBuildVersions: handle(s.ListComponentBuildVersions),
		awsapi.OpDeleteComponent:            handle(s.DeleteComponent),
		awsapi.OpImportComponent:            handle(s.ImportComponent),
		awsapi.OpPutComponentPolicy:         handle(s.PutComponentPolicy),
		awsapi.OpGetComponentPolicy:         handle(s.GetComponentPolicy),
	}
}

// maxComponentDocumentBytes is the default quota on a component document
// fetched through `uri` (64 KB); inline `data` is bounded by the model.
const maxComponentDocumentBytes = 64 << 10

// CreateComponent stores a new build of a component version. Following the
// current service (auto-versioning), creating a version that exists makes
// its next build (1.0.0/2) unless the document is identical to the latest
// build's, which is ResourceInUseException — the error the 2019-12-02 model
// declares for CreateComponent and the spec's recommendation.
func (s *Service) CreateComponent(ctx context.Context, account string, in *awsapi.CreateComponentRequest) (*awsapi.CreateComponentResponse, error) {
	data, err := s.documentData(ctx, in.Data, in.Uri)
	if err != nil {
		return nil, err
	}
	comp, err := newComponent(account, in, data)
	if err != nil {
		return nil, err
	}
	if deref(in.DryRun) {
		return nil, awsapi.Errorf(awsapi.ErrCodeDryRunOperationException, "The request would have succeeded, but the DryRun parameter was set.")
	}
	out := &awsapi.CreateComponentResponse{ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpCreateComponent, in.ClientToken, in, out, func() error {
			a, err := s.insertComponent(ctx, tx, account, comp, in.Tags)
			out.ComponentBuildVersionArn = a
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	out.LatestVersionReferences = latestVersionReferences(out.ComponentBuildVersionArn)
	return out, nil
}

// newComponent checks a create request's version and document (data, read
// from the request's data or uri) and returns the component to store.
func newComponent(account string, in *awsapi.CreateComponentRequest, data string) (awsapi.Component, error) {
	version, err := parseSemanticVersion(in.SemanticVersion)
	if err != nil {
		return awsapi.Component{}, err
	}
	doc, err := parseComponentDocument("data", in.Name, data)
	if err != nil {
		return awsapi.Component{}, err
	}
	return awsapi.Component{
		Name:                in.Name,
		Version:             version.String(),
		Description:         in.Description,
		ChangeDescription:   in.ChangeDescription,
		Type:                doc.ComponentType(),
		Platform:            in.Platform,
		SupportedOsVersions: in.SupportedOsVersions,
		Parameters:          componentParameters(doc),
		Owner:               account,
		Data:                data,
		KmsKeyId:            in.KmsKeyId,
		// Documents are always encrypted at rest by the service, with the
		// caller's key or a service-owned one, so this is always true.
		Encrypted: ptr(true),
	}, nil
}

// insertComponent assigns comp its next build number and stores it.
func (s *Service) insertComponent(ctx context.Context, tx store.Tx, account string, comp awsapi.Component, tags map[string]string) (string, error) {
	return s.insertBuild(ctx, tx, account, kindComponent, "component", comp.Name, comp.Version, comp.Data, tags,
		func(a string, now time.Time) any {
			comp.Arn = a
			comp.DateCreated = formatDateTime(now)
			return comp
		})
}

// ImportComponent wraps a shell script in a generated AWSTOE document —
// one step running it in the phase the component type names — and stores
// it like CreateComponent.
func (s *Service) ImportComponent(ctx context.Context, account string, in *awsapi.ImportComponentRequest) (*awsapi.ImportComponentResponse, error) {
	script, err := s.documentData(ctx, in.Data, in.Uri)
	if err != nil {
		return nil, err
	}
	create := &awsapi.CreateComponentRequest{
		Name: in.Name, SemanticVersion: in.SemanticVersion, Description: in.Description,
		ChangeDescription: in.ChangeDescription, Platform: in.Platform,
		Data:     importedDocument(in.Name, in.Type, in.Platform, script),
		KmsKeyId: in.KmsKeyId, Tags: in.Tags, ClientToken: in.ClientToken,
	}
	comp, err := newComponent(account, create, create.Data)
	if err != nil {
		return nil, err
	}
	out := &awsapi.ImportComponentResponse{ClientToken: in.ClientToken}
	err = s.update(ctx, func(tx store.Tx) error {
		return idempotent(ctx, tx, account, awsapi.OpImportComponent, in.ClientToken, in, out, func() error {
			a, err := s.insertComponent(ctx, tx, account, comp, create.Tags)
			out.ComponentBuildVersionArn = a
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// importedDocument is the AWSTOE document ImportComponent generates for a
// script: its single step runs the script with the platform's shell.
func importedDocument(name, componentType, platform, script string) string {
	phase := "build"
	if componentType == awsapi.ComponentTypeTest {
		phase = "test"
	}
	action := "ExecuteBash"
	if platform == awsapi.PlatformWindows {
		action = "ExecutePowerShell"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n", quoteYAML(name))
	b.WriteString("description: Generated by ImportComponent from a SHELL script.\n")
	b.WriteString("schemaVersion: 1.0\nphases:\n")
	fmt.Fprintf(&b, "  - name: %s\n    steps:\n      - name: ImportedScript\n        action: %s\n", phase, action)
	b.WriteString("        inputs:\n          commands:\n            - |\n")
	for _, line := range strings.Split(strings.TrimRight(script, "\n"), "\n") {
		b.WriteString("              " + line + "\n")
	}
	return b.String()
}

func quoteYAML(s string) string {
	q, _ := json.Marshal(s) // a JSON string is a valid YAML double-quoted scalar
	return string(q)
}

// GetComponent returns a component build: by build ARN, or by version ARN
// (with `x` wildcards) resolved to the latest matching build.
func (s *Service) GetComponent(ctx context.Context, account string, in *awsapi.GetComponentRequest) (*getComponentResponse, error) {
	a, err := s.parseARN("componentBuildVersionArn", in.ComponentBuildVersionArn, kindComponent)
	if err != nil {
		return nil, err
	}
	var r store.Resource
	if a.Build > 0 {
		// A build ARN names one row: read it without a transaction, which
		// lets the store answer from its read cache.
		r, err = s.Store.Get(ctx, a.String())
		if errors.Is(err, store.ErrNotFound) || (err == nil && (a.Region != s.Region || !visible(r, account))) {
			return nil, notFound("The resource Component '%s' does not exist.", a)
		}
	} else {
		err = s.view(ctx, func(tx store.Tx) error {
			r, err = s.resolve(ctx, tx, account, a, "Component")
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	return &getComponentResponse{
		Component:               withTags(r.Doc, r.Tags),
		LatestVersionReferences: latestVersionReferences(r.ARN),
	}, nil
}

// getComponentResponse is awsapi.GetComponentResponse with the component
// kept as JSON. GetComponent is the hottest read, and the stored document
// already is the API's Component shape (with its owner), so it is spliced
// into the answer rather than decoded and encoded again.
type getComponentResponse struct {
	RequestId               string                          `json:"requestId,omitempty"`
	Component               json.RawMessage                 `json:"component"`
	LatestVersionReferences *awsapi.LatestVersionReferences `json:"latestVersionReferences,omitempty"`
}

// SetRequestId lets the server fill in the request ID.
func (r *getComponentResponse) SetRequestId(id string) { r.RequestId = id }

// AppendJSON writes the answer without encoding/json, which would spend
// more time re-validating the spliced document than the store spent
// reading it. The document is the service's own encoding, read back.
func (r *getComponentResponse) AppendJSON(b []byte) ([]byte, error) {
	b = append(b, '{')
	if r.RequestId != "" {
		b = append(b, `"requestId":`...)
		b = appendJSONString(b, r.RequestId)
		b = append(b, ',')
	}
	b = append(b, `"component":`...)
	b = append(b, r.Component...)
	if r.LatestVersionReferences != nil {
		refs, err := json.Marshal(r.LatestVersionReferences)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"latestVersionReferences":`...)
		b = append(b, refs...)
	}
	return append(b, '}'), nil
}

// withTags returns the stored document doc (a JSON object without a tags
// member) with tags added as its last member.
func withTags(doc []byte, tags map[string]string) json.RawMessage {
	if len(tags) == 0 {
		return doc
	}
	t, _ := json.Marshal(tags)
	end := bytes.LastIndexByte(doc, '}')
	out := make([]byte, 0, len(doc)+len(t)+10)
	out = append(out, doc[:end]...)
	if len(bytes.TrimSpace(doc[1:end])) > 0 {
		out = append(out, ',')
	}
	out = append(out, `"tags":`...)
	out = append(out, t...)
	return append(out, '}')
}

func decodeComponent(r store.Resource) (awsapi.Component, error) {
	var c awsapi.Component
	if err := json.Unmarshal(r.Doc, &c); err != nil {
		return c, fmt.Errorf("stored component %s: %w", r.ARN, err)
	}
	c.Owner = ownerName(r.Account)
	if len(r.Tags) > 0 {
		c.Tags = r.Tags
	}
	return c, nil
}

var componentFilters = filterFields{
	"description":        store.DocField("description"),
	"name":               store.DocField("name"),
	"platform":           store.DocField("platform"),
	"supportedOsVersion": store.DocField("supportedOsVersions"),
	"type":               store.DocField("type"),
	"version":            store.DocField("version"),
}

// ownerQuery sets q's ownership selection from the `owner` member;
// callers append their own filters to q.Where.
func ownerQuery(q *store.Query, owner, account string) {
	switch owner {
	case "", awsapi.OwnershipSelf:
		q.Owners = []string{account}
	case awsapi.OwnershipAmazon:
		q.Owners = []string{AmazonAccount}
	case awsapi.OwnershipShared:
		// SharedWith narrows (in SQL) to rows whose policy names the
		// account; the policy itself then decides.
		q.SharedWith = account
		q.Where = append(q.Where, store.Cond{Check: func(r store.Resource) bool { return sharedListable(r, account) }})
	default: // ThirdParty, AWSMarketplace: kiln has no such publishers.
		q.Owners = []string{"third-party"}
	}
}

// ListComponents lists component versions (one entry per version, showing
// its latest build), or one entry per name with byName.
func (s *Service) ListComponents(ctx context.Context, account string, in *awsapi.ListComponentsRequest) (*awsapi.ListComponentsResponse, error) {
	p, err := s.listComponentsPage(account, in)
	if err != nil {
		return nil, err
	}
	list, next, err := listRows(ctx, s, p, s.componentVersion)
	if err != nil {
		return nil, err
	}
	return &awsapi.ListComponentsResponse{ComponentVersionList: list, NextToken: next}, nil
}

// listComponentsWire is ListComponents as the API handler answers it: each
// entry is its cached JSON rendering, spliced into the answer (see
// rawListResponse), so a page costs no reflection over its entries.
func (s *Service) listComponentsWire(ctx context.Context, account string, in *awsapi.ListComponentsRequest) (*rawListResponse, error) {
	p, err := s.listComponentsPage(account, in)
	if err != nil {
		return nil, err
	}
	list, next, err := listRows(ctx, s, p, s.componentVersionJSON)
	if err != nil {
		return nil, err
	}
	return &rawListResponse{member: "componentVersionList", items: list, nextToken: next}, nil
}

// listComponentsPage is the store query and paging of a ListComponents
// request.
func (s *Service) listComponentsPage(account string, in *awsapi.ListComponentsRequest) (listPage, error) {
	match, err := componentFilters.compile(in.Filters)
	if err != nil {
		return listPage{}, err
	}
	byName := deref(in.ByName)
	if err := checkByName(byName, in.Filters); err != nil {
		return listPage{}, err
	}
	q := store.Query{Kind: kindComponent, Region: s.Region}
	ownerQuery(&q, in.Owner, account)
	// The owner selection already confines rows to what the caller may
	// see; the filters are the only conditions.
	q.Where = append(q.Where, match...)
	params := *in
	params.NextToken, params.MaxResults = "", nil
	return listPage{
		op: awsapi.OpListComponents, params: params, maxResults: in.MaxResults, nextToken: in.NextToken, query: q,
		group: versionGroup(byName),
	}, nil
}

// componentVersionJSON is componentVersion encoded, kept per ARN too.
func (s *Service) componentVersionJSON(r store.Resource) (json.RawMessage, error) {
	if b, ok := s.versionsJSON.Load(r.ARN); ok {
		return b.(json.RawMessage), nil
	}
	v, err := s.componentVersion(r)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	s.versionsJSON.Store(r.ARN, json.RawMessage(b))
	return b, nil
}

// componentVersion renders a stored component build as a ListComponents
// entry. A build's document never changes after it is created, so the
// rendering is kept per ARN: lists then cost no JSON decoding.
func (s *Service) componentVersion(r store.Resource) (awsapi.ComponentVersion, error) {
	if v, ok := s.versions.Load(r.ARN); ok {
		return v.(awsapi.ComponentVersion), nil
	}
	// ComponentVersion's members are a subset of Component's with the
	// same names, so the stored document decodes straight into it.
	var v awsapi.ComponentVersion
	if err := json.Unmarshal(r.Doc, &v); err != nil {
		return v, fmt.Errorf("stored component %s: %w", r.ARN, err)
	}
	a, _ := arn.Parse(r.ARN)
	a.Build = 0
	v.Arn = a.String()
	v.Owner = ownerName(r.Account)
	s.versions.Store(r.ARN, v)
	return v, nil
}

// ListComponentBuildVersions lists the builds of one component version.
func (s *Service) ListComponentBuildVersions(ctx context.Context, account string, in *awsapi.ListComponentBuildVersionsRequest) (*awsapi.ListComponentBuildVersionsResponse, error) {
	a, err := s.parseARN("componentVersionArn", in.ComponentVersionArn, kindComponent)
	if err != nil {
		return nil, err
	}
	if _, err := semver.Parse(a.Version); err != nil || a.Build != 0 {
		return nil, badValue("componentVersionArn", "componentVersionArn must name one version (…/component/NAME/M.m.p).")
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{
		op: awsapi.OpListComponentBuildVersions, params: params, maxResults: in.MaxResults, nextToken: in.NextToken,
		query: store.Query{
			Kind: kindComponent, Region: s.Region, Owners: []string{a.Account}, Name: a.Name, Version: a.Version,
			Where: visibleTo(account),
		},
	}
	if a.Region != s.Region {
		return &awsapi.ListComponentBuildVersionsResponse{ComponentSummaryList: []awsapi.ComponentSummary{}}, nil
	}
	list, next, err := listRows(ctx, s, p, func(r store.Resource) (awsapi.ComponentSummary, error) {
		c, err := decodeComponent(r)
		return awsapi.ComponentSummary{
			Arn: c.Arn, Name: c.Name, Version: c.Version, Platform: c.Platform,
			SupportedOsVersions: c.SupportedOsVersions, State: c.State, Type: c.Type, Owner: c.Owner,
			Description: c.Description, ChangeDescription: c.ChangeDescription,
			DateCreated: c.DateCreated, Tags: c.Tags, Publisher: c.Publisher, Obfuscate: c.Obfuscate,
		}, err
	})
	if err != nil {
		return nil, err
	}
	return &awsapi.ListComponentBuildVersionsResponse{ComponentSummaryList: list, NextToken: next}, nil
}

// DeleteComponent deletes one component build. A build that a recipe uses
// (by its build ARN or its version ARN) cannot be deleted.
func (s *Service) DeleteComponent(ctx context.Context, account string, in *awsapi.DeleteComponentRequest) (*awsapi.DeleteComponentResponse, error) {
	a, err := s.parseARN("componentBuildVersionArn", in.ComponentBuildVersionArn, kindComponent)
	if err != nil {
		return nil, err
	}
	if a.Build == 0 {
		return nil, badValue("componentBuildVersionArn", "componentBuildVersionArn must be a build version ARN (…/M.m.p/BUILD).")
	}
	err = s.update(ctx, func(tx store.Tx) error {
		r, err := s.ownedResource(ctx, tx, account, a, "Component")
		if err != nil {
			return err
		}
		version := a
		version.Build = 0
		if err := s.checkUnused(ctx, tx, account, "component", r.ARN, []string{r.ARN, version.String()}, "image-recipe", "container-recipe"); err != nil {
			return err
		}
		return tx.Delete(ctx, r.ARN)
	})
	if err != nil {
		return nil, err
	}
	s.versions.Delete(a.String())
	return &awsapi.DeleteComponentResponse{ComponentBuildVersionArn: a.String()}, nil
}

// ownedResource reads a resource the caller must own to change: others'
// resources it cannot see are not found; ones shared with it are
// forbidden.
func (s *Service) ownedResource(ctx context.Context, tx store.Tx, account string, a arn.ARN, label string) (store.Resource, error) {
	r, err := s.getVisible(ctx, tx, account, a, label)
	if err != nil {
		return r, err
	}
	if r.Account != account {
		return r, awsapi.Errorf(awsapi.ErrCodeForbiddenException, "The %s '%s' is not owned by account %s.", label, a, account)
	}
	return r, nil
}

// references returns the ARNs r's document refers to through its
// reference members: a recipe's components, a pipeline's recipe,
// configurations and workflows. Only these count as uses; a description
// or tag that merely spells an ARN does not, or anyone could block a
// delete by writing its victim's ARN into a free-text field.
func references(r store.Resource) []string {
	var refs []string
	switch r.Kind {
	case kindImageRecipe:
		var doc struct {
			Components []awsapi.ComponentConfiguration `json:"components"`
		}
		if json.Unmarshal(r.Doc, &doc) == nil {
			for _, c := range doc.Components {
				refs = append(refs, c.ComponentArn)
			}
		}
	case kindContainerRecipe:
		var doc struct {
			Components []awsapi.ComponentConfiguration `json:"components"`
		}
		if json.Unmarshal(r.Doc, &doc) == nil {
			for _, c := range doc.Components {
				refs = append(refs, c.ComponentArn)
			}
		}
	case arn.TypeImagePipeline:
		var doc struct {
			ImageRecipeArn                 string                         `json:"imageRecipeArn"`
			ContainerRecipeArn             string                         `json:"containerRecipeArn"`
			InfrastructureConfigurationArn string                         `json:"infrastructureConfigurationArn"`
			DistributionConfigurationArn   string                         `json:"distributionConfigurationArn"`
			Workflows                      []awsapi.WorkflowConfiguration `json:"workflows"`
		}
		if json.Unmarshal(r.Doc, &doc) == nil {
			refs = append(refs, doc.ImageRecipeArn, doc.ContainerRecipeArn, doc.InfrastructureConfigurationArn, doc.DistributionConfigurationArn)
			for _, w := range doc.Workflows {
				refs = append(refs, w.WorkflowArn)
			}
		}
	}
	return refs
}

// dependents lists resources of the given kinds (any owner) that refer to
// one of refs through a reference member (see references). The store
// narrows to documents mentioning a ref as a complete JSON string (in SQL);
// references then decides, so free text that spells an ARN is no use.
func (s *Service) dependents(ctx context.Context, tx store.Tx, refs []string, kinds ...string) ([]store.Resource, error) {
	needles := make([]string, len(refs))
	for i, ref := range refs {
		b, _ := json.Marshal(ref)
		needles[i] = string(b)
	}
	refers := store.Cond{Check: func(r store.Resource) bool {
		return slices.ContainsFunc(references(r), func(ref string) bool { return ref != "" && slices.Contains(refs, ref) })
	}}
	var users []store.Resource
	for _, kind := range kinds {
		rows, err := tx.List(ctx, store.Query{Kind: kind, Region: s.Region, Where: []store.Cond{
			{Field: store.FieldDoc, Op: store.Contains, Values: needles}, refers,
		}})
		if err != nil {
			return nil, err
		}
		users = append(users, rows...)
	}
	return users, nil
}

// checkUnused answers ResourceDependencyException when a stored resource
// of the given kinds refers to the resource at resourceARN by one of refs
// (its own ARN, or version and wildcard ARNs that resolve to it). The
// message names the caller's own users; other accounts' users (which use
// it through a resource policy) are only counted, so a delete never
// discloses another account's resources.
func (s *Service) checkUnused(ctx context.Context, tx store.Tx, account, label, resourceARN string, refs []string, kinds ...string) error {
	users, err := s.dependents(ctx, tx, refs, kinds...)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		return nil
	}
	var own []string
	foreign := 0
	for _, u := range users {
		if u.Account == account {
			own = append(own, u.ARN)
		} else {
			foreign++
		}
	}
	var parts []string
	if len(own) > 0 {
		parts = append(parts, strings.Join(own, ", "))
	}
	switch foreign {
	case 0:
	case 1:
		parts = append(parts, "1 resource of another account")
	default:
		parts = append(parts, fmt.Sprintf("%d resources of other accounts", foreign))
	}
	return awsapi.Errorf(awsapi.ErrCodeResourceDependencyException,
		"The %s '%s' cannot be deleted because it is used by: %s.", label, resourceARN, strings.Join(parts, "; "))
}

// parseSemanticVersion checks a user-supplied M.m.p.
func parseSemanticVersion(s string) (semver.Version, error) {
	v, err := semver.Parse(s)
	if err != nil {
		return v, awsapi.Errorf(awsapi.ErrCodeInvalidVersionNumberException, "The semantic version '%s' is not valid: %v", s, err)
	}
	return v, nil
}

// parseComponentDocument parses and validates an AWSTOE document with the
// same parser the runner uses, answering every problem with its line.
func parseComponentDocument(member, name string, data string) (*toe.Document, error) {
	doc, err := toe.Parse(name, []byte(data))
	if err != nil {
		return nil, badValue(member, "The component document is not valid: %v", err)
	}
	if problems := doc.Validate(); len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = fmt.Sprintf("line %d, column %d: %s", p.Line, p.Column, p.Message)
		}
		return nil, badValue(member, "The component document is not valid: %s", strings.Join(msgs, "; "))
	}
	return doc, nil
}

// componentParameters lists the parameters a document declares, in the
// API's shape. AWSTOE documents spell types in lower case ("string");
// the API's ComponentParameterType pattern capitalises them.
func componentParameters(doc *toe.Document) []awsapi.ComponentParameterDetail {
	var out []awsapi.ComponentParameterDetail
	for _, p := range doc.Parameters {
		d := awsapi.ComponentParameterDetail{Name: p.Name, Type: apiParameterType(p.Type), Description: p.Description}
		if p.HasDefault {
			d.DefaultValue = []string{p.Default}
		}
		out = append(out, d)
	}
	return out
}

func apiParameterType(t string) string {
	switch strings.ToLower(t) {
	case "integer":
		return "Integer"
	case "boolean":
		return "Boolean"
	case "stringlist":
		return "StringList"
	default:
		return "String"
	}
}

// latestVersionReferences derives the newer API's wildcard references
// from a resource ARN: …/x.x.x, …/M.x.x, …/M.m.x and …/M.m.p.
func latestVersionReferences(resourceARN string) *awsapi.LatestVersionReferences {
	a, err := arn.Parse(resourceARN)
	if err != nil || a.Version == "" {
		return nil
	}
	v, err := semver.Parse(a.Version)
	if err != nil {
		return nil
	}
	at := func(version string) string {
		b := a
		b.Build = 0
		b.Version = version
		return b.String()
	}
	return &awsapi.LatestVersionReferences{
		LatestVersionArn:      at("x.x.x"),
		LatestMajorVersionArn: at(fmt.Sprintf("%d.x.x", v.Major)),
		LatestMinorVersionArn: at(fmt.Sprintf("%d.%d.x", v.Major, v.Minor)),
		LatestPatchVersionArn: at(v.String()),
	}
}
