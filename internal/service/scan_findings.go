package service

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/store"
)

// The image scan findings the build engine recorded (internal/scan),
// read back. Findings belong to the account that owns the image, as
// Inspector's findings belong to the account whose instance it scanned:
// every query is restricted to the caller's own rows, so an image shared
// with another account shares its AMI or container image, never its
// findings, and a filter naming another account's image or pipeline finds
// nothing rather than telling whether it exists.

func (s *Service) scanFindingHandlers() map[string]Handler {
	return map[string]Handler{
		awsapi.OpListImageScanFindings:            handle(s.ListImageScanFindings),
		awsapi.OpListImageScanFindingAggregations: handle(s.ListImageScanFindingAggregations),
	}
}

// scanFilter checks one ListImageScanFindings or aggregation filter
// value, naming the filter in the error, and returns the finding kind its
// value indexes.
func (s *Service) scanFilter(member, name, value string) (string, error) {
	kind, ok := scan.FilterKinds[name]
	if !ok {
		known := make([]string, 0, len(scan.FilterKinds))
		for n := range scan.FilterKinds {
			known = append(known, n)
		}
		slices.Sort(known)
		return "", invalidRequest("The filter name '%s' is not supported. Supported filter names: %s.", name, strings.Join(known, ", "))
	}
	switch name {
	case "imageBuildVersionArn":
		a, err := arn.Parse(value)
		if err != nil || a.Type != kindImage || a.Build == 0 {
			return "", badValue(member, "The %s filter value '%s' is not an image build version ARN (arn:aws:imagebuilder:REGION:ACCOUNT:image/NAME/M.m.p/BUILD).", name, value)
		}
	case "imagePipelineArn":
		a, err := arn.Parse(value)
		if err != nil || a.Type != arn.TypeImagePipeline {
			return "", badValue(member, "The %s filter value '%s' is not an image pipeline ARN.", name, value)
		}
	case "severity":
		if !slices.Contains(scan.Severities, value) {
			return "", badValue(member, "The severity filter value '%s' is not one of %s.", value, strings.Join(scan.Severities, ", "))
		}
	}
	return kind, nil
}

// ListImageScanFindings lists the caller's findings, most recent image
// first within the store's order (by image ARN, then vulnerability id),
// narrowed by at most one filter (the model allows one, with one value).
func (s *Service) ListImageScanFindings(ctx context.Context, account string, in *awsapi.ListImageScanFindingsRequest) (*awsapi.ListImageScanFindingsResponse, error) {
	q := store.Query{Kind: scan.KindFinding, Region: s.Region, Owners: []string{account}}
	if len(in.Filters) > 1 {
		return nil, badValue("filters", "ListImageScanFindings takes at most one filter.")
	}
	for _, f := range in.Filters {
		if len(f.Values) != 1 {
			return nil, badValue("filters", "The %s filter takes exactly one value.", f.Name)
		}
		kind, err := s.scanFilter("filters", f.Name, f.Values[0])
		if err != nil {
			return nil, err
		}
		q.Kind, q.Name = kind, f.Values[0]
	}
	params := *in
	params.NextToken, params.MaxResults = "", nil
	p := listPage{op: awsapi.OpListImageScanFindings, params: params, maxResults: in.MaxResults, nextToken: in.NextToken, query: q}
	list, next, err := listRows(ctx, s, p, scan.Decode)
	if errors.Is(err, store.ErrNotFound) && in.NextToken != "" {
		// The finding a token points after went with its image, and a
		// finding's key says nothing of where it sorted.
		return nil, awsapi.Errorf(awsapi.ErrCodeInvalidPaginationTokenException,
			"The pagination token '%s' is no longer valid: the image whose findings it paged through was deleted. List again without a token.", in.NextToken)
	}
	if err != nil {
		return nil, err
	}
	return &awsapi.ListImageScanFindingsResponse{Findings: list, NextToken: next}, nil
}

// Aggregation types, as ListImageScanFindingAggregations names them: the
// filter's name, or accountId without one.
const (
	aggregateAccount       = "accountId"
	aggregateImage         = "imageBuildVersionArn"
	aggregatePipeline      = "imagePipelineArn"
	aggregateVulnerability = "vulnerabilityId"
)

