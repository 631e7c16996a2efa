package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/aws/smithy-go"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// hostSecret is what a service on kiln's host keeps from the world.
const hostSecret = "host-only-secret-5ea1ed"

// secretService is a loopback HTTP service holding hostSecret, counting
// the requests that reach it.
func secretService(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, hostSecret)
	}))
	// Connections are counted, not requests: a TLS handshake kiln
	// gives up on is a connection too.
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			hits.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &hits
}

// httpsURL is u with https: plain http has a rule of its own for
// documents, and https must be refused by the address check alone.
func httpsURL(u string) string { return strings.Replace(u, "http://", "https://", 1) }

// apiMessage is an API error's message.
func apiMessage(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	return ae.ErrorMessage()
}

// wantRefusal checks an InvalidParameterValueException naming member
// that says kiln's policy refused, with nothing of hostSecret in it.
func wantRefusal(t *testing.T, err error, member, why string) string {
	t.Helper()
	wantCode(t, err, "InvalidParameterValueException")
	msg := apiMessage(t, err)
	if !strings.Contains(msg, member) || !strings.Contains(msg, why) || strings.Contains(msg, hostSecret) {
		t.Fatalf("message %q: want it to name %s and say %q, and not carry the secret", msg, member, why)
	}
	return msg
}

// TestFetchRefusesHostServices: a caller cannot make kiln fetch from the
// host's loopback, the metadata service or anything a redirect points
// at there; the refusal is the same for open and closed ports, never
// carries the remote content, and nothing is stored.
func TestFetchRefusesHostServices(t *testing.T) {
	t.Parallel()
	secret, hits := secretService(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	// The one server kiln may fetch from listens on 127.0.0.2 and
	// redirects to the secret on 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	redirector := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := secret.URL
		if r.URL.Path == "/tls" {
			to = httpsURL(to)
		}
		http.Redirect(w, r, to+"/secret", http.StatusFound)
	})}}
	redirector.Start()
	t.Cleanup(redirector.Close)

	srv := kilntest.Start(t, "--allow-fetch-cidr", "127.0.0.2/32")
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	const policy = "refused by kiln's fetch policy"
	var messages []string
	for _, tc := range []struct{ name, uri string }{
		{"loopback service", secret.URL + "/secret"},
		{"closed loopback port", closedURL + "/secret"},
		{"localhost by name", strings.Replace(secret.URL, "127.0.0.1", "localhost", 1) + "/secret"},
		{"IPv4-mapped loopback", strings.Replace(secret.URL, "127.0.0.1", "[::ffff:127.0.0.1]", 1) + "/secret"},
		// Refused by the dialer before connect(2): nothing is sent.
		{"metadata service", "http://169.254.169.254/latest/meta-data/iam/security-credentials/"},
		{"redirect to loopback", redirector.URL + "/doc"},
		{"https loopback service", httpsURL(secret.URL) + "/secret"},
		{"https closed loopback port", httpsURL(closedURL) + "/secret"},
		{"https metadata service", "https://169.254.169.254/latest/meta-data/"},
		{"redirect to https loopback", redirector.URL + "/tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
				Name: aws.String("stolen"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
				Uri: aws.String(tc.uri),
			})
			msg := wantRefusal(t, err, "uri", policy)
			messages = append(messages, strings.Replace(msg, tc.uri, "URI", 1))
			in := containerRecipeInput("stolen", "1.0.0", "arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x")
			in.DockerfileTemplateData, in.DockerfileTemplateUri = nil, aws.String(tc.uri)
			_, err = c.CreateContainerRecipe(ctx, in)
			wantRefusal(t, err, "dockerfileTemplateUri", policy)
		})
	}
	// Open ports, closed ones and redirects read the same.
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("refusals differ:\n%s\n%s", messages[0], m)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the host's service got %d requests", n)
	}
	list, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range list.ComponentVersionList {
		if aws.ToString(v.Name) == "stolen" {
			t.Fatalf("a refused component was stored: %+v", v)
		}
	}
	recipes, err := c.ListContainerRecipes(ctx, &imagebuilder.ListContainerRecipesInput{})
	if err != nil || len(recipes.ContainerRecipeSummaryList) != 0 {
		t.Fatalf("container recipes after refusals: %+v, %v", recipes, err)
	}
}

