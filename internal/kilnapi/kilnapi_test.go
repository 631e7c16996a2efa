package kilnapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

const (
	region = "us-east-1"
	alice  = "111111111111"
	bob    = "222222222222" // the hostile second account
)

var creds = map[string]aws.Credentials{
	alice: {AccessKeyID: "AKIAALICE", SecretAccessKey: "alice-secret"},
	bob:   {AccessKeyID: "AKIABOB", SecretAccessKey: "bob-secret"},
}

// The catalogue every test starts from: alice's private AMI and an AMI
// she shares with bob, both on one disk, and bob's own private AMI.
const (
	alicePrivate = "ami-00000000000000001"
	aliceShared  = "ami-00000000000000002"
	bobPrivate   = "ami-00000000000000003"
	nobodys      = "ami-0000000000000000f"
	aliceImage   = "arn:aws:imagebuilder:us-east-1:111111111111:image/app/1.0.0/1"
	alicePipe    = "arn:aws:imagebuilder:us-east-1:111111111111:image-pipeline/nightly"
)

// fixture is kiln's endpoints in process over SQLite in a TempDir, signed
// in strict mode by two accounts.
type fixture struct {
	srv     *httptest.Server
	store   store.Store
	dataDir string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dataDir := filepath.Join(dir, "data")
	if err := os.MkdirAll(filepath.Join(dataDir, "disks"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"one.raw": "alice's disk", "two.raw": "bob's disk"} {
		if err := os.WriteFile(filepath.Join(dataDir, "disks", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	amis := []ami.AMI{
		{ImageID: alicePrivate, Name: "private", Region: region, AccountID: alice, Disk: "disks/one.raw"},
		{ImageID: aliceShared, Name: "shared", Region: "eu-west-1", AccountID: alice, Disk: "disks/one.raw", Launchable: []string{bob}},
		{ImageID: bobPrivate, Name: "bob's", Region: region, AccountID: bob, Disk: "disks/two.raw"},
	}
	image, _ := json.Marshal(awsapi.Image{Arn: aliceImage, State: &awsapi.ImageState{Status: awsapi.ImageStatusAvailable}})
	run, _ := json.Marshal(service.PipelineRun{Pipeline: alicePipe, Sequence: 1, Trigger: "SCHEDULED", Outcome: "SKIPPED", Reason: "nothing changed"})
	err = st.Update(ctx, func(tx store.Tx) error {
		for _, a := range amis {
			if err := ami.Put(ctx, tx, region, a, now); err != nil {
				return err
			}
		}
		if err := tx.Insert(ctx, store.Resource{ARN: aliceImage, Kind: "image", Account: alice, Region: region, Name: "app", Doc: image, Created: now, Updated: now}); err != nil {
			return err
		}
		return tx.Insert(ctx, store.Resource{ARN: "kiln:test-run:1", Kind: service.KindPipelineRun, Account: alice, Region: region, Name: alicePipe, Build: 1, Doc: run, Created: now, Updated: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	principals := map[string]sigv4.Principal{}
	for account, c := range creds {
		principals[c.AccessKeyID] = sigv4.Principal{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Account: account}
	}
	h := kilnapi.New(kilnapi.Config{
		Verifier: &sigv4.Verifier{Mode: sigv4.ModeStrict, Service: "imagebuilder", Region: region, Principals: principals},
		AMIs:     &ami.Catalogue{Store: st, Home: region, DataDir: dataDir},
		Logs:     &engine.Engine{Store: st, Region: region, DataDir: dataDir},
		Runs:     &service.Service{Store: st, Partition: "aws", Region: region},
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, dataDir: dataDir}
}

type answer struct {
	status int
	body   string
}

// call sends method path as account signs it ("" sends it unsigned).
func (f *fixture) call(t *testing.T, account, method, path string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if account != "" {
		empty := sha256.Sum256(nil)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds[account], req, hex.EncodeToString(empty[:]), "imagebuilder", region, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b)}
}

func amiPath(path, id string, extra ...string) string {
	q := url.Values{"imageId": {id}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return path + "?" + q.Encode()
}

// TestSignatureRequired: no endpoint, nor a path that does not exist,
// answers anything but 403 to a request without a valid signature, and
// such a request changes nothing.
func TestSignatureRequired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	paths := []struct{ method, path string }{
		{"GET", kilnapi.AMIsPath},
		{"DELETE", amiPath(kilnapi.AMIsPath, alicePrivate)},
		{"GET", amiPath(kilnapi.AMIExportPath, alicePrivate)},
		{"GET", kilnapi.LogsPath + "?imageBuildVersionArn=" + url.QueryEscape(aliceImage)},
		{"GET", kilnapi.PipelineRunsPath + "?imagePipelineArn=" + url.QueryEscape(alicePipe)},
		{"GET", "/kiln/v1/no-such-endpoint"},
		{"POST", kilnapi.AMIsPath},
	}
	forged := aws.Credentials{AccessKeyID: creds[alice].AccessKeyID, SecretAccessKey: "not-alice's"}
	for _, p := range paths {
		if got := f.call(t, "", p.method, p.path); got.status != http.StatusForbidden || strings.Contains(got.body, "alice's disk") {
			t.Errorf("unsigned %s %s = %d %q, want 403", p.method, p.path, got.status, got.body)
		}
		req, _ := http.NewRequest(p.method, f.srv.URL+p.path, nil)
		empty := sha256.Sum256(nil)
		v4.NewSigner().SignHTTP(context.Background(), forged, req, hex.EncodeToString(empty[:]), "imagebuilder", region, time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("forged %s %s = %d, want 403", p.method, p.path, resp.StatusCode)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dataDir, "disks", "one.raw")); err != nil {
		t.Errorf("an unsigned delete removed a disk: %v", err)
	}
	if got := f.call(t, alice, "GET", kilnapi.AMIsPath); !strings.Contains(got.body, alicePrivate) {
		t.Errorf("after unsigned deletes, alice's list = %d %s", got.status, got.body)
	}
}

// TestRoutes: signed requests reach their handler by method and path.
func TestRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", kilnapi.AMIsPath, 200},
		{"PUT", kilnapi.AMIsPath, 405},
		{"DELETE", kilnapi.LogsPath, 405},
		{"POST", kilnapi.PipelineRunsPath, 405},
		{"GET", "/kiln/v1/amis/nothing", 404},
		{"GET", "/kiln/v1/", 404},
		{"GET", amiPath(kilnapi.AMIExportPath, alicePrivate, "format", "vdi"), 400},
	} {
		if got := f.call(t, alice, tc.method, tc.path); got.status != tc.status {
			t.Errorf("%s %s = %d %q, want %d", tc.method, tc.path, got.status, got.body, tc.status)
		}
	}
}

// TestListVisibility: each account lists exactly what it may launch.
func TestListVisibility(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		account string
		want    []string
	}{
		{alice, []string{alicePrivate, aliceShared}},
		{bob, []string{aliceShared, bobPrivate}},
	} {
		got := f.call(t, tc.account, "GET", kilnapi.AMIsPath)
		var amis []ami.AMI
		if err := json.Unmarshal([]byte(got.body), &amis); got.status != 200 || err != nil {
			t.Fatalf("%s lists: %d %s (%v)", tc.account, got.status, got.body, err)
		}
		var ids []string
		for _, a := range amis {
			ids = append(ids, a.ImageID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s lists %v, want %v", tc.account, ids, tc.want)
		}
	}
}

// TestExportVisibility: an AMI's disk goes to those who may launch it;
// to anyone else the AMI answers exactly like one that does not exist.
func TestExportVisibility(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tc := range []struct {
		name, account, id, want string
	}{
		{"own private AMI", alice, alicePrivate, "alice's disk"},
		{"AMI shared with the caller", bob, aliceShared, "alice's disk"},
		{"own AMI", bob, bobPrivate, "bob's disk"},
	} {
		got := f.call(t, tc.account, "GET", amiPath(kilnapi.AMIExportPath, tc.id, "format", "raw"))
		if got.status != 200 || got.body != tc.want {
			t.Errorf("%s: %d %q, want %q", tc.name, got.status, got.body, tc.want)
		}
	}
	// Byte ranges are served, for resumable downloads.
	if got := f.call(t, alice, "GET", amiPath(kilnapi.AMIExportPath, alicePrivate), "Range", "bytes=0-4"); got.status != 206 || got.body != "alice" {
		t.Errorf("ranged export: %d %q", got.status, got.body)
	}
	// Other formats are converted; an unknown one is refused, naming the
	// parameter and the formats there are.
	if _, err := exec.LookPath("qemu-img"); err == nil {
		if got := f.call(t, alice, "GET", amiPath(kilnapi.AMIExportPath, alicePrivate, "format", "vmdk")); got.status != 200 || !strings.HasPrefix(got.body, "KDMV") {
			t.Errorf("vmdk export: %d, starts %.8q", got.status, got.body)
		}
	}
	if got := f.call(t, alice, "GET", amiPath(kilnapi.AMIExportPath, alicePrivate, "format", "vdi")); got.status != 400 || !strings.Contains(got.body, "format must be one of raw, qcow2, vmdk, vhdx, vhd") {
		t.Errorf("vdi export: %d %q", got.status, got.body)
	}
	hidden := f.call(t, bob, "GET", amiPath(kilnapi.AMIExportPath, alicePrivate, "format", "raw"))
	unknown := f.call(t, bob, "GET", amiPath(kilnapi.AMIExportPath, nobodys, "format", "raw"))
	sameAnswer(t, "bob exports alice's private AMI", hidden, alicePrivate, unknown, nobodys)
}

// TestDeleteOwnership: only the owner deregisters an AMI; anyone else,
// even an account that may launch it, gets the answer for an unknown AMI
// and changes nothing. A disk goes with the last AMI on it.
func TestDeleteOwnership(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	disk := func(name string) bool {
		_, err := os.Stat(filepath.Join(f.dataDir, "disks", name))
		return err == nil
	}
	hidden := f.call(t, bob, "DELETE", amiPath(kilnapi.AMIsPath, alicePrivate))
	shared := f.call(t, bob, "DELETE", amiPath(kilnapi.AMIsPath, aliceShared))
	unknown := f.call(t, bob, "DELETE", amiPath(kilnapi.AMIsPath, nobodys))
	sameAnswer(t, "bob deletes alice's private AMI", hidden, alicePrivate, unknown, nobodys)
	sameAnswer(t, "bob deletes an AMI alice shares with him", shared, aliceShared, unknown, nobodys)
	if got := f.call(t, alice, "GET", kilnapi.AMIsPath); !strings.Contains(got.body, alicePrivate) || !strings.Contains(got.body, aliceShared) {
		t.Fatalf("bob's deletes removed alice's AMIs: %s", got.body)
	}

	steps := []struct {
		account, id string
		oneStays    bool
		twoStays    bool
	}{
		{alice, alicePrivate, true, true}, // the shared AMI still uses disk one
		{alice, aliceShared, false, true},
		{bob, bobPrivate, false, false},
	}
	for _, s := range steps {
		if got := f.call(t, s.account, "DELETE", amiPath(kilnapi.AMIsPath, s.id)); got.status != 200 {
			t.Fatalf("%s deletes %s: %d %s", s.account, s.id, got.status, got.body)
		}
		if disk("one.raw") != s.oneStays || disk("two.raw") != s.twoStays {
			t.Errorf("after deleting %s: disk one %v, two %v; want %v, %v", s.id, disk("one.raw"), disk("two.raw"), s.oneStays, s.twoStays)
		}
		if got := f.call(t, s.account, "DELETE", amiPath(kilnapi.AMIsPath, s.id)); got.status != 404 {
			t.Errorf("deleting %s twice: %d %s", s.id, got.status, got.body)
		}
	}
}

// TestLogsAndRunsOwnership: another account's build logs and pipeline
// runs answer like ones that do not exist.
func TestLogsAndRunsOwnership(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	logs := func(account, image string) answer {
		return f.call(t, account, "GET", kilnapi.LogsPath+"?imageBuildVersionArn="+url.QueryEscape(image))
	}
	if got := logs(alice, aliceImage); got.status != 200 {
		t.Errorf("alice reads her image's logs: %d %s", got.status, got.body)
	}
	otherImage := strings.Replace(aliceImage, "/app/", "/other/", 1)
	sameAnswer(t, "bob reads alice's logs", logs(bob, aliceImage), aliceImage, logs(bob, otherImage), otherImage)

	runs := func(account, pipeline string) answer {
		return f.call(t, account, "GET", kilnapi.PipelineRunsPath+"?imagePipelineArn="+url.QueryEscape(pipeline))
	}
	got := runs(alice, alicePipe)
	var resp kilnapi.PipelineRunsResponse
	if err := json.Unmarshal([]byte(got.body), &resp); got.status != 200 || err != nil || len(resp.Runs) != 1 || resp.Runs[0].Reason != "nothing changed" {
		t.Errorf("alice's runs: %d %s", got.status, got.body)
	}
	otherPipe := alicePipe + "-gone"
	sameAnswer(t, "bob reads alice's runs", runs(bob, alicePipe), alicePipe, runs(bob, otherPipe), otherPipe)
}

// sameAnswer fails unless got (about id) is a 404 and reads exactly like
// want (about unknownID, which does not exist).
func sameAnswer(t *testing.T, what string, got answer, id string, want answer, unknownID string) {
	t.Helper()
	if got.status != http.StatusNotFound {
		t.Errorf("%s: %d %q, want 404", what, got.status, got.body)
	}
	if got.status != want.status || !bytes.Equal([]byte(strings.ReplaceAll(got.body, id, "ID")), []byte(strings.ReplaceAll(want.body, unknownID, "ID"))) {
		t.Errorf("%s: %d %q; an unknown one: %d %q", what, got.status, got.body, want.status, want.body)
	}
}
