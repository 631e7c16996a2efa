// Package scan_test drives kiln's image scanning end to end, as a user
// does: OSV records written for the packages of the test base image and
// imported with `kiln vulndb import`, container builds with
// imageScanningConfiguration on, the findings read with aws-sdk-go-v2, the
// AWS CLI and `kiln scan`, the kiln:fail-on-severity gate failing a
// build, /metrics, and a second account that sees none of it.
package scan_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

var (
	alice = kilntest.Creds{AccessKeyID: "AKIDSCANALICE", SecretAccessKey: "alice-scan-secret"}
	bob   = kilntest.Creds{AccessKeyID: "AKIDSCANBOB", SecretAccessKey: "bob-scan-secret"}
)

const (
	aliceAccount = "111111111111"
	bobAccount   = "222222222222"
)

// twoAccounts writes a credentials file mapping alice's and bob's keys to
// their accounts.
func twoAccounts(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credentials")
	body := fmt.Sprintf("[alice]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_account_id = %s\n\n"+
		"[bob]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_account_id = %s\n",
		alice.AccessKeyID, alice.SecretAccessKey, aliceAccount, bob.AccessKeyID, bob.SecretAccessKey, bobAccount)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// dpkgPackage is one stanza of a dpkg status file.
type dpkgPackage struct{ Name, Version, Source string }

// hostPackages reads this host's dpkg status entries of names: the same
// stanzas kilntest.BusyboxLayout copies into the test base image, so their
// versions are the ones the image's inventory will hold.
func hostPackages(t *testing.T, names ...string) map[string]dpkgPackage {
	t.Helper()
	f, err := os.Open("/var/lib/dpkg/status")
	if err != nil {
		t.Skipf("no dpkg database on this host: %v", err)
	}
	defer f.Close()
	out := map[string]dpkgPackage{}
	var cur dpkgPackage
	flush := func() {
		if slices.Contains(names, cur.Name) {
			if cur.Source == "" {
				cur.Source = cur.Name
			}
			out[cur.Name] = cur
		}
		cur = dpkgPackage{}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "Package: "):
			cur.Name = strings.TrimPrefix(line, "Package: ")
		case strings.HasPrefix(line, "Version: "):
			cur.Version = strings.TrimPrefix(line, "Version: ")
		case strings.HasPrefix(line, "Source: "):
			// "Source: name" or "Source: name (version)".
			cur.Source, _, _ = strings.Cut(strings.TrimPrefix(line, "Source: "), " ")
		}
	}
	flush()
	for _, n := range names {
		if _, ok := out[n]; !ok {
			t.Skipf("the host has no dpkg entry for %s", n)
		}
	}
	return out
}

// debianRelease is the host's Debian major release (the base image
// carries the host's os-release).
func debianRelease(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile("/usr/lib/os-release")
	if err != nil {
		t.Skipf("no os-release: %v", err)
	}
	id, version := "", ""
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		v = strings.Trim(v, `"`)
		switch k {
		case "ID":
			id = v
		case "VERSION_ID":
			version = v
		}
	}
	n, err := strconv.Atoi(strings.Split(version, ".")[0])
	if id != "debian" || err != nil {
		t.Skipf("the host is not Debian (ID=%s VERSION_ID=%s): the fixture is written for Debian's OSV ecosystem", id, version)
	}
	return n
}

const (
	vulnAffected     = "DEBIAN-CVE-2099-0001"
	vulnFixed        = "DEBIAN-CVE-2099-0002"
	vulnOtherRelease = "DEBIAN-CVE-2099-0003"
	criticalVector   = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" // 9.8
	highVector       = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H" // 7.5
)