// TestFetchS3EndpointTrusted: the operator's --s3-endpoint is trusted
// though it is on loopback; its error answers reach the caller as a
// status code only.
func TestFetchS3EndpointTrusted(t *testing.T) {
	t.Parallel()
	bucket := s3gw.Start(t)
	bucket.Put("docs", "hello.yaml", []byte(helloDoc))
	srv := kilntest.StartEnv(t, bucket.Env(), "--s3-endpoint", bucket.URL)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	out, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("from-s3"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Uri: aws.String("s3://docs/hello.yaml"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: out.ComponentBuildVersionArn})
	if err != nil || aws.ToString(got.Component.Data) != helloDoc {
		t.Fatalf("component from s3: %+v, %v", got, err)
	}
	_, err = c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("from-s3"), SemanticVersion: aws.String("1.0.1"), Platform: types.PlatformLinux,
		Uri: aws.String("s3://docs/missing.yaml"),
	})
	msg := wantRefusal(t, err, "uri", "could not fetch: HTTP 404")
	if strings.Contains(msg, "NoSuchKey") || strings.Contains(msg, "does not exist") {
		t.Errorf("the message carries the endpoint's own error text: %q", msg)
	}
}

// TestImportFileRefusalsReadAlike: file:// imports outside the allowed
// directories, or missing inside them, get one answer, so it does not
// tell which host paths exist.
func TestImportFileRefusalsReadAlike(t *testing.T) {
	t.Parallel()
	allowed := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "exists.img"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "exists.img"), filepath.Join(allowed, "link.img")); err != nil {
		t.Fatal(err)
	}
	srv := kilntest.Start(t, "--allow-import-dir", allowed)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	var first string
	for _, path := range []string{
		"/etc/passwd",
		"/etc/no-such-file",
		filepath.Join(outside, "exists.img"),
		filepath.Join(outside, "missing.img"),
		filepath.Join(allowed, "missing.img"),
		filepath.Join(allowed, "link.img"),
		"/root/.ssh/id_ed25519",
	} {
		_, err := c.ImportDiskImage(ctx, &imagebuilder.ImportDiskImageInput{
			Name: aws.String("probe"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
			OsVersion:                      aws.String("Debian 12"),
			InfrastructureConfigurationArn: aws.String("arn:aws:imagebuilder:us-east-1:000000000000:infrastructure-configuration/none"),
			Uri:                            aws.String("file://" + path),
		})
		wantCode(t, err, "InvalidParameterValueException")
		msg := strings.Replace(apiMessage(t, err), path, "PATH", 1)
		if !strings.Contains(msg, "--allow-import-dir") {
			t.Errorf("%s: %q does not say what is allowed", path, msg)
		}
		if first == "" {
			first = msg
		} else if msg != first {
			t.Errorf("%s: %q, unlike %q", path, msg, first)
		}
	}
}

// TestImportRefusesHostServices: an https:// import aimed at the host's
// loopback fails by policy, before connecting.
func TestImportRefusesHostServices(t *testing.T) {
	t.Parallel()
	secret, hits := secretService(t)
	f := newBuildFixture(t, true)
	out, err := f.client.ImportDiskImage(kilntest.Context(t), &imagebuilder.ImportDiskImageInput{
		Name: aws.String("stolen-disk"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(f.infra),
		Uri: aws.String(httpsURL(secret.URL) + "/disk.raw"),
	})
	if err != nil {
		t.Fatal(err)
	}
	img := f.waitImage(t, *out.ImageBuildVersionArn, 2*time.Minute)
	reason := aws.ToString(img.State.Reason)
	if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "refused by kiln's fetch policy") || strings.Contains(reason, hostSecret) {
		t.Fatalf("import is %s: %q", img.State.Status, reason)
	}
	if hits.Load() != 0 {
		t.Fatal("the host's service was reached")
	}
}

