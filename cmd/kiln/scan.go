package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/scan"
)

const scanUsage = `usage: kiln scan [--endpoint URL] [--json] IMAGE-BUILD-VERSION-ARN

Prints the vulnerability findings of an image build (most severe first)
and its scan state: a table, or with --json the image's scanState and the
findings in the ListImageScanFindings shape. The findings come from the
build's CollectImageScanFindings step, which matches the image's packages
against the OSV records imported with kiln vulndb import.
Credentials come from the standard AWS chain (any on a loopback kiln);
the endpoint from --endpoint or KILN_ENDPOINT.`

// scanMain is `kiln scan`.
func scanMain(args []string, stdout, stderr io.Writer) int {
	fs, endpoint := clientFlags("kiln scan", scanUsage, stderr)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	arg, ok := oneArgument(fs, args)
	if !ok {
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := newAPIClient(ctx, *endpoint)
	if err != nil {
		fmt.Fprintln(stderr, "kiln scan:", err)
		return 1
	}
	report, err := c.scanReport(ctx, arg)
	if err != nil {
		// kiln's message may quote what the caller sent.
		safe := &termSafeWriter{w: stderr}
		fmt.Fprintln(safe, "kiln scan:", err)
		safe.Close()
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			fmt.Fprintln(stderr, "kiln scan:", err)
			return 1
		}
		return 0
	}
	// Descriptions and package names come from imported records and
	// image contents: untrusted on a terminal.
	out := &termSafeWriter{w: stdout}
	printScanTable(out, report)
	if err := out.Close(); err != nil {
		fmt.Fprintln(stderr, "kiln scan:", err)
		return 1
	}
	return 0
}

// scanReport is what `kiln scan --json` prints.
type scanReport struct {
	ImageBuildVersionArn string                    `json:"imageBuildVersionArn"`
	ScanState            *awsapi.ImageScanState    `json:"scanState,omitempty"`
	SeverityCounts       *awsapi.SeverityCounts    `json:"severityCounts"`
	Findings             []awsapi.ImageScanFinding `json:"findings"`
}

func (c *apiClient) scanReport(ctx context.Context, image string) (scanReport, error) {
	var got awsapi.GetImageResponse
	if err := c.call(ctx, http.MethodGet, "/GetImage?"+url.Values{"imageBuildVersionArn": {image}}.Encode(), nil, &got); err != nil {
		return scanReport{}, err
	}
	r := scanReport{ImageBuildVersionArn: image, Findings: []awsapi.ImageScanFinding{}}
	if got.Image != nil {
		r.ScanState = got.Image.ScanState
	}
	req := awsapi.ListImageScanFindingsRequest{Filters: []awsapi.ImageScanFindingsFilter{{Name: "imageBuildVersionArn", Values: []string{image}}}}
	for {
		var page awsapi.ListImageScanFindingsResponse
		if err := c.call(ctx, http.MethodPost, "/ListImageScanFindings", req, &page); err != nil {
			return r, err
		}
		r.Findings = append(r.Findings, page.Findings...)
		if page.NextToken == "" {
			break
		}
		req.NextToken = page.NextToken
	}
	scan.SortFindings(r.Findings)
	r.SeverityCounts = scan.Counts(r.Findings)
	return r, nil
}

func printScanTable(w io.Writer, r scanReport) {
	fmt.Fprintln(w, r.ImageBuildVersionArn)
	switch st := r.ScanState; {
	case st == nil:
		fmt.Fprintln(w, "scan: none (imageScanningConfiguration.imageScanningEnabled was not true for this build)")
	case st.Reason != "":
		fmt.Fprintf(w, "scan: %s: %s\n", st.Status, st.Reason)
	default:
		fmt.Fprintf(w, "scan: %s\n", st.Status)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "no findings")
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tSCORE\tVULNERABILITY\tPACKAGE\tVERSION\tFIXED IN")
	for _, f := range r.Findings {
		score := "-"
		if f.InspectorScore != nil {
			score = fmt.Sprintf("%.1f", *f.InspectorScore)
		}
		d := f.PackageVulnerabilityDetails
		if d == nil || len(d.VulnerablePackages) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\n", f.Severity, score, vulnID(f))
			continue
		}
		for i, p := range d.VulnerablePackages {
			sev, sc, id := f.Severity, score, d.VulnerabilityId
			if i > 0 {
				sev, sc, id = "", "", ""
			}
			fixed := p.FixedInVersion
			if fixed == "NotAvailable" {
				fixed = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sev, sc, id, p.Name, p.Version, fixed)
		}
	}
	tw.Flush()
	c := r.SeverityCounts
	noun := "findings"
	if *c.All == 1 {
		noun = "finding"
	}
	fmt.Fprintf(w, "\n%d %s: %d critical, %d high, %d medium\n", *c.All, noun, *c.Critical, *c.High, *c.Medium)
}

func vulnID(f awsapi.ImageScanFinding) string {
	if f.PackageVulnerabilityDetails == nil {
		return ""
	}
	return f.PackageVulnerabilityDetails.VulnerabilityId
}

// apiClient sends Image Builder API requests (restJson1) to kiln, signed
// with SigV4 for service imagebuilder with the standard AWS credential
// chain; a loopback kiln accepts any signature, so with no credentials
// configured it signs with a placeholder.
type apiClient struct {
	endpoint string
	region   string
	creds    aws.Credentials
}

func newAPIClient(ctx context.Context, endpoint string) (*apiClient, error) {
	c := &apiClient{endpoint: strings.TrimRight(endpoint, "/"), region: "us-east-1",
		creds: aws.Credentials{AccessKeyID: "kiln", SecretAccessKey: "kiln"}}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Region != "" {
		c.region = cfg.Region
	}
	if cfg.Credentials != nil {
		if creds, err := cfg.Credentials.Retrieve(ctx); err == nil {
			c.creds = creds
		}
	}
	return c, nil
}

// call sends body (JSON, or none when nil) and decodes a 200 answer into
// out; any other answer is an error with kiln's message.
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256(payload)
	if err := v4.NewSigner().SignHTTP(ctx, c.creds, req, hex.EncodeToString(sum[:]), "imagebuilder", c.region, time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if uerr, ok := err.(*url.Error); ok {
			return fmt.Errorf("cannot reach kiln at %s: %w", c.endpoint, uerr.Err)
		}
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &e)
		kind := resp.Header.Get("X-Amzn-Errortype")
		kind, _, _ = strings.Cut(kind, ":")
		if e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return fmt.Errorf("%s (%s): %s", kind, resp.Status, e.Message)
	}
	return json.Unmarshal(data, out)
}
