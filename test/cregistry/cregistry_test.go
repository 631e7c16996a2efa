// Package cregistry tests container distribution to registries other
// than kiln's own (kiln serve --registry-for) end to end: the real kiln
// binary driven through aws-sdk-go-v2, Debian's docker-registry
// (distribution 2.8) with htpasswd authentication as the other registry,
// over TLS with a certificate the test makes or over plain HTTP, and
// skopeo pulling the result back with the same Docker config.
package cregistry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/ecr"
	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// The registry's one user.
const (
	regUser     = "builder"
	regPassword = "s3cret-registry-password"
)

// otherRegistry is a running docker-registry.
type otherRegistry struct {
	Addr   string // 127.0.0.1:port
	CAFile string // its certificate (self-signed), "" over plain HTTP
	// CertDir holds CAFile as ca.crt, for skopeo's --cert-dir.
	CertDir string
	log     kilntest.SyncBuffer
}

// startRegistry starts Debian's docker-registry on a free loopback port
// with htpasswd authentication, serving TLS with a self-signed
// certificate for 127.0.0.1 and localhost when withTLS.
func startRegistry(t *testing.T, withTLS bool) *otherRegistry {
	t.Helper()
	kilntest.RequireTool(t, "/usr/bin/docker-registry", "docker-registry")
	kilntest.RequireTool(t, "/usr/bin/htpasswd", "apache2-utils")
	dir := t.TempDir()
	out, err := exec.Command("/usr/bin/htpasswd", "-Bbn", regUser, regPassword).Output()
	if err != nil {
		t.Fatalf("htpasswd: %v", err)
	}
	write(t, filepath.Join(dir, "htpasswd"), out)
	r := &otherRegistry{Addr: freeAddr(t)}
	tlsConf := ""
	if withTLS {
		r.CertDir = filepath.Join(dir, "certs")
		r.CAFile = filepath.Join(r.CertDir, "ca.crt")
		cert, key := selfSigned(t)
		write(t, r.CAFile, cert)
		write(t, filepath.Join(dir, "key.pem"), key)
		tlsConf = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", r.CAFile, filepath.Join(dir, "key.pem"))
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
  secret: kiln-test-secret
%sauth:
  htpasswd:
    realm: kiln-test
    path: %s
`, filepath.Join(dir, "data"), r.Addr, tlsConf, filepath.Join(dir, "htpasswd"))
	write(t, filepath.Join(dir, "config.yml"), []byte(cfg))
	cmd := exec.Command("/usr/bin/docker-registry", "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = &r.log, &r.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Up when /v2/ asks for credentials.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
	scheme := map[bool]string{true: "https", false: "http"}[withTLS]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get(scheme + "://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not come up on %s: %v\n%s", r.Addr, err, r.log.String())
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// selfSigned makes a self-signed certificate for 127.0.0.1 and localhost
// that is its own CA, and returns it and its key in PEM.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "kiln test registry"},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// dockerConfig writes a Docker config directory with config.json.
func dockerConfig(t *testing.T, json string) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "config.json"), []byte(json))
	return dir
}

func basicAuth() string {
	return base64.StdEncoding.EncodeToString([]byte(regUser + ":" + regPassword))
}

// fixture is a kiln with an infrastructure configuration, a component
// and a busybox parent in its registry.
type fixture struct {
	srv   *kilntest.Server
	c     *imagebuilder.Client
	infra string
	comp  string
	base  string
}

func newFixture(t *testing.T, env []string, args ...string) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	kilntest.RequireTool(t, "/usr/bin/skopeo", "skopeo")
	f := &fixture{srv: kilntest.StartEnv(t, env, args...)}
	f.c = f.srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	infra, err := f.c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
	comp, err := f.c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("mark"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String("name: mark\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: ExecuteBash\n        inputs:\n          commands: [\"echo elsewhere > /etc/mark\"]\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.comp = *comp.ComponentBuildVersionArn
	f.base = f.srv.PushBusyboxBase(t, "base/busybox")
	return f
}

// recipe creates a container recipe NAME whose target repository is NAME.
func (f *fixture) recipe(t *testing.T, name string) string {
	t.Helper()
	out, err := f.c.CreateContainerRecipe(kilntest.Context(t), &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage: aws.String(f.base), Components: []types.ComponentConfiguration{{ComponentArn: aws.String(f.comp)}},
		DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\nRUN echo " + name + " > /etc/built-as\n{{{ imagebuilder:components }}}\n"),
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String(name)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ContainerRecipeArn
}

// distribution creates a distribution configuration sending repo with
// tags to each region.
func (f *fixture) distribution(t *testing.T, name, repo string, tags []string, regions ...string) string {
	t.Helper()
	var ds []types.Distribution
	for _, r := range regions {
		ds = append(ds, types.Distribution{Region: aws.String(r), ContainerDistributionConfiguration: &types.ContainerDistributionConfiguration{
			ContainerTags:    tags,
			TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String(repo)},
		}})
	}
	out, err := f.c.CreateDistributionConfiguration(kilntest.Context(t), &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String(name), Distributions: ds,
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.DistributionConfigurationArn
}

// build runs CreateImage with the recipe and distribution and waits for
// the image to be AVAILABLE or FAILED.
func (f *fixture) build(t *testing.T, recipe, dist string) *types.Image {
	t.Helper()
	out, err := f.c.CreateImage(kilntest.Context(t), &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		DistributionConfigurationArn: aws.String(dist),
		ImageTestsConfiguration:      &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f.wait(t, *out.ImageBuildVersionArn)
}

var building = []types.ImageStatus{types.ImageStatusPending, types.ImageStatusCreating, types.ImageStatusBuilding,
	types.ImageStatusTesting, types.ImageStatusDistributing, types.ImageStatusIntegrating}

func (f *fixture) wait(t *testing.T, image string) *types.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for {
		out, err := f.c.GetImage(ctx, &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err != nil {
			t.Fatalf("GetImage %s: %v\n%s", image, err, f.srv.Log())
		}
		if out.Image.State != nil && !slices.Contains(building, out.Image.State.Status) {
			return out.Image
		}
		select {
		case <-ctx.Done():
			t.Fatalf("image %s stayed in progress; server log:\n%s", image, f.srv.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// urisIn returns the image URIs outputResources.containers lists for region.
func urisIn(o *types.OutputResources, region string) []string {
	if o == nil {
		return nil
	}
	for _, c := range o.Containers {
		if aws.ToString(c.Region) == region {
			return c.ImageUris
		}
	}
	return nil
}

func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	return strings.TrimSpace(kilntest.Skopeo(t, args...))
}

// TestRegistryForTLS builds a container image through an image pipeline
// whose distribution goes to kiln's own region and to us-west-2, which
// kiln serve --registry-for maps to a docker-registry with htpasswd
// authentication and a self-signed certificate (given by --registry-ca),
// with the credentials in the Docker config's auths. GetImage and
// ListImagePipelineImages list the external URIs, and skopeo pulls the
// same digest back with the same Docker config.
func TestRegistryForTLS(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, true)
	conf := dockerConfig(t, `{"auths": {"`+reg.Addr+`": {"auth": "`+basicAuth()+`"}}}`)
	f := newFixture(t, []string{"DOCKER_CONFIG=" + conf},
		"--registry-for", "us-west-2="+reg.Addr+"/team/images", "--registry-ca", reg.CAFile)
	ctx := kilntest.Context(t)
	recipe := f.recipe(t, "app")
	dist := f.distribution(t, "elsewhere", "app", []string{"v1", "stable"}, "us-east-1", "us-west-2")
	pipe, err := f.c.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("app"), ContainerRecipeArn: aws.String(recipe), InfrastructureConfigurationArn: aws.String(f.infra),
		DistributionConfigurationArn: aws.String(dist),
		ImageTestsConfiguration:      &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	run, err := f.c.StartImagePipelineExecution(ctx, &imagebuilder.StartImagePipelineExecutionInput{
		ImagePipelineArn: pipe.ImagePipelineArn, ClientToken: aws.String("run-1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	img := f.wait(t, *run.ImageBuildVersionArn)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("the build: %+v\n%s", img.State, f.srv.Log())
	}
	external := []string{reg.Addr + "/team/images/app:v1", reg.Addr + "/team/images/app:stable"}
	if got := urisIn(img.OutputResources, "us-west-2"); !slices.Equal(got, external) {
		t.Errorf("GetImage: us-west-2 URIs %v, want %v", got, external)
	}
	if got := urisIn(img.OutputResources, "us-east-1"); !slices.Contains(got, f.srv.Addr+"/app:v1") || !slices.Contains(got, f.srv.Addr+"/app:1.0.0-1") {
		t.Errorf("GetImage: us-east-1 URIs %v lack kiln's own", got)
	}
	list, err := f.c.ListImagePipelineImages(ctx, &imagebuilder.ListImagePipelineImagesInput{ImagePipelineArn: pipe.ImagePipelineArn})
	if err != nil || len(list.ImageSummaryList) != 1 {
		t.Fatalf("ListImagePipelineImages: %v %+v", err, list)
	}
	if got := urisIn(list.ImageSummaryList[0].OutputResources, "us-west-2"); !slices.Equal(got, external) {
		t.Errorf("ListImagePipelineImages: us-west-2 URIs %v, want %v", got, external)
	}

	authfile := filepath.Join(conf, "config.json")
	built := skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+f.srv.Addr+"/app:1.0.0-1")
	for _, ref := range external {
		if got := skopeo(t, "inspect", "--authfile", authfile, "--cert-dir", reg.CertDir, "--format", "{{.Digest}}", "docker://"+ref); got != built {
			t.Errorf("%s is %s, want the built %s", ref, got, built)
		}
	}
	layout := t.TempDir()
	skopeo(t, "copy", "--src-authfile", authfile, "--src-cert-dir", reg.CertDir, "docker://"+external[0], "oci:"+layout+":pulled")
	if got := skopeo(t, "inspect", "--format", "{{.Digest}}", "oci:"+layout+":pulled"); got != built {
		t.Errorf("the pulled copy is %s, want %s", got, built)
	}
	// DistributeImage sends the built image again, under another tag,
	// to the mapped region.
	again := f.distribution(t, "again", "app", []string{"again"}, "us-west-2")
	if _, err := f.c.DistributeImage(ctx, &imagebuilder.DistributeImageInput{
		SourceImage: run.ImageBuildVersionArn, DistributionConfigurationArn: aws.String(again),
		ExecutionRole: aws.String("distributor"), ClientToken: aws.String("again"),
	}); err != nil {
		t.Fatalf("DistributeImage: %v", err)
	}
	img = f.wait(t, *run.ImageBuildVersionArn)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("after DistributeImage: %+v\n%s", img.State, f.srv.Log())
	}
	external = append(external, reg.Addr+"/team/images/app:again")
	if got := urisIn(img.OutputResources, "us-west-2"); !slices.Equal(got, external) {
		t.Errorf("after DistributeImage: us-west-2 URIs %v, want %v", got, external)
	}
	if got := skopeo(t, "inspect", "--authfile", authfile, "--cert-dir", reg.CertDir, "--format", "{{.Digest}}", "docker://"+external[2]); got != built {
		t.Errorf("%s is %s, want the built %s", external[2], got, built)
	}

	// Without the credentials the registry refuses the same pull: the
	// push did use the Docker config's.
	cmd := exec.Command("/usr/bin/skopeo", "inspect", "--cert-dir", reg.CertDir, "docker://"+external[0])
	cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+filepath.Join(t.TempDir(), "none.json"), "DOCKER_CONFIG="+t.TempDir(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("skopeo without credentials pulled %s:\n%s", external[0], out)
	}
}

// TestRegistryForRefusals maps three regions of one kiln: us-west-2 to a
// plain-HTTP docker-registry listed with --insecure-registry, whose
// credentials come from a Docker credential helper (credHelpers), which
// works; eu-west-1 to a TLS registry whose certificate kiln has no CA for;
// and eu-central-1 to that registry by another name, listed as insecure
// (unverified TLS) but without credentials; and ap-northeast-1 to the
// plain-HTTP registry by a name not listed as insecure. The refusals fail
// their builds before anything runs (kiln asks the registry at launch)
// with reasons that say what to fix, and push nothing.
func TestRegistryForRefusals(t *testing.T) {
	t.Parallel()
	plain := startRegistry(t, false)
	secure := startRegistry(t, true)
	_, securePort, _ := net.SplitHostPort(secure.Addr)
	secureByName := "localhost:" + securePort
	_, plainPort, _ := net.SplitHostPort(plain.Addr)

	// docker-credential-kilntest answers "get" for the plain registry.
	helpers := t.TempDir()
	write(t, filepath.Join(helpers, "docker-credential-kilntest"), []byte(`#!/bin/sh
[ "$1" = get ] || exit 1
read server
case "$server" in
  `+plain.Addr+`|http://`+plain.Addr+`|https://`+plain.Addr+`) printf '{"ServerURL":"%s","Username":"`+regUser+`","Secret":"`+regPassword+`"}\n' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`))
	if err := os.Chmod(filepath.Join(helpers, "docker-credential-kilntest"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := dockerConfig(t, `{"credHelpers": {"`+plain.Addr+`": "kilntest"}}`)
	f := newFixture(t, []string{"DOCKER_CONFIG=" + conf, "PATH=" + helpers + ":" + os.Getenv("PATH")},
		"--registry-for", "us-west-2="+plain.Addr+"/plain",
		"--registry-for", "eu-west-1="+secure.Addr,
		"--registry-for", "eu-central-1="+secureByName,
		"--registry-for", "ap-northeast-1=localhost:"+plainPort,
		"--insecure-registry", plain.Addr, "--insecure-registry", secureByName)

	cases := []struct {
		name, region string
		want         []string // in the failure reason; nil: AVAILABLE
	}{
		{"insecure", "us-west-2", nil},
		{"untrusted", "eu-west-1", []string{"TLS certificate kiln does not trust", "--registry-ca", secure.Addr}},
		{"nocredentials", "eu-central-1", []string{"refused kiln's credentials", "HTTP 401", "Docker config"}},
		{"plainhttp", "ap-northeast-1", []string{"speaks plain HTTP", "--insecure-registry"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			recipe := f.recipe(t, tc.name)
			dist := f.distribution(t, tc.name, tc.name, []string{"v1"}, tc.region)
			img := f.build(t, recipe, dist)
			if tc.want == nil {
				if img.State.Status != types.ImageStatusAvailable {
					t.Fatalf("the build: %+v\n%s", img.State, f.srv.Log())
				}
				want := plain.Addr + "/plain/" + tc.name + ":v1"
				if got := urisIn(img.OutputResources, tc.region); !slices.Equal(got, []string{want}) {
					t.Fatalf("%s URIs %v, want [%s]", tc.region, got, want)
				}
				built := skopeo(t, "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://"+f.srv.Addr+"/"+tc.name+":1.0.0-1")
				got := skopeo(t, "inspect", "--tls-verify=false", "--creds", regUser+":"+regPassword, "--format", "{{.Digest}}", "docker://"+want)
				if got != built {
					t.Errorf("%s is %s, want the built %s", want, got, built)
				}
				return
			}
			if img.State.Status != types.ImageStatusFailed {
				t.Fatalf("the build: %+v, want FAILED", img.State)
			}
			reason := aws.ToString(img.State.Reason)
			t.Logf("FAILED: %s", reason)
			if !strings.Contains(reason, "LaunchBuildInstance") {
				t.Errorf("the reason %q is not the launch step's: the build ran before the refusal", reason)
			}
			for _, w := range tc.want {
				if !strings.Contains(reason, w) {
					t.Errorf("the reason %q does not say %q", reason, w)
				}
			}
			if got := urisIn(img.OutputResources, tc.region); len(got) != 0 {
				t.Errorf("a refused distribution lists %v", got)
			}
			for _, r := range []*otherRegistry{plain, secure} {
				cmd := exec.Command("/usr/bin/skopeo", "inspect", "--tls-verify=false", "--creds", regUser+":"+regPassword, "docker://"+r.Addr+"/"+tc.name+":v1")
				if out, err := cmd.CombinedOutput(); err == nil {
					t.Errorf("the refused push is in the registry %s:\n%s", r.Addr, out)
				}
			}
		})
	}
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

// TestRegistryForAccounts: repository names in a mapped registry are
// kiln's to give out. Under --auth strict, alice's distribution to the
// mapped region claims the repository "shared"; bob's distribution of
// his own image to the same repository fails before his build starts,
// and alice's image stays what the registry holds.
func TestRegistryForAccounts(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	kilntest.RequireTool(t, "/usr/bin/skopeo", "skopeo")
	reg := startRegistry(t, false)
	creds := filepath.Join(t.TempDir(), "credentials")
	write(t, creds, []byte(`[alice]
aws_access_key_id = AKIDALICE
aws_secret_access_key = alice-secret
aws_account_id = 111111111111

[bob]
aws_access_key_id = AKIDBOB
aws_secret_access_key = bob-secret
aws_account_id = 222222222222
`))
	conf := dockerConfig(t, `{"auths": {"`+reg.Addr+`": {"username": "`+regUser+`", "password": "`+regPassword+`"}}}`)
	srv := kilntest.StartEnv(t, []string{"DOCKER_CONFIG=" + conf}, "--auth", "strict", "--credentials", creds,
		"--registry-for", "us-west-2="+reg.Addr+"/shared-prefix", "--insecure-registry", reg.Addr)
	key, err := os.ReadFile(filepath.Join(srv.DataDir, "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	accounts := []struct {
		name    string
		account string
		creds   kilntest.Creds
	}{
		{"alice", "111111111111", kilntest.Creds{AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret"}},
		{"bob", "222222222222", kilntest.Creds{AccessKeyID: "AKIDBOB", SecretAccessKey: "bob-secret"}},
	}
	shared := reg.Addr + "/shared-prefix/shared:v1"
	var aliceDigest string
	for _, a := range accounts {
		// The account's own parent image, pushed with its own registry token.
		tok, _ := ecr.NewTokens(key).Issue(ecr.Identity{Account: a.account, ARN: "arn:aws:iam::" + a.account + ":root"})
		base := srv.Addr + "/" + a.name + "-base:latest"
		skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "AWS:"+tok, "oci:"+kilntest.BusyboxLayout(t)+":latest", "docker://"+base)
		f := &fixture{srv: srv, c: srv.Client(a.creds), base: base}
		ctx := kilntest.Context(t)
		infra, err := f.c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
			Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"),
		})
		if err != nil {
			t.Fatal(err)
		}
		f.infra = *infra.InfrastructureConfigurationArn
		comp, err := f.c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
			Name: aws.String("mark"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
			Data: aws.String("name: mark\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: ExecuteBash\n        inputs:\n          commands: [\"echo " + a.name + " > /etc/mark\"]\n"),
		})
		if err != nil {
			t.Fatal(err)
		}
		f.comp = *comp.ComponentBuildVersionArn
		img := f.build(t, f.recipe(t, a.name+"-app"), f.distribution(t, "shared", "shared", []string{"v1"}, "us-west-2"))
		if a.name == "alice" {
			if img.State.Status != types.ImageStatusAvailable {
				t.Fatalf("alice's build: %+v\n%s", img.State, srv.Log())
			}
			aliceDigest = skopeo(t, "inspect", "--tls-verify=false", "--creds", regUser+":"+regPassword, "--format", "{{.Digest}}", "docker://"+shared)
			continue
		}
		reason := aws.ToString(img.State.Reason)
		if img.State.Status != types.ImageStatusFailed || !strings.Contains(reason, "may not push repository shared") {
			t.Fatalf("bob's build: %+v %s, want FAILED naming the repository shared", img.State, reason)
		}
		t.Logf("bob: %s", reason)
	}
	if got := skopeo(t, "inspect", "--tls-verify=false", "--creds", regUser+":"+regPassword, "--format", "{{.Digest}}", "docker://"+shared); got != aliceDigest {
		t.Errorf("%s is %s after bob's build, want alice's %s", shared, got, aliceDigest)
	}
}

// TestRegistryForFlags: kiln serve refuses to start on a mapping or CA
// it cannot use, naming the flag.
func TestRegistryForFlags(t *testing.T) {
	t.Parallel()
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	write(t, notPEM, []byte("not a certificate"))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no host", []string{"--registry-for", "us-west-2"}, `--registry-for "us-west-2": want REGION=HOST[/PREFIX]`},
		{"scheme", []string{"--registry-for", "us-west-2=https://registry.example.com"}, "without a scheme"},
		{"hub path", []string{"--registry-for", "us-west-2=harbor/team"}, "Docker Hub path"},
		{"same region twice", []string{"--registry-for", "us-west-2=a.example", "--registry-for", "us-west-2=b.example"}, "already mapped"},
		{"CA not PEM", []string{"--registry-for", "us-west-2=a.example", "--registry-ca", notPEM}, "--registry-ca " + notPEM + ": no PEM certificate"},
		{"CA alone", []string{"--registry-ca", notPEM}, "no --registry-for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
			cmd := exec.Command(kilntest.Binary(t), args...)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("kiln serve %v: %v, want a refusal saying %q:\n%s", tc.args, err, tc.want, out)
			}
		})
	}
}