// TestAddRefusesHostServices: a Dockerfile's ADD URL or a parent image
// aimed at the host's loopback fails the build by policy, before
// connecting.
func TestAddRefusesHostServices(t *testing.T) {
	t.Parallel()
	secret, hits := secretService(t)
	f := newBuildFixture(t, true)
	noop := f.component(t, "noop", `name: noop
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Noop
        action: ExecuteBash
        inputs:
          commands:
            - "true"
`)
	recipe := f.recipe(t, "add-stolen", minimalTemplate+"ADD "+secret.URL+"/secret /opt/secret\n",
		types.ComponentConfiguration{ComponentArn: aws.String(noop)})
	image := f.createImage(t, recipe, false, "")
	img := f.waitImage(t, image, 3*time.Minute)
	reason := aws.ToString(img.State.Reason)
	if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "refused by kiln's fetch policy") || strings.Contains(reason, hostSecret) {
		t.Fatalf("image is %s: %q", img.State.Status, reason)
	}
	if strings.Contains(f.logs(t, image), hostSecret) {
		t.Fatal("the build's log carries the secret")
	}
	// A parent image in a "registry" on the host's loopback: refused
	// too, while kiln's own registry (the fixture's base) is trusted.
	host := strings.TrimPrefix(secret.URL, "http://")
	for i, parent := range []string{host + "/library/base:latest", host + "/v2/x@sha256:" + strings.Repeat("0", 64)} {
		recipe = f.recipeFrom(t, fmt.Sprintf("parent-stolen-%d", i), parent, minimalTemplate,
			types.ComponentConfiguration{ComponentArn: aws.String(noop)})
		image = f.createImage(t, recipe, false, "")
		img = f.waitImage(t, image, 3*time.Minute)
		reason = aws.ToString(img.State.Reason)
		if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "refused by kiln's fetch policy") || strings.Contains(reason, hostSecret) {
			t.Fatalf("parent %s: image is %s: %q", parent, img.State.Status, reason)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("the host's service was reached")
	}
}

// TestS3BucketsBelongToAccounts: kiln reaches S3 with credentials of its
// own, so on a shared server an account may name only the buckets the
// operator gave it (--s3-bucket-owner). Bob cannot read alice's bucket as
// a component document, though kiln's credentials could.
func TestS3BucketsBelongToAccounts(t *testing.T) {
	t.Parallel()
	bucket := s3gw.Start(t)
	bucket.Put("alice-private", "doc.yaml", []byte(helloDoc))
	bucket.Put("unclaimed", "doc.yaml", []byte(helloDoc))
	credFile, alice, bob := writeCredentials(t)
	srv := kilntest.StartEnv(t, bucket.Env(), "--auth", "strict", "--credentials", credFile, "--s3-endpoint", bucket.URL,
		"--s3-bucket-owner", "alice-private=111111111111")
	ctx := kilntest.Context(t)
	create := func(c *imagebuilder.Client, version, uri string) error {
		_, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
			Name: aws.String("doc"), SemanticVersion: aws.String(version), Platform: types.PlatformLinux, Uri: aws.String(uri),
		})
		return err
	}
	if err := create(srv.Client(alice), "1.0.0", "s3://alice-private/doc.yaml"); err != nil {
		t.Fatalf("alice reading her own bucket: %v", err)
	}
	for _, tc := range []struct {
		name  string
		creds kilntest.Creds
		uri   string
	}{
		{"bob reads alice's bucket", bob, "s3://alice-private/doc.yaml"},
		{"bob reads a bucket nobody was given", bob, "s3://unclaimed/doc.yaml"},
		{"alice reads a bucket nobody was given", alice, "s3://unclaimed/doc.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := create(srv.Client(tc.creds), "2.0.0", tc.uri)
			msg := wantRefusal(t, err, "uri", "does not let this account use that bucket")
			if strings.Contains(msg, "111111111111") {
				t.Errorf("the refusal names the bucket's owner: %q", msg)
			}
		})
	}
	list, err := srv.Client(bob).ListComponents(ctx, &imagebuilder.ListComponentsInput{})
	if err != nil || len(list.ComponentVersionList) != 0 {
		t.Fatalf("bob's components after the refusals: %+v, %v", list, err)
	}
}