// ListImageScanFindingAggregations counts the caller's findings by
// severity. The filter chooses the grouping and the group: none or
// accountId gives the account's counts; imageBuildVersionArn,
// imagePipelineArn or vulnerabilityId the counts of that one image,
// pipeline or vulnerability. (UNSURE: the documentation says only that
// the filter picks "the type of key that Image Builder uses to group
// results"; one group per request is what its example — a pipeline's
// findings by severity — needs, so a response holds one aggregation and
// never a nextToken.) An accountId other than the caller's has no
// findings the caller may count: the answer is an empty list.
func (s *Service) ListImageScanFindingAggregations(ctx context.Context, account string, in *awsapi.ListImageScanFindingAggregationsRequest) (*awsapi.ListImageScanFindingAggregationsResponse, error) {
	if in.NextToken != "" {
		// Every answer fits one page, so no token was ever issued.
		return nil, awsapi.Errorf(awsapi.ErrCodeInvalidPaginationTokenException, "The pagination token '%s' is not valid for ListImageScanFindingAggregations.", in.NextToken)
	}
	kind, typ, value := scan.KindFinding, aggregateAccount, account
	if f := in.Filter; f != nil {
		if len(f.Values) != 1 {
			return nil, badValue("filter", "The %s filter takes exactly one value.", f.Name)
		}
		value, typ = f.Values[0], f.Name
		if f.Name == aggregateAccount {
			if !isAccountID(value) {
				return nil, badValue("filter", "The accountId filter value '%s' is not a 12-digit account ID.", value)
			}
		} else {
			if f.Name == "severity" {
				return nil, invalidRequest("The filter name 'severity' is not supported. Supported filter names: accountId, imageBuildVersionArn, imagePipelineArn, vulnerabilityId.")
			}
			var err error
			if kind, err = s.scanFilter("filter", f.Name, value); err != nil {
				return nil, err
			}
		}
	}
	out := &awsapi.ListImageScanFindingAggregationsResponse{AggregationType: typ, Responses: []awsapi.ImageScanFindingAggregation{}}
	if typ == aggregateAccount && value != account {
		return out, nil
	}
	q := store.Query{Kind: kind, Region: s.Region, Owners: []string{account}}
	if typ != aggregateAccount {
		q.Name = value
	}
	var findings []awsapi.ImageScanFinding
	err := s.view(ctx, func(tx store.Tx) error {
		findings = nil
		rows, err := tx.List(ctx, q)
		if err != nil {
			return err
		}
		for _, r := range rows {
			f, err := scan.Decode(r)
			if err != nil {
				return err
			}
			findings = append(findings, f)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	counts := scan.Counts(findings)
	var agg awsapi.ImageScanFindingAggregation
	switch typ {
	case aggregateAccount:
		agg.AccountAggregation = &awsapi.AccountAggregation{AccountId: account, SeverityCounts: counts}
	case aggregateImage:
		agg.ImageAggregation = &awsapi.ImageAggregation{ImageBuildVersionArn: value, SeverityCounts: counts}
	case aggregatePipeline:
		agg.ImagePipelineAggregation = &awsapi.ImagePipelineAggregation{ImagePipelineArn: value, SeverityCounts: counts}
	case aggregateVulnerability:
		agg.VulnerabilityIdAggregation = &awsapi.VulnerabilityIdAggregation{VulnerabilityId: value, SeverityCounts: counts}
	}
	out.Responses = append(out.Responses, agg)
	return out, nil
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkGateTag refuses a kiln:fail-on-severity tag whose value is not a
// severity the gate knows, when the tag is set: a gate that could not be
// read would fail every build it guards.
func checkGateTag(member string, tags map[string]string) error {
	if v, ok := tags[scan.GateTag]; ok {
		if _, err := scan.ParseGate(v); err != nil {
			return badValue(member, "%s.", upperFirst(err.Error()))
		}
	}
	return nil
}

func upperFirst(s string) string {
	if s != "" && s[0] >= 'a' && s[0] <= 'z' {
		return string(s[0]-'a'+'A') + s[1:]
	}
	return s
}