// writeFixture writes three OSV records, as Debian's OSV feed names
// source packages, for the base image's real package versions: busybox
// affected (fixed only in a later version), debianutils fixed in exactly
// the installed version, and base-files affected in another Debian
// release only.
func writeFixture(t *testing.T, release int, pkgs map[string]dpkgPackage) string {
	t.Helper()
	dir := t.TempDir()
	busybox, utils, base := pkgs["busybox-static"], pkgs["debianutils"], pkgs["base-files"]
	record := func(id, ecosystem, pkg, vector string, events []map[string]string) map[string]any {
		return map[string]any{
			"schema_version": "1.6.0",
			"id":             id,
			"aliases":        []string{strings.TrimPrefix(id, "DEBIAN-")},
			"modified":       "2099-01-02T03:04:05Z",
			"published":      "2099-01-01T00:00:00Z",
			"summary":        "a made-up vulnerability for kiln's scan test in " + pkg,
			"severity":       []map[string]string{{"type": "CVSS_V3", "score": vector}},
			"affected": []map[string]any{{
				"package": map[string]string{"ecosystem": ecosystem, "name": pkg},
				"ranges":  []map[string]any{{"type": "ECOSYSTEM", "events": events}},
			}},
			"references": []map[string]string{{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/" + strings.TrimPrefix(id, "DEBIAN-")}},
		}
	}
	eco := fmt.Sprintf("Debian:%d", release)
	records := map[string]map[string]any{
		vulnAffected: record(vulnAffected, eco, busybox.Source, criticalVector,
			[]map[string]string{{"introduced": "0"}, {"fixed": busybox.Version + "+kiln1"}}),
		vulnFixed: record(vulnFixed, eco, utils.Source, highVector,
			[]map[string]string{{"introduced": "0"}, {"fixed": utils.Version}}),
		vulnOtherRelease: record(vulnOtherRelease, fmt.Sprintf("Debian:%d", release-1), base.Source, criticalVector,
			[]map[string]string{{"introduced": "0"}}),
	}
	for id, r := range records {
		data, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, id+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// kiln runs the kiln binary as a client of srv, signed as creds.
func kiln(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(kilntest.Binary(t), args...)
	cmd.Env = append(cleanEnv(t), "KILN_ENDPOINT="+srv.URL,
		"AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cleanEnv is the environment without AWS settings of the host, with a
// private home, so the clients read only what the test gives them.
func cleanEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "KILN_") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+t.TempDir(), "AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
}

type fixture struct {
	srv    *kilntest.Server
	client *imagebuilder.Client
	recipe string
	infra  string
}

func (f *fixture) createImage(t *testing.T, scanning bool, tags map[string]string) string {
	t.Helper()
	out, err := f.client.CreateImage(kilntest.Context(t), &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(f.recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration:    &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ImageScanningEnabled: aws.Bool(scanning)},
		Tags:                       tags,
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	return *out.ImageBuildVersionArn
}

func (f *fixture) wait(t *testing.T, image string) *types.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	for {
		out, err := f.client.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err == nil && out.Image.State != nil {
			switch out.Image.State.Status {
			case types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled:
				return out.Image
			}
		} else if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Logf("GetImage: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("image %s did not finish; server log:\n%s", image, f.srv.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (f *fixture) logs(t *testing.T, image string) string {
	out, _ := kiln(t, f.srv, alice, "logs", image)
	return out
}

func findings(t *testing.T, c *imagebuilder.Client, filters ...types.ImageScanFindingsFilter) []types.ImageScanFinding {
	t.Helper()
	var all []types.ImageScanFinding
	p := imagebuilder.NewListImageScanFindingsPaginator(c, &imagebuilder.ListImageScanFindingsInput{Filters: filters})
	for p.HasMorePages() {
		page, err := p.NextPage(kilntest.Context(t))
		if err != nil {
			t.Fatalf("ListImageScanFindings %v: %v", filters, err)
		}
		all = append(all, page.Findings...)
	}
	return all
}

func filter(name, value string) types.ImageScanFindingsFilter {
	return types.ImageScanFindingsFilter{Name: aws.String(name), Values: []string{value}}
}

func ids(fs []types.ImageScanFinding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, aws.ToString(f.PackageVulnerabilityDetails.VulnerabilityId))
	}
	return out
}

const markerComponent = `name: marker
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Mark
        action: ExecuteBash
        inputs:
          commands:
            - echo scanned > /etc/scanned
`

func TestScanEndToEnd(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	release := debianRelease(t)
	pkgs := hostPackages(t, "busybox-static", "debianutils", "base-files")
	records := writeFixture(t, release, pkgs)

	srv := kilntest.Start(t, "--credentials", twoAccounts(t), "--operator-account", aliceAccount)
	f := &fixture{srv: srv, client: srv.Client(alice)}
	ctx := kilntest.Context(t)
	base := srv.PushBusyboxBase(t, "base/busybox")
	infra, err := f.client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
	comp, err := f.client.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("marker"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String(markerComponent),
	})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := f.client.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String("scanned"), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage:            aws.String(base),
		Components:             []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("scan-e2e/scanned")},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.recipe = *recipe.ContainerRecipeArn

	// A gate tag that is not a severity is refused before anything is
	// stored.
	_, err = f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(f.recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		Tags: map[string]string{"kiln:fail-on-severity": "SEVERE"},
	})
	if err == nil || !strings.Contains(err.Error(), "InvalidParameterValueException") || !strings.Contains(err.Error(), "tags") {
		t.Fatalf("CreateImage with kiln:fail-on-severity=SEVERE: %v", err)
	}

	// Before any import the database is empty: the scan says it checked
	// nothing rather than "no findings", and the image is still built.
	empty := f.createImage(t, true, nil)
	img := f.wait(t, empty)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("build on an empty database: %s %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, empty))
	}
	if img.ScanState == nil || img.ScanState.Status != types.ImageScanStatusAbandoned ||
		!strings.Contains(aws.ToString(img.ScanState.Reason), "no records") {
		t.Fatalf("scanState on an empty database: %+v", img.ScanState)
	}
	if log := f.logs(t, empty); !strings.Contains(log, "were not checked") {
		t.Fatalf("the build log does not say the packages were not checked:\n%s", log)
	}
	if got := findings(t, f.client); len(got) != 0 {
		t.Fatalf("findings before any import: %v", ids(got))
	}

	if out, err := kiln(t, srv, alice, "vulndb", "import", records); err != nil {
		t.Fatalf("kiln vulndb import: %v\n%s", err, out)
	}

	// One build with scanning and no gate, one gated on CRITICAL; the
	// engine runs both at once.
	scanned := f.createImage(t, true, nil)
	gated := f.createImage(t, true, map[string]string{"kiln:fail-on-severity": "CRITICAL"})
	unscanned := f.createImage(t, false, nil)
	// A pipeline with scanning on, gated by its own tag on HIGH.
	pl, err := f.client.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("gated-pipeline"), ContainerRecipeArn: aws.String(f.recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration:    &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
		ImageScanningConfiguration: &types.ImageScanningConfiguration{ImageScanningEnabled: aws.Bool(true)},
		Tags:                       map[string]string{"kiln:fail-on-severity": "HIGH"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pipeline := *pl.ImagePipelineArn
	run, err := f.client.StartImagePipelineExecution(ctx, &imagebuilder.StartImagePipelineExecutionInput{ImagePipelineArn: aws.String(pipeline)})
	if err != nil {
		t.Fatal(err)
	}
	fromPipeline := *run.ImageBuildVersionArn

	img = f.wait(t, scanned)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("scanned build: %s %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, scanned))
	}
	if img.ScanState == nil || img.ScanState.Status != types.ImageScanStatusCompleted {
		t.Fatalf("scanState %+v\n%s", img.ScanState, f.logs(t, scanned))
	}
	t.Logf("scanState: %s: %s", img.ScanState.Status, aws.ToString(img.ScanState.Reason))

	got := findings(t, f.client, filter("imageBuildVersionArn", scanned))
	if !slices.Equal(ids(got), []string{vulnAffected}) {
		t.Fatalf("findings of the scanned image %v, want only %s (the fixed and the other-release records must not match)", ids(got), vulnAffected)
	}
	fd := got[0]
	busybox := pkgs["busybox-static"]
	d := fd.PackageVulnerabilityDetails
	if fd.Severity == nil || *fd.Severity != "CRITICAL" || fd.InspectorScore == nil || *fd.InspectorScore != 9.8 ||
		aws.ToString(fd.AwsAccountId) != aliceAccount || aws.ToString(fd.ImageBuildVersionArn) != scanned ||
		aws.ToString(fd.Type) != "PACKAGE_VULNERABILITY" || aws.ToString(fd.FixAvailable) != "YES" {
		t.Fatalf("finding %+v", fd)
	}
	if len(d.Cvss) != 1 || aws.ToString(d.Cvss[0].ScoringVector) != criticalVector || aws.ToFloat64(d.Cvss[0].BaseScore) != 9.8 ||
		len(d.ReferenceUrls) != 1 || aws.ToString(d.SourceUrl) == "" || !slices.Equal(d.RelatedVulnerabilities, []string{"CVE-2099-0001"}) {
		t.Fatalf("vulnerability details %+v", d)
	}
	if len(d.VulnerablePackages) != 1 {
		t.Fatalf("packages %+v", d.VulnerablePackages)
	}
	vp := d.VulnerablePackages[0]
	if aws.ToString(vp.Name) != "busybox-static" || aws.ToString(vp.Version) != busybox.Version ||
		aws.ToString(vp.FixedInVersion) != busybox.Version+"+kiln1" || !strings.Contains(aws.ToString(vp.Remediation), busybox.Version+"+kiln1") {
		t.Fatalf("vulnerable package %+v (installed %s)", vp, busybox.Version)
	}
	if fd.Remediation == nil || fd.Remediation.Recommendation == nil || aws.ToString(fd.Remediation.Recommendation.Text) == "" {
		t.Fatalf("remediation %+v", fd.Remediation)
	}
	t.Logf("finding: %s %s in %s %s, fixed in %s", *fd.Severity, aws.ToString(d.VulnerabilityId), aws.ToString(vp.Name), aws.ToString(vp.Version), aws.ToString(vp.FixedInVersion))

	img = f.wait(t, gated)
	reason := aws.ToString(img.State.Reason)
	if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, vulnAffected) || !strings.Contains(reason, "busybox-static") {
		t.Fatalf("gated build: %s %q\n%s", img.State.Status, reason, f.logs(t, gated))
	}
	t.Logf("gated build FAILED: %s", reason)
	if img.ScanState == nil || img.ScanState.Status != types.ImageScanStatusCompleted {
		t.Fatalf("gated build's scanState %+v", img.ScanState)
	}

	img = f.wait(t, fromPipeline)
	if img.State.Status != types.ImageStatusFailed || !strings.Contains(aws.ToString(img.State.Reason), "pipeline's tag") ||
		!strings.Contains(aws.ToString(img.State.Reason), vulnAffected) {
		t.Fatalf("the gated pipeline's build: %s %q\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, fromPipeline))
	}
	got = findings(t, f.client, filter("imagePipelineArn", pipeline))
	if len(got) != 1 || aws.ToString(got[0].ImagePipelineArn) != pipeline || aws.ToString(got[0].ImageBuildVersionArn) != fromPipeline {
		t.Fatalf("findings of the pipeline: %+v", got)
	}

	img = f.wait(t, unscanned)
	if img.State.Status != types.ImageStatusAvailable || img.ScanState != nil {
		t.Fatalf("build without scanning: %s, scanState %+v", img.State.Status, img.ScanState)
	}
	if got := findings(t, f.client, filter("imageBuildVersionArn", unscanned)); len(got) != 0 {
		t.Fatalf("an unscanned image has findings %v", ids(got))
	}

	t.Run("filters and pages", func(t *testing.T) {
		for _, tc := range []struct {
			filter []types.ImageScanFindingsFilter
			want   int
		}{
			{nil, 3},
			{[]types.ImageScanFindingsFilter{filter("vulnerabilityId", vulnAffected)}, 3},
			{[]types.ImageScanFindingsFilter{filter("vulnerabilityId", vulnFixed)}, 0},
			{[]types.ImageScanFindingsFilter{filter("severity", "CRITICAL")}, 3},
			{[]types.ImageScanFindingsFilter{filter("severity", "HIGH")}, 0},
			{[]types.ImageScanFindingsFilter{filter("imageBuildVersionArn", gated)}, 1},
		} {
			if got := findings(t, f.client, tc.filter...); len(got) != tc.want {
				t.Errorf("filter %v: %d findings %v, want %d", tc.filter, len(got), ids(got), tc.want)
			}
		}
		// Pages of one: every finding once, then no token.
		var seen []string
		var token *string
		for range 4 {
			page, err := f.client.ListImageScanFindings(ctx, &imagebuilder.ListImageScanFindingsInput{MaxResults: aws.Int32(1), NextToken: token})
			if err != nil || len(page.Findings) != 1 {
				t.Fatalf("page %d of 1: %v, %+v", len(seen)+1, err, page)
			}
			seen = append(seen, aws.ToString(page.Findings[0].ImageBuildVersionArn))
			if token = page.NextToken; token == nil {
				break
			}
		}
		slices.Sort(seen)
		if want := []string{scanned, gated, fromPipeline}; len(slices.Compact(seen)) != 3 || token != nil {
			t.Fatalf("pages of 1 gave %v, want each of %v once", seen, want)
		}
		// A token is good only for the query it came from.
		first, err := f.client.ListImageScanFindings(ctx, &imagebuilder.ListImageScanFindingsInput{MaxResults: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.client.ListImageScanFindings(ctx, &imagebuilder.ListImageScanFindingsInput{
			MaxResults: aws.Int32(1), NextToken: first.NextToken, Filters: []types.ImageScanFindingsFilter{filter("severity", "CRITICAL")}})
		if err == nil || !strings.Contains(err.Error(), "InvalidPaginationTokenException") {
			t.Fatalf("a token replayed with another filter: %v", err)
		}
		// Bad filters are refused with the error a client expects,
		// naming what is wrong.
		for _, tc := range []struct {
			filter types.ImageScanFindingsFilter
			code   string
		}{
			{filter("severity", "SEVERE"), "InvalidParameterValueException"},
			{filter("imageBuildVersionArn", "not-an-arn"), "InvalidParameterValueException"},
			{filter("packageName", "busybox"), "InvalidRequestException"},
		} {
			_, err := f.client.ListImageScanFindings(ctx, &imagebuilder.ListImageScanFindingsInput{Filters: []types.ImageScanFindingsFilter{tc.filter}})
			if err == nil || !strings.Contains(err.Error(), tc.code) || !strings.Contains(err.Error(), aws.ToString(tc.filter.Name)) {
				t.Errorf("filter %s=%v: %v, want %s naming the filter", aws.ToString(tc.filter.Name), tc.filter.Values, err, tc.code)
			}
		}
	})

	t.Run("aggregations", func(t *testing.T) {
		for _, tc := range []struct {
			filter  *types.Filter
			typ     string
			all     int64
			crit    int64
			extract func(types.ImageScanFindingAggregation) *types.SeverityCounts
		}{
			{nil, "accountId", 3, 3, func(a types.ImageScanFindingAggregation) *types.SeverityCounts {
				return a.AccountAggregation.SeverityCounts
			}},
			{&types.Filter{Name: aws.String("imageBuildVersionArn"), Values: []string{scanned}}, "imageBuildVersionArn", 1, 1,
				func(a types.ImageScanFindingAggregation) *types.SeverityCounts {
					return a.ImageAggregation.SeverityCounts
				}},
			{&types.Filter{Name: aws.String("imagePipelineArn"), Values: []string{pipeline}}, "imagePipelineArn", 1, 1,
				func(a types.ImageScanFindingAggregation) *types.SeverityCounts {
					return a.ImagePipelineAggregation.SeverityCounts
				}},
			{&types.Filter{Name: aws.String("vulnerabilityId"), Values: []string{vulnAffected}}, "vulnerabilityId", 3, 3,
				func(a types.ImageScanFindingAggregation) *types.SeverityCounts {
					return a.VulnerabilityIdAggregation.SeverityCounts
				}},
		} {
			out, err := f.client.ListImageScanFindingAggregations(ctx, &imagebuilder.ListImageScanFindingAggregationsInput{Filter: tc.filter})
			if err != nil || aws.ToString(out.AggregationType) != tc.typ || len(out.Responses) != 1 {
				t.Fatalf("aggregation %s: %v %+v", tc.typ, err, out)
			}
			c := tc.extract(out.Responses[0])
			if aws.ToInt64(c.All) != tc.all || aws.ToInt64(c.Critical) != tc.crit || aws.ToInt64(c.High) != 0 {
				t.Errorf("aggregation %s: all %d critical %d high %d", tc.typ, aws.ToInt64(c.All), aws.ToInt64(c.Critical), aws.ToInt64(c.High))
			}
		}
	})

	t.Run("another account sees none of it", func(t *testing.T) {
		b := srv.Client(bob)
		for _, flt := range [][]types.ImageScanFindingsFilter{
			nil,
			{filter("imageBuildVersionArn", scanned)},
			{filter("vulnerabilityId", vulnAffected)},
			{filter("severity", "CRITICAL")},
		} {
			if got := findings(t, b, flt...); len(got) != 0 {
				t.Errorf("bob lists %v with filter %v", ids(got), flt)
			}
		}
		for _, flt := range []*types.Filter{
			nil,
			{Name: aws.String("accountId"), Values: []string{aliceAccount}},
			{Name: aws.String("imageBuildVersionArn"), Values: []string{scanned}},
			{Name: aws.String("vulnerabilityId"), Values: []string{vulnAffected}},
		} {
			out, err := b.ListImageScanFindingAggregations(ctx, &imagebuilder.ListImageScanFindingAggregationsInput{Filter: flt})
			if err != nil {
				t.Fatalf("bob's aggregation: %v", err)
			}
			for _, r := range out.Responses {
				for _, c := range []*types.SeverityCounts{
					countsOf(r.AccountAggregation), countsOf(r.ImageAggregation), countsOf(r.VulnerabilityIdAggregation),
				} {
					if c != nil && aws.ToInt64(c.All) != 0 {
						t.Errorf("bob counts %d of alice's findings (filter %+v)", aws.ToInt64(c.All), flt)
					}
				}
			}
		}
		if out, err := kiln(t, srv, bob, "scan", "--json", scanned); err == nil {
			t.Errorf("bob's kiln scan of alice's image succeeded:\n%s", out)
		}
	})

	t.Run("kiln scan", func(t *testing.T) {
		out, err := kiln(t, srv, alice, "scan", scanned)
		if err != nil {
			t.Fatalf("kiln scan: %v\n%s", err, out)
		}
		t.Logf("kiln scan:\n%s", out)
		for _, want := range []string{"COMPLETED", vulnAffected, "busybox-static", busybox.Version + "+kiln1", "CRITICAL", "9.8"} {
			if !strings.Contains(out, want) {
				t.Errorf("kiln scan's table lacks %q", want)
			}
		}
		out, err = kiln(t, srv, alice, "scan", "--json", scanned)
		if err != nil {
			t.Fatalf("kiln scan --json: %v\n%s", err, out)
		}
		var report struct {
			ScanState struct{ Status string } `json:"scanState"`
			Findings  []struct {
				Severity                    string `json:"severity"`
				PackageVulnerabilityDetails struct {
					VulnerabilityID string `json:"vulnerabilityId"`
				} `json:"packageVulnerabilityDetails"`
			} `json:"findings"`
		}
		if err := json.Unmarshal([]byte(out), &report); err != nil {
			t.Fatalf("kiln scan --json: %v\n%s", err, out)
		}
		if report.ScanState.Status != "COMPLETED" || len(report.Findings) != 1 || report.Findings[0].PackageVulnerabilityDetails.VulnerabilityID != vulnAffected {
			t.Fatalf("kiln scan --json: %+v", report)
		}
		out, err = kiln(t, srv, alice, "scan", empty)
		if err != nil || !strings.Contains(out, "ABANDONED") || !strings.Contains(out, "no records") {
			t.Fatalf("kiln scan of the image scanned on an empty database: %v\n%s", err, out)
		}
	})

	t.Run("AWS CLI", func(t *testing.T) {
		kilntest.RequireTool(t, "/usr/bin/aws", "awscli")
		models := t.TempDir()
		if out, err := kiln(t, srv, alice, "aws-model", models); err != nil {
			t.Fatalf("kiln aws-model: %v\n%s", err, out)
		}
		aws := func(args ...string) string {
			t.Helper()
			cmd := exec.Command("/usr/bin/aws", append([]string{"--endpoint-url", srv.URL, "--output", "json", "imagebuilder"}, args...)...)
			cmd.Env = append(cleanEnv(t), "AWS_DATA_PATH="+models,
				"AWS_ACCESS_KEY_ID="+alice.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+alice.SecretAccessKey)
			out, err := cmd.Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("aws %v: %v\n%s", args, err, ee.Stderr)
				}
				t.Fatalf("aws %v: %v", args, err)
			}
			return string(out)
		}
		var list struct {
			Findings []struct {
				Severity                    string
				ImageBuildVersionArn        string
				PackageVulnerabilityDetails struct {
					VulnerabilityId    string
					VulnerablePackages []struct{ Name, Version, FixedInVersion string }
				}
			}
		}
		out := aws("list-image-scan-findings", "--filters", "name=imageBuildVersionArn,values="+scanned)
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(list.Findings) != 1 || list.Findings[0].PackageVulnerabilityDetails.VulnerabilityId != vulnAffected ||
			list.Findings[0].PackageVulnerabilityDetails.VulnerablePackages[0].Name != "busybox-static" {
			t.Fatalf("aws list-image-scan-findings:\n%s", out)
		}
		var agg struct {
			AggregationType string
			Responses       []struct {
				AccountAggregation struct {
					AccountId      string
					SeverityCounts struct{ All, Critical int64 }
				}
			}
		}
		out = aws("list-image-scan-finding-aggregations")
		if err := json.Unmarshal([]byte(out), &agg); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if agg.AggregationType != "accountId" || len(agg.Responses) != 1 || agg.Responses[0].AccountAggregation.SeverityCounts.Critical != 3 {
			t.Fatalf("aws list-image-scan-finding-aggregations:\n%s", out)
		}
		out = aws("get-image", "--image-build-version-arn", scanned, "--query", "image.scanState")
		if !strings.Contains(out, "COMPLETED") {
			t.Fatalf("aws get-image scanState:\n%s", out)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^kiln_image_scan_findings_total\{severity="CRITICAL"\} (\d+)$`).FindSubmatch(body)
		if m == nil || string(m[1]) != "3" {
			t.Fatalf("/metrics has no CRITICAL count of 3:\n%s", body)
		}
		if !regexp.MustCompile(`(?m)^kiln_image_scans_total\{status="ABANDONED"\} 1$`).Match(body) {
			t.Fatalf("/metrics does not count the abandoned scan:\n%s", body)
		}
	})

	t.Run("deleting an image deletes its findings", func(t *testing.T) {
		if _, err := f.client.DeleteImage(ctx, &imagebuilder.DeleteImageInput{ImageBuildVersionArn: aws.String(gated)}); err != nil {
			t.Fatal(err)
		}
		if got := findings(t, f.client, filter("imageBuildVersionArn", gated)); len(got) != 0 {
			t.Fatalf("the deleted image's findings are still listed: %v", ids(got))
		}
		if got := findings(t, f.client, filter("vulnerabilityId", vulnAffected)); len(got) != 2 {
			t.Fatalf("after deleting the gated image: %v", ids(got))
		}
	})
}

// countsOf returns the severity counts of whichever aggregation is set.
func countsOf(a any) *types.SeverityCounts {
	switch a := a.(type) {
	case *types.AccountAggregation:
		if a != nil {
			return a.SeverityCounts
		}
	case *types.ImageAggregation:
		if a != nil {
			return a.SeverityCounts
		}
	case *types.VulnerabilityIdAggregation:
		if a != nil {
			return a.SeverityCounts
		}
	}
	return nil
}
