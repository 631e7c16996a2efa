package service

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/store"
)

func scanFinding(id, severity string) awsapi.ImageScanFinding {
	return awsapi.ImageScanFinding{Severity: severity, PackageVulnerabilityDetails: &awsapi.PackageVulnerabilityDetails{VulnerabilityId: id}}
}

// TestScanFindingRequests checks the answers to bad and good requests of
// the two finding operations; the builds that produce findings are
// driven end to end in test/scan.
func TestScanFindingRequests(t *testing.T) {
	t.Parallel()
	s := newWorkflowTestService(t, time.Now())
	ctx := context.Background()
	const owner = "111122223333"
	img := "arn:aws:imagebuilder:us-east-1:" + owner + ":image/a/1.0.0/1"
	img2 := "arn:aws:imagebuilder:us-east-1:" + owner + ":image/a/1.0.0/2"
	for _, image := range []string{img, img2} {
		if err := s.Store.Update(ctx, func(tx store.Tx) error {
			return scan.Record(ctx, tx, s.Region, owner, image, "", []awsapi.ImageScanFinding{
				scanFinding("CVE-1", scan.SeverityCritical), scanFinding("CVE-2", scan.SeverityMedium),
			}, time.Now())
		}); err != nil {
			t.Fatal(err)
		}
	}
	one := func(name, value string) []awsapi.ImageScanFindingsFilter {
		return []awsapi.ImageScanFindingsFilter{{Name: name, Values: []string{value}}}
	}
	for _, tc := range []struct {
		name    string
		account string
		filters []awsapi.ImageScanFindingsFilter
		want    int
		code    string // error code; "" for success
		message string // in the error's message
	}{
		{"all", owner, nil, 4, "", ""},
		{"by image", owner, one("imageBuildVersionArn", img), 2, "", ""},
		{"by vulnerability", owner, one("vulnerabilityId", "CVE-2"), 2, "", ""},
		{"by severity", owner, one("severity", "CRITICAL"), 2, "", ""},
		{"by pipeline", owner, one("imagePipelineArn", "arn:aws:imagebuilder:us-east-1:"+owner+":image-pipeline/p"), 0, "", ""},
		{"another account", "444455556666", nil, 0, "", ""},
		{"another account by image", "444455556666", one("imageBuildVersionArn", img), 0, "", ""},
		{"unknown filter", owner, one("packageName", "x"), 0, awsapi.ErrCodeInvalidRequestException, "packageName"},
		{"bad severity", owner, one("severity", "critical"), 0, awsapi.ErrCodeInvalidParameterValueException, "severity"},
		{"image version, not build", owner, one("imageBuildVersionArn", "arn:aws:imagebuilder:us-east-1:"+owner+":image/a/1.0.0"), 0, awsapi.ErrCodeInvalidParameterValueException, "imageBuildVersionArn"},
		{"not a pipeline", owner, one("imagePipelineArn", img), 0, awsapi.ErrCodeInvalidParameterValueException, "imagePipelineArn"},
		{"two values", owner, []awsapi.ImageScanFindingsFilter{{Name: "severity", Values: []string{"HIGH", "LOW"}}}, 0, awsapi.ErrCodeInvalidParameterValueException, "exactly one value"},
	} {
		out, err := s.ListImageScanFindings(ctx, tc.account, &awsapi.ListImageScanFindingsRequest{Filters: tc.filters})
		if tc.code != "" {
			if errCode(err) != tc.code || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("%s: %v, want %s naming %q", tc.name, err, tc.code, tc.message)
			}
			continue
		}
		if err != nil || len(out.Findings) != tc.want {
			t.Errorf("%s: %v, %d findings, want %d", tc.name, err, len(out.Findings), tc.want)
		}
	}

	// A token whose last finding went with its image is refused, not a
	// server error.
	page, err := s.ListImageScanFindings(ctx, owner, &awsapi.ListImageScanFindingsRequest{MaxResults: ptr(int32(1))})
	if err != nil || page.NextToken == "" {
		t.Fatalf("first page: %v %+v", err, page)
	}
	if err := s.Store.Update(ctx, func(tx store.Tx) error { return scan.Delete(ctx, tx, s.Region, img) }); err != nil {
		t.Fatal(err)
	}
	_, err = s.ListImageScanFindings(ctx, owner, &awsapi.ListImageScanFindingsRequest{MaxResults: ptr(int32(1)), NextToken: page.NextToken})
	if errCode(err) != awsapi.ErrCodeInvalidPaginationTokenException {
		t.Fatalf("a token past a deleted image: %v", err)
	}

	for _, tc := range []struct {
		name    string
		account string
		filter  *awsapi.Filter
		typ     string
		all     int64
		code    string
	}{
		{"account", owner, nil, "accountId", 2, ""},
		{"account by id", owner, &awsapi.Filter{Name: "accountId", Values: []string{owner}}, "accountId", 2, ""},
		{"image", owner, &awsapi.Filter{Name: "imageBuildVersionArn", Values: []string{img2}}, "imageBuildVersionArn", 2, ""},
		{"vulnerability", owner, &awsapi.Filter{Name: "vulnerabilityId", Values: []string{"CVE-1"}}, "vulnerabilityId", 1, ""},
		{"another account", "444455556666", &awsapi.Filter{Name: "vulnerabilityId", Values: []string{"CVE-1"}}, "vulnerabilityId", 0, ""},
		{"bad account id", owner, &awsapi.Filter{Name: "accountId", Values: []string{"me"}}, "", 0, awsapi.ErrCodeInvalidParameterValueException},
		{"severity is not a grouping", owner, &awsapi.Filter{Name: "severity", Values: []string{"HIGH"}}, "", 0, awsapi.ErrCodeInvalidRequestException},
	} {
		out, err := s.ListImageScanFindingAggregations(ctx, tc.account, &awsapi.ListImageScanFindingAggregationsRequest{Filter: tc.filter})
		if tc.code != "" {
			if errCode(err) != tc.code {
				t.Errorf("%s: %v, want %s", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil || out.AggregationType != tc.typ || len(out.Responses) != 1 {
			t.Fatalf("%s: %v %+v", tc.name, err, out)
		}
		r := out.Responses[0]
		var c *awsapi.SeverityCounts
		switch {
		case r.AccountAggregation != nil:
			c = r.AccountAggregation.SeverityCounts
		case r.ImageAggregation != nil:
			c = r.ImageAggregation.SeverityCounts
		case r.VulnerabilityIdAggregation != nil:
			c = r.VulnerabilityIdAggregation.SeverityCounts
		}
		if c == nil || *c.All != tc.all {
			t.Errorf("%s: counts %+v, want all %d", tc.name, c, tc.all)
		}
	}
	// Another account's ID answers nothing rather than its counts.
	out, err := s.ListImageScanFindingAggregations(ctx, "444455556666", &awsapi.ListImageScanFindingAggregationsRequest{
		Filter: &awsapi.Filter{Name: "accountId", Values: []string{owner}}})
	if err != nil || len(out.Responses) != 0 {
		t.Fatalf("another account's aggregation: %v %+v", err, out)
	}
}

func TestGateTagRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tags map[string]string
		ok   bool
	}{
		{nil, true},
		{map[string]string{"team": "a"}, true},
		{map[string]string{scan.GateTag: "CRITICAL"}, true},
		{map[string]string{scan.GateTag: "low"}, true},
		{map[string]string{scan.GateTag: "SEVERE"}, false},
		{map[string]string{scan.GateTag: ""}, false},
	} {
		err := checkGateTag("tags", tc.tags)
		if (err == nil) != tc.ok || (err != nil && (errCode(err) != awsapi.ErrCodeInvalidParameterValueException || !strings.Contains(err.Error(), scan.GateTag))) {
			t.Errorf("tags %v: %v", tc.tags, err)
		}
	}
}
