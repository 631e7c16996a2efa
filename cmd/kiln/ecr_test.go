package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/kiln-build/kiln/internal/ecr"
	"github.com/kiln-build/kiln/internal/kilntest"
)

// ecrAnswer is an ECR API answer decoded loosely.
type ecrAnswer struct {
	Status int
	Type   string // __type of an error
	Body   map[string]any
	Raw    []byte
}

// ecrCall sends one ECR operation signed for the service "ecr".
func ecrCall(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, op string, in any) ecrAnswer {
	t.Helper()
	body, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", ecr.TargetPrefix+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey},
		req, hex.EncodeToString(sum[:]), "ecr", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := ecrAnswer{Status: resp.StatusCode, Raw: raw}
	json.Unmarshal(raw, &a.Body)
	if s, ok := a.Body["__type"].(string); ok {
		a.Type = s
	}
	return a
}

// awsECR runs `aws ecr` against srv as creds and returns its standard
// output, or its error with standard error.
func awsECR(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, args ...string) (string, error) {
	t.Helper()
	requireTool(t, "/usr/bin/aws")
	cmd := exec.Command("/usr/bin/aws", append([]string{"ecr", "--endpoint-url", srv.URL, "--region", "us-east-1", "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(err.Error() + ": " + stderr.String())
	}
	return stdout.String(), nil
}

func mustAWSECR(t *testing.T, srv *kilntest.Server, creds kilntest.Creds, args ...string) string {
	t.Helper()
	out, err := awsECR(t, srv, creds, args...)
	if err != nil {
		t.Fatalf("aws ecr %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// skopeoAs runs skopeo with a per-principal auth file (so a login sticks
// for later calls) and returns its output and error.
func skopeoAs(t *testing.T, authFile string, stdin string, args ...string) (string, error) {
	t.Helper()
	kilntest.RequireTool(t, "/usr/bin/skopeo", "skopeo")
	cmd := exec.Command("/usr/bin/skopeo", append([]string{"--insecure-policy"}, args...)...)
	cmd.Env = append(os.Environ(), "REGISTRY_AUTH_FILE="+authFile)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// loginSkopeo does `aws ecr get-login-password | skopeo login -u AWS
// --password-stdin HOST:PORT` and returns the auth file and the password.
func loginSkopeo(t *testing.T, srv *kilntest.Server, creds kilntest.Creds) (authFile, password string) {
	t.Helper()
	password = strings.TrimSpace(mustAWSECR(t, srv, creds, "get-login-password"))
	authFile = filepath.Join(t.TempDir(), "auth.json")
	if out, err := skopeoAs(t, authFile, password, "login", "--tls-verify=false", "-u", "AWS", "--password-stdin", srv.Addr); err != nil {
		t.Fatalf("skopeo login: %v\n%s", err, out)
	}
	return authFile, password
}

func basic(password string) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: "AWS", Password: password})
}

// statusOf is the HTTP status of a go-containerregistry error (0: none).
func statusOf(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	return 0
}

// tenancyServer is kiln under --auth strict with alice and bob, alice
// owning app:latest (pushed with skopeo after an ECR login).
type tenancyServer struct {
	srv                *kilntest.Server
	alice, bob         kilntest.Creds
	aliceAuth, bobAuth string
	alicePass, bobPass string
	appDigest          string
}

func newTenancyServer(t *testing.T, args ...string) *tenancyServer {
	t.Helper()
	credFile, alice, bob := writeCredentials(t)
	ts := &tenancyServer{alice: alice, bob: bob}
	ts.srv = kilntest.Start(t, append([]string{"--auth", "strict", "--credentials", credFile}, args...)...)
	ts.aliceAuth, ts.alicePass = loginSkopeo(t, ts.srv, alice)
	ts.bobAuth, ts.bobPass = loginSkopeo(t, ts.srv, bob)
	img := tinyImage(t)
	if out, err := skopeoAs(t, ts.aliceAuth, "", "copy", "--dest-tls-verify=false", "oci:"+writeLayout(t, img)+":latest", "docker://"+ts.srv.Addr+"/app:latest"); err != nil {
		t.Fatalf("alice's push: %v\n%s", err, out)
	}
	ts.appDigest = mustDigest(t, img)
	return ts
}

// TestECRTenancyRegistry is the hostile second account against the
// registry: bob, logged in with his own ECR token, can neither see, pull,
// push, overwrite, delete nor cross-mount alice's repository, through
// skopeo, go-containerregistry and plain HTTP.
func TestECRTenancyRegistry(t *testing.T) {
	t.Parallel()
	ts := newTenancyServer(t)
	srv := ts.srv
	appRef := "docker://" + srv.Addr + "/app:latest"

	// Alice pulls her own image.
	if out, err := skopeoAs(t, ts.aliceAuth, "", "inspect", "--tls-verify=false", appRef); err != nil || !strings.Contains(out, ts.appDigest) {
		t.Fatalf("alice's inspect: %v\n%s", err, out)
	}
	ref, _ := name.ParseReference(srv.Addr+"/app:latest", name.Insecure)

	t.Run("pull", func(t *testing.T) {
		if out, err := skopeoAs(t, ts.bobAuth, "", "inspect", "--tls-verify=false", appRef); err == nil {
			t.Errorf("bob inspected alice's app:\n%s", out)
		}
		if _, err := remote.Image(ref, basic(ts.bobPass)); statusOf(err) != http.StatusForbidden {
			t.Errorf("bob's ggcr pull: %v, want 403", err)
		}
		d, _ := name.NewDigest(srv.Addr+"/app@"+ts.appDigest, name.Insecure)
		if _, err := remote.Get(d, basic(ts.bobPass)); statusOf(err) != http.StatusForbidden {
			t.Errorf("bob's pull by digest: %v, want 403", err)
		}
	})
	t.Run("list", func(t *testing.T) {
		if out, err := skopeoAs(t, ts.bobAuth, "", "list-tags", "--tls-verify=false", "docker://"+srv.Addr+"/app"); err == nil {
			t.Errorf("bob listed alice's tags:\n%s", out)
		}
		reg, _ := name.NewRegistry(srv.Addr, name.Insecure)
		repos, err := remote.Catalog(context.Background(), reg, basic(ts.bobPass))
		if err != nil || slices.Contains(repos, "app") {
			t.Errorf("bob's catalog: %v %v", repos, err)
		}
		repos, err = remote.Catalog(context.Background(), reg, basic(ts.alicePass))
		if err != nil || !slices.Contains(repos, "app") {
			t.Errorf("alice's catalog: %v %v", repos, err)
		}
		if out, err := awsECR(t, srv, ts.bob, "describe-repositories", "--repository-names", "app"); err == nil || !strings.Contains(err.Error(), "RepositoryNotFoundException") {
			t.Errorf("bob's describe-repositories app: %v\n%s", err, out)
		}
		out := mustAWSECR(t, srv, ts.bob, "describe-repositories")
		if strings.Contains(out, `"app"`) {
			t.Errorf("bob's describe-repositories lists alice's app:\n%s", out)
		}
		if a := ecrCall(t, srv, ts.bob, "ListImages", map[string]any{"repositoryName": "app"}); a.Type != "RepositoryNotFoundException" {
			t.Errorf("bob's ListImages: %d %s", a.Status, a.Raw)
		}
		if a := ecrCall(t, srv, ts.bob, "BatchGetImage", map[string]any{"repositoryName": "app", "imageIds": []any{map[string]string{"imageTag": "latest"}}}); a.Type != "RepositoryNotFoundException" {
			t.Errorf("bob's BatchGetImage: %d %s", a.Status, a.Raw)
		}
	})
	t.Run("push and overwrite", func(t *testing.T) {
		evil, _ := random.Image(512, 1)
		if err := remote.Write(ref, evil, basic(ts.bobPass)); err == nil {
			t.Error("bob overwrote alice's app:latest")
		}
		other, _ := name.ParseReference(srv.Addr+"/app:bob", name.Insecure)
		if err := remote.Write(other, evil, basic(ts.bobPass)); err == nil {
			t.Error("bob pushed a new tag into alice's app")
		}
		if out, err := skopeoAs(t, ts.bobAuth, "", "copy", "--dest-tls-verify=false", "oci:"+writeLayout(t, evil)+":latest", appRef); err == nil {
			t.Errorf("bob's skopeo copy over alice's app succeeded:\n%s", out)
		}
		if out, err := awsECR(t, srv, ts.bob, "create-repository", "--repository-name", "app"); err == nil || !strings.Contains(err.Error(), "RepositoryAlreadyExistsException") {
			t.Errorf("bob's create-repository app: %v\n%s", err, out)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if out, err := skopeoAs(t, ts.bobAuth, "", "delete", "--tls-verify=false", "docker://"+srv.Addr+"/app@"+ts.appDigest); err == nil {
			t.Errorf("bob deleted alice's manifest:\n%s", out)
		}
		if out, err := awsECR(t, srv, ts.bob, "batch-delete-image", "--repository-name", "app", "--image-ids", "imageTag=latest"); err == nil {
			t.Errorf("bob's batch-delete-image succeeded:\n%s", out)
		}
		if out, err := awsECR(t, srv, ts.bob, "delete-repository", "--repository-name", "app", "--force"); err == nil {
			t.Errorf("bob's delete-repository succeeded:\n%s", out)
		}
		if out, err := awsECR(t, srv, ts.bob, "delete-repository", "--repository-name", "app", "--registry-id", "111111111111", "--force"); err == nil {
			t.Errorf("bob's delete-repository with alice's registry id succeeded:\n%s", out)
		}
	})
	t.Run("cross-mount", func(t *testing.T) {
		img, err := remote.Image(ref, basic(ts.alicePass))
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := img.Layers()
		ld, _ := layers[0].Digest()
		// Bob asks to mount alice's layer into his own repository.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/bobs/blobs/uploads/?mount="+ld.String()+"&from=app", nil)
		req.SetBasicAuth("AWS", ts.bobPass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			t.Fatal("bob mounted alice's layer into his repository")
		}
		req, _ = http.NewRequest(http.MethodHead, srv.URL+"/v2/bobs/blobs/"+ld.String(), nil)
		req.SetBasicAuth("AWS", ts.bobPass)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("alice's layer in bob's repository: %v %v", resp.StatusCode, err)
		}
		// And into alice's repository from his own: the target side.
		req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v2/app/blobs/uploads/?mount="+ld.String()+"&from=bobs", nil)
		req.SetBasicAuth("AWS", ts.bobPass)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("bob's mount into alice's app: %v %v, want 403", resp.StatusCode, err)
		}
	})
	t.Run("credentials", func(t *testing.T) {
		for _, tt := range []struct{ name, user, password string }{
			{"long-term secret", "AKIDBOB", "bob-secret"},
			{"long-term secret as AWS", "AWS", "bob-secret"},
			{"forged token", "AWS", ts.bobPass[:len(ts.bobPass)-4] + "AAAA"},
			{"expired token", "AWS", expiredToken(t, srv)},
			{"none", "", ""},
		} {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/app/manifests/latest", nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") {
				t.Errorf("%s: %d %q, want 401 with a Basic challenge", tt.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
	})
	// Through all of it alice's image stayed hers.
	if got := headDigest(t, srv, "app:latest", ts.alicePass); got != ts.appDigest {
		t.Errorf("alice's app:latest is %s, want %s", got, ts.appDigest)
	}
}

// expiredToken mints, with the server's own key, a token that expired a
// second ago: what a 12-hour-old login password looks like.
func expiredToken(t *testing.T, srv *kilntest.Server) string {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(srv.DataDir, "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	tokens := ecr.NewTokens(key)
	tokens.Now = func() time.Time { return time.Now().Add(-ecr.TokenLifetime - time.Second) }
	tok, _ := tokens.Issue(ecr.Identity{Account: "222222222222", ARN: "arn:aws:iam::222222222222:user/bob"})
	return tok
}

// headDigest returns the digest ref (REPO:TAG) has in srv's registry.
func headDigest(t *testing.T, srv *kilntest.Server, ref, password string) string {
	t.Helper()
	r, err := name.ParseReference(srv.Addr+"/"+ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r, basic(password))
	if err != nil {
		t.Fatalf("HEAD %s: %v", ref, err)
	}
	return d.Digest.String()
}

// TestECRRepositoryPolicy: a policy granting bob pull lets him pull and
// see the repository, but not push; removing it takes that away, and an
// explicit Deny wins over an Allow.
func TestECRRepositoryPolicy(t *testing.T) {
	t.Parallel()
	ts := newTenancyServer(t)
	srv := ts.srv
	appRef := "docker://" + srv.Addr + "/app:latest"
	pull := `{"Version":"2012-10-17","Statement":[{"Sid":"bobpull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:DescribeRepositories"]}]}`
	if out, err := awsECR(t, srv, ts.bob, "set-repository-policy", "--repository-name", "app", "--policy-text", pull); err == nil {
		t.Fatalf("bob set a policy on alice's repository:\n%s", out)
	}
	mustAWSECR(t, srv, ts.alice, "set-repository-policy", "--repository-name", "app", "--policy-text", pull)
	if out := mustAWSECR(t, srv, ts.alice, "get-repository-policy", "--repository-name", "app"); !strings.Contains(out, "bobpull") {
		t.Errorf("get-repository-policy: %s", out)
	}

	if out, err := skopeoAs(t, ts.bobAuth, "", "inspect", "--tls-verify=false", appRef); err != nil || !strings.Contains(out, ts.appDigest) {
		t.Errorf("bob's inspect with a pull grant: %v\n%s", err, out)
	}
	dest := filepath.Join(t.TempDir(), "pulled")
	if out, err := skopeoAs(t, ts.bobAuth, "", "copy", "--src-tls-verify=false", appRef, "oci:"+dest+":latest"); err != nil {
		t.Errorf("bob's copy with a pull grant: %v\n%s", err, out)
	}
	if out := mustAWSECR(t, srv, ts.bob, "describe-repositories", "--repository-names", "app"); !strings.Contains(out, `"registryId": "111111111111"`) {
		t.Errorf("bob's describe of a shared repository: %s", out)
	}
	evil, _ := random.Image(512, 1)
	ref, _ := name.ParseReference(srv.Addr+"/app:latest", name.Insecure)
	if err := remote.Write(ref, evil, basic(ts.bobPass)); err == nil {
		t.Error("a pull grant let bob push")
	}
	if out, err := skopeoAs(t, ts.bobAuth, "", "delete", "--tls-verify=false", "docker://"+srv.Addr+"/app@"+ts.appDigest); err == nil {
		t.Errorf("a pull grant let bob delete:\n%s", out)
	}

	// A push grant lets bob push a new tag (go-containerregistry checks
	// layers with HEAD first) but still not pull.
	pushOnly := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:BatchCheckLayerAvailability"]}]}`
	if a := ecrCall(t, srv, ts.alice, "SetRepositoryPolicy", map[string]any{"repositoryName": "app", "policyText": pushOnly}); a.Status != http.StatusOK {
		t.Fatalf("SetRepositoryPolicy: %s", a.Raw)
	}
	bobTag, _ := name.ParseReference(srv.Addr+"/app:from-bob", name.Insecure)
	if err := remote.Write(bobTag, evil, basic(ts.bobPass)); err != nil {
		t.Errorf("bob's push with a push grant: %v", err)
	}
	if _, err := remote.Image(ref, basic(ts.bobPass)); statusOf(err) != http.StatusForbidden {
		t.Errorf("bob's pull with a push grant: %v, want 403", err)
	}

	deny := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"ecr:*"},
		{"Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"ecr:*"}]}`
	mustAWSECR(t, srv, ts.alice, "set-repository-policy", "--repository-name", "app", "--policy-text", deny)
	if out, err := skopeoAs(t, ts.bobAuth, "", "inspect", "--tls-verify=false", appRef); err == nil {
		t.Errorf("an explicit Deny did not win over Allow *:\n%s", out)
	}
	mustAWSECR(t, srv, ts.alice, "delete-repository-policy", "--repository-name", "app")
	if _, err := awsECR(t, srv, ts.alice, "get-repository-policy", "--repository-name", "app"); err == nil || !strings.Contains(err.Error(), "RepositoryPolicyNotFoundException") {
		t.Errorf("get-repository-policy after delete: %v", err)
	}
	if out, err := skopeoAs(t, ts.bobAuth, "", "inspect", "--tls-verify=false", appRef); err == nil {
		t.Errorf("bob pulled after the policy was deleted:\n%s", out)
	}
	bad := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}`
	if out, err := awsECR(t, srv, ts.alice, "set-repository-policy", "--repository-name", "app", "--policy-text", bad); err == nil || !strings.Contains(err.Error(), "InvalidParameterException") || !strings.Contains(err.Error(), "Condition") {
		t.Errorf("a policy with a Condition kiln cannot evaluate: %v\n%s", err, out)
	}
	if got := headDigest(t, srv, "app:latest", ts.alicePass); got != ts.appDigest {
		t.Errorf("alice's app:latest is %s, want %s", got, ts.appDigest)
	}
}

// TestECRImmutableTags: once alice makes app IMMUTABLE, no push moves
// latest, hers included, while a new tag still goes in.
func TestECRImmutableTags(t *testing.T) {
	t.Parallel()
	ts := newTenancyServer(t)
	srv := ts.srv
	out := mustAWSECR(t, srv, ts.alice, "put-image-tag-mutability", "--repository-name", "app", "--image-tag-mutability", "IMMUTABLE")
	if !strings.Contains(out, "IMMUTABLE") {
		t.Fatalf("put-image-tag-mutability: %s", out)
	}
	other, _ := random.Image(512, 1)
	ref, _ := name.ParseReference(srv.Addr+"/app:latest", name.Insecure)
	err := remote.Write(ref, other, basic(ts.alicePass))
	var terr *transport.Error
	if !errors.As(err, &terr) || len(terr.Errors) == 0 || terr.Errors[0].Code != "TAG_INVALID" {
		t.Errorf("overwriting an immutable tag: %v, want TAG_INVALID", err)
	}
	if out, err := skopeoAs(t, ts.aliceAuth, "", "copy", "--dest-tls-verify=false", "oci:"+writeLayout(t, other)+":latest", "docker://"+srv.Addr+"/app:latest"); err == nil {
		t.Errorf("skopeo overwrote an immutable tag:\n%s", out)
	}
	// Pushing the same image again is a retry, not an overwrite.
	if out, err := skopeoAs(t, ts.aliceAuth, "", "copy", "--dest-tls-verify=false", "docker://"+srv.Addr+"/app:latest", "docker://"+srv.Addr+"/app:latest", "--src-tls-verify=false"); err != nil {
		t.Errorf("re-pushing the same image: %v\n%s", err, out)
	}
	v2, _ := name.ParseReference(srv.Addr+"/app:v2", name.Insecure)
	if err := remote.Write(v2, other, basic(ts.alicePass)); err != nil {
		t.Errorf("a new tag in an immutable repository: %v", err)
	}
	if got := headDigest(t, srv, "app:latest", ts.alicePass); got != ts.appDigest {
		t.Errorf("app:latest is %s, want %s", got, ts.appDigest)
	}
}

const helloComponent = `name: hello
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands:
            - echo hello > /etc/hello
`

// TestECRTenancyBuilds: builds act as their owner. Bob's container
// recipes naming alice's repository as target, as parent or as a
// distribution target fail with a reason saying so, and alice's
// app:latest is untouched; his build into his own repository works and
// creates it for him (create-on-push).
func TestECRTenancyBuilds(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	ts := newTenancyServer(t)
	srv := ts.srv
	bobBase := srv.Addr + "/bobbase:latest"
	if out, err := skopeoAs(t, ts.bobAuth, "", "copy", "--dest-tls-verify=false", "oci:"+kilntest.BusyboxLayout(t)+":latest", "docker://"+bobBase); err != nil {
		t.Fatalf("bob's base: %v\n%s", err, out)
	}
	f := &buildFixture{srv: srv, client: srv.Client(ts.bob), base: bobBase}
	ctx := kilntest.Context(t)
	infra, err := f.client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
	comp := types.ComponentConfiguration{ComponentArn: aws.String(f.component(t, "hello", helloComponent))}
	recipe := func(name, parent, target string) string {
		out, err := f.client.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
			Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
			ParentImage: aws.String(parent), Components: []types.ComponentConfiguration{comp}, DockerfileTemplateData: aws.String(minimalTemplate),
			TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String(target)},
		})
		if err != nil {
			t.Fatalf("CreateContainerRecipe %s: %v", name, err)
		}
		return *out.ContainerRecipeArn
	}
	dist, err := f.client.CreateDistributionConfiguration(ctx, &imagebuilder.CreateDistributionConfigurationInput{
		Name: aws.String("to-alice"),
		Distributions: []types.Distribution{{Region: aws.String("us-east-1"), ContainerDistributionConfiguration: &types.ContainerDistributionConfiguration{
			TargetRepository: &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("app")},
			ContainerTags:    []string{"latest"},
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, parent, target, dist string
		reason                     []string
	}{
		{"target", bobBase, "app", "", []string{"222222222222", "push", "app"}},
		{"parent", srv.Addr + "/app:latest", "bobapp-parent", "", []string{"parent image", "pull", "app"}},
		{"distribution", bobBase, "bobapp-dist", *dist.DistributionConfigurationArn, []string{"push", "app"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			image := f.createImage(t, recipe("hostile-"+tt.name, tt.parent, tt.target), false, tt.dist)
			img := f.waitImage(t, image, 3*time.Minute)
			if img.State.Status != types.ImageStatusFailed {
				t.Fatalf("bob's build naming alice's repository as %s is %s, want FAILED", tt.name, img.State.Status)
			}
			reason := aws.ToString(img.State.Reason)
			t.Logf("reason: %s", reason)
			for _, s := range tt.reason {
				if !strings.Contains(reason, s) {
					t.Errorf("reason %q lacks %q", reason, s)
				}
			}
			if logs := f.logs(t, image); strings.Contains(logs, "hello from kiln") {
				t.Errorf("bob's build read alice's image:\n%s", logs)
			}
		})
	}
	if got := headDigest(t, srv, "app:latest", ts.alicePass); got != ts.appDigest {
		t.Errorf("alice's app:latest is %s, want %s", got, ts.appDigest)
	}
	if a := ecrCall(t, srv, ts.alice, "ListImages", map[string]any{"repositoryName": "app"}); !strings.Contains(string(a.Raw), `"imageTag":"latest"`) || strings.Count(string(a.Raw), "imageDigest") != 1 {
		t.Errorf("alice's app after bob's builds: %s", a.Raw)
	}

	// Bob's own build goes through and makes bobapp his.
	image := f.createImage(t, recipe("own", bobBase, "bobapp"), false, "")
	if img := f.waitImage(t, image, 3*time.Minute); img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("bob's own build is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, image))
	}
	if out := mustAWSECR(t, srv, ts.bob, "describe-repositories", "--repository-names", "bobapp"); !strings.Contains(out, `"registryId": "222222222222"`) {
		t.Errorf("bob's build-created repository: %s", out)
	}
	if a := ecrCall(t, srv, ts.alice, "DescribeRepositories", map[string]any{"repositoryNames": []string{"bobapp"}}); a.Type != "RepositoryNotFoundException" {
		t.Errorf("alice sees bob's repository: %s", a.Raw)
	}
	for _, repo := range []string{"bobapp-parent", "bobapp-dist"} {
		if a := ecrCall(t, srv, ts.bob, "DescribeRepositories", map[string]any{"repositoryNames": []string{repo}}); a.Type != "RepositoryNotFoundException" {
			t.Errorf("a failed build left repository %s: %s", repo, a.Raw)
		}
	}
}

// kilnToken mints, with the server's own key, the token of kiln's engine
// (the only identity that reaches kiln's internal repositories in full),
// so the test can find what an import stored there.
func kilnToken(t *testing.T, srv *kilntest.Server) string {
	t.Helper()
	key, err := os.ReadFile(filepath.Join(srv.DataDir, "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := ecr.NewTokens(key).Issue(ecr.Identity{Account: "000000000000", ARN: "arn:aws:iam::000000000000:root", Kiln: true})
	return tok
}

// registryStatus sends one registry request with a Basic password.
func registryStatus(t *testing.T, srv *kilntest.Server, method, path, password string) int {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	req.SetBasicAuth("AWS", password)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestECRTenancyMachineImages: the root filesystem of alice's imported
// AMI sits in kiln/machine-images; alice may pull it, bob may not pull,
// list, push or even see that repository.
func TestECRTenancyMachineImages(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	dir := t.TempDir()
	tarball := kilntest.BootableRootTarball(t, dir)
	ts := newTenancyServer(t, "--allow-import-dir", dir)
	srv := ts.srv
	f := &buildFixture{srv: srv, client: srv.Client(ts.alice)}
	infra, err := f.client.CreateInfrastructureConfiguration(kilntest.Context(t), &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
	_, parentAMI := importURI(t, f, "file://"+tarball)

	internal, _ := name.NewRepository(srv.Addr+"/kiln/machine-images", name.Insecure)
	tags, err := remote.List(internal, basic(kilnToken(t, srv)))
	if err != nil || len(tags) != 1 {
		t.Fatalf("kiln/machine-images tags: %v %v", tags, err)
	}
	tagged := internal.Tag(tags[0])
	desc, err := remote.Get(tagged, basic(ts.alicePass))
	if err != nil {
		t.Fatalf("alice pulls her AMI's root filesystem: %v", err)
	}
	img, err := desc.Image()
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	base := "/v2/kiln/machine-images"
	for _, tt := range []struct {
		name, method, path string
		alice, bob         int
	}{
		{"manifest by digest", http.MethodGet, base + "/manifests/" + desc.Digest.String(), 200, 403},
		{"manifest by tag", http.MethodGet, base + "/manifests/" + tags[0], 200, 403},
		{"layer", http.MethodGet, base + "/blobs/" + ld.String(), 200, 403},
		{"tags", http.MethodGet, base + "/tags/list", 403, 403},
		{"push", http.MethodPost, base + "/blobs/uploads/", 403, 403},
		{"delete", http.MethodDelete, base + "/manifests/" + desc.Digest.String(), 403, 403},
	} {
		if got := registryStatus(t, srv, tt.method, tt.path, ts.alicePass); got != tt.alice {
			t.Errorf("alice %s: %d, want %d", tt.name, got, tt.alice)
		}
		if got := registryStatus(t, srv, tt.method, tt.path, ts.bobPass); got != tt.bob {
			t.Errorf("bob %s: %d, want %d", tt.name, got, tt.bob)
		}
	}
	reg, _ := name.NewRegistry(srv.Addr, name.Insecure)
	for who, pass := range map[string]string{"alice": ts.alicePass, "bob": ts.bobPass} {
		if repos, err := remote.Catalog(context.Background(), reg, basic(pass)); err != nil || slices.Contains(repos, "kiln/machine-images") {
			t.Errorf("%s's catalog: %v %v", who, repos, err)
		}
	}
	if out, err := skopeoAs(t, ts.bobAuth, "", "inspect", "--tls-verify=false", "docker://"+srv.Addr+"/kiln/machine-images:"+tags[0]); err == nil {
		t.Errorf("bob inspected alice's AMI root filesystem:\n%s", out)
	}
	if a := ecrCall(t, srv, ts.alice, "CreateRepository", map[string]any{"repositoryName": "kiln/other"}); a.Type != "InvalidParameterException" {
		t.Errorf("CreateRepository kiln/other: %d %s", a.Status, a.Raw)
	}

	// Under --auth strict kiln's engine still reaches the repository with
	// its own identity: alice's machine build starts from her AMI's root
	// filesystem there.
	ctx := kilntest.Context(t)
	motd := f.component(t, "motd", machineBuildComponent)
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("machine"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(parentAMI),
		Components:          []types.ComponentConfiguration{{ComponentArn: aws.String(motd), Parameters: []types.ComponentParameter{{Name: aws.String("message"), Value: []string{"built by kiln"}}}}},
		BlockDeviceMappings: []types.InstanceBlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsInstanceBlockDeviceSpecification{VolumeSize: aws.Int32(1)}}},
	})
	if err != nil {
		t.Fatalf("CreateImageRecipe: %v", err)
	}
	out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	if img := f.waitImage(t, *out.ImageBuildVersionArn, 5*time.Minute); img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("alice's machine build on her AMI is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), f.logs(t, *out.ImageBuildVersionArn))
	}
}

// TestECRLifecycle drives a repository through ECR's API as Terraform and
// the CLI do: create with tags and settings, describe page by page, push
// with a token, list, describe and fetch images, delete an image by tag,
// refuse to delete a non-empty repository without force, and survive
// kill -9 with every acknowledged change.
func TestECRLifecycle(t *testing.T) {
	t.Parallel()
	credFile, alice, _ := writeCredentials(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", credFile)
	call := func(op string, in any) ecrAnswer {
		t.Helper()
		a := ecrCall(t, srv, alice, op, in)
		if a.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", op, a.Status, a.Raw)
		}
		return a
	}
	for _, n := range []string{"svc/api", "svc/web", "svc/worker"} {
		call("CreateRepository", map[string]any{"repositoryName": n, "tags": []any{map[string]string{"Key": "team", "Value": "core"}}})
	}
	created := call("CreateRepository", map[string]any{"repositoryName": "svc/db", "imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": map[string]bool{"scanOnPush": true}})
	repo := created.Body["repository"].(map[string]any)
	if repo["repositoryArn"] != "arn:aws:ecr:us-east-1:111111111111:repository/svc/db" || repo["repositoryUri"] != srv.Addr+"/svc/db" || repo["imageTagMutability"] != "IMMUTABLE" {
		t.Errorf("CreateRepository answered %s", created.Raw)
	}
	var names []string
	for token := ""; ; {
		in := map[string]any{"maxResults": 3}
		if token != "" {
			in["nextToken"] = token
		}
		a := call("DescribeRepositories", in)
		for _, r := range a.Body["repositories"].([]any) {
			names = append(names, r.(map[string]any)["repositoryName"].(string))
		}
		if token, _ = a.Body["nextToken"].(string); token == "" {
			break
		}
	}
	if strings.Join(names, " ") != "svc/api svc/db svc/web svc/worker" {
		t.Errorf("DescribeRepositories pages: %v", names)
	}
	arn := "arn:aws:ecr:us-east-1:111111111111:repository/svc/api"
	call("TagResource", map[string]any{"resourceArn": arn, "tags": []any{map[string]string{"Key": "env", "Value": "prod"}}})
	call("UntagResource", map[string]any{"resourceArn": arn, "tagKeys": []string{"team"}})
	if a := call("ListTagsForResource", map[string]any{"resourceArn": arn}); !strings.Contains(string(a.Raw), `{"Key":"env","Value":"prod"}`) || strings.Contains(string(a.Raw), "team") {
		t.Errorf("ListTagsForResource: %s", a.Raw)
	}

	// Push two images with the token, the second under two tags.
	data := call("GetAuthorizationToken", map[string]any{}).Body["authorizationData"].([]any)[0].(map[string]any)
	if exp, _ := data["expiresAt"].(float64); time.Until(time.Unix(int64(exp), 0)) < 11*time.Hour {
		t.Errorf("the token expires at %v", exp)
	}
	password := loginPassword(t, data["authorizationToken"].(string))
	one, _ := random.Image(256, 1)
	two, _ := random.Image(256, 2)
	for ref, img := range map[string]v1.Image{"svc/api:one": one, "svc/api:two": two, "svc/api:latest": two} {
		r, _ := name.ParseReference(srv.Addr+"/"+ref, name.Insecure)
		if err := remote.Write(r, img, basic(password)); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	d1, d2 := mustDigest(t, one), mustDigest(t, two)
	if a := call("ListImages", map[string]any{"repositoryName": "svc/api"}); strings.Count(string(a.Raw), "imageTag") != 3 {
		t.Errorf("ListImages: %s", a.Raw)
	}
	desc := call("DescribeImages", map[string]any{"repositoryName": "svc/api", "imageIds": []any{map[string]string{"imageDigest": d2}}})
	details := desc.Body["imageDetails"].([]any)
	if len(details) != 1 || !strings.Contains(string(desc.Raw), `"imageTags":["latest","two"]`) || details[0].(map[string]any)["imageSizeInBytes"].(float64) <= 0 {
		t.Errorf("DescribeImages: %s", desc.Raw)
	}
	if a := ecrCall(t, srv, alice, "DescribeImages", map[string]any{"repositoryName": "svc/api", "imageIds": []any{map[string]string{"imageTag": "nope"}}}); a.Type != "ImageNotFoundException" {
		t.Errorf("DescribeImages of a missing tag: %s", a.Raw)
	}
	got := call("BatchGetImage", map[string]any{"repositoryName": "svc/api", "imageIds": []any{map[string]string{"imageTag": "one"}, map[string]string{"imageTag": "two", "imageDigest": d1}}})
	images, failures := got.Body["images"].([]any), got.Body["failures"].([]any)
	if len(images) != 1 || images[0].(map[string]any)["imageId"].(map[string]any)["imageDigest"] != d1 || len(failures) != 1 || failures[0].(map[string]any)["failureCode"] != "ImageTagDoesNotMatchDigest" {
		t.Errorf("BatchGetImage: %s", got.Raw)
	}
	raw, _ := one.RawManifest()
	if images[0].(map[string]any)["imageManifest"] != string(raw) {
		t.Error("BatchGetImage's manifest is not the pushed bytes")
	}
	// Untagging "one" deletes its image (its last tag); "two" loses a tag only.
	call("BatchDeleteImage", map[string]any{"repositoryName": "svc/api", "imageIds": []any{map[string]string{"imageTag": "one"}, map[string]string{"imageTag": "two"}}})
	if a := call("ListImages", map[string]any{"repositoryName": "svc/api"}); strings.Contains(string(a.Raw), d1) || !strings.Contains(string(a.Raw), `"imageTag":"latest"`) || strings.Contains(string(a.Raw), `"two"`) {
		t.Errorf("ListImages after BatchDeleteImage: %s", a.Raw)
	}
	if a := ecrCall(t, srv, alice, "DeleteRepository", map[string]any{"repositoryName": "svc/api"}); a.Type != "RepositoryNotEmptyException" {
		t.Errorf("DeleteRepository of a non-empty repository: %s", a.Raw)
	}
	call("SetRepositoryPolicy", map[string]any{"repositoryName": "svc/web", "policyText": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"ecr:BatchGetImage"}]}`})
	call("PutImageTagMutability", map[string]any{"repositoryName": "svc/worker", "imageTagMutability": "IMMUTABLE"})
	call("DeleteRepository", map[string]any{"repositoryName": "svc/db"})

	srv.Kill()
	srv.Restart()
	if a := call("DescribeRepositories", map[string]any{"repositoryNames": []string{"svc/api", "svc/web", "svc/worker"}}); !strings.Contains(string(a.Raw), `"imageTagMutability":"IMMUTABLE"`) {
		t.Errorf("after kill -9: %s", a.Raw)
	}
	if a := call("GetRepositoryPolicy", map[string]any{"repositoryName": "svc/web"}); !strings.Contains(string(a.Raw), "222222222222") {
		t.Errorf("the policy after kill -9: %s", a.Raw)
	}
	if a := ecrCall(t, srv, alice, "DescribeRepositories", map[string]any{"repositoryNames": []string{"svc/db"}}); a.Type != "RepositoryNotFoundException" {
		t.Errorf("a deleted repository came back: %s", a.Raw)
	}
	if a := call("ListImages", map[string]any{"repositoryName": "svc/api"}); !strings.Contains(string(a.Raw), d2) {
		t.Errorf("images after kill -9: %s", a.Raw)
	}
	call("DeleteRepository", map[string]any{"repositoryName": "svc/api", "force": true})
	r, _ := name.ParseReference(srv.Addr+"/svc/api:latest", name.Insecure)
	if _, err := remote.Head(r, basic(password)); err == nil {
		t.Error("a force-deleted repository still serves its image")
	}
}

// loginPassword decodes an authorizationToken into the registry password.
func loginPassword(t *testing.T, token string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(token)
	user, password, ok := strings.Cut(string(b), ":")
	if err != nil || !ok || user != "AWS" {
		t.Fatalf("authorizationToken %q is not base64 of AWS:password", token)
	}
	return password
}

// terraformConfig is the Terraform configuration TestECRTerraform
// applies: a repository with settings and tags, and a policy granting bob
// pull.
const terraformConfig = `terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "AKIDALICE"
  secret_key                  = "alice-secret"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  endpoints { ecr = "ENDPOINT" }
}
resource "aws_ecr_repository" "app" {
  name                 = "tf/app"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration { scan_on_push = true }
  tags = { team = "core" }
}
resource "aws_ecr_repository_policy" "pull" {
  repository = aws_ecr_repository.app.name
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{ Sid = "bob", Effect = "Allow", Principal = { AWS = "arn:aws:iam::222222222222:root" }, Action = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"] }]
  })
}
output "url" { value = aws_ecr_repository.app.repository_url }
`

// TestECRTerraform applies, re-plans (no drift) and destroys an
// aws_ecr_repository and aws_ecr_repository_policy against kiln with
// Terraform's AWS provider from a local filesystem mirror
// (KILN_TF_PLUGINS, default /opt/tf-plugins); nothing is downloaded.
func TestECRTerraform(t *testing.T) {
	t.Parallel()
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not installed")
	}
	mirror := os.Getenv("KILN_TF_PLUGINS")
	if mirror == "" {
		mirror = "/opt/tf-plugins"
	}
	if _, err := os.Stat(filepath.Join(mirror, "registry.terraform.io", "hashicorp", "aws")); err != nil {
		t.Skipf("no hashicorp/aws provider in the filesystem mirror %s", mirror)
	}
	credFile, alice, bob := writeCredentials(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", credFile)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "terraformrc"), []byte("provider_installation {\n  filesystem_mirror {\n    path = \""+mirror+"\"\n  }\n}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(strings.Replace(terraformConfig, "ENDPOINT", srv.URL, 1)), 0o644)
	run := func(args ...string) (string, error) {
		cmd := exec.Command(tf, append(args, "-input=false", "-no-color")...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+filepath.Join(dir, "terraformrc"), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("init"); err != nil {
		t.Fatalf("terraform init: %v\n%s", err, out)
	}
	if out, err := run("apply", "-auto-approve"); err != nil {
		t.Fatalf("terraform apply: %v\n%s", err, out)
	}
	a := ecrCall(t, srv, alice, "DescribeRepositories", map[string]any{"repositoryNames": []string{"tf/app"}})
	if !strings.Contains(string(a.Raw), `"imageTagMutability":"IMMUTABLE"`) || !strings.Contains(string(a.Raw), `"scanOnPush":true`) {
		t.Errorf("the repository Terraform made: %s", a.Raw)
	}
	if a := ecrCall(t, srv, bob, "DescribeRepositories", map[string]any{"repositoryNames": []string{"tf/app"}}); a.Type != "AccessDeniedException" {
		t.Errorf("bob, granted pull only, describes tf/app: %s", a.Raw)
	}
	if out, err := run("plan", "-detailed-exitcode"); err != nil {
		t.Errorf("terraform plan after apply shows drift or fails: %v\n%s", err, out)
	}
	if out, err := run("destroy", "-auto-approve"); err != nil {
		t.Fatalf("terraform destroy: %v\n%s", err, out)
	}
	if a := ecrCall(t, srv, alice, "DescribeRepositories", map[string]any{"repositoryNames": []string{"tf/app"}}); a.Type != "RepositoryNotFoundException" {
		t.Errorf("after destroy: %s", a.Raw)
	}
}

// TestECRBoto3 runs test/smoke/boto3_ecr.py: Debian's boto3 against
// kiln's ECR API under --auth strict with alice and bob.
func TestECRBoto3(t *testing.T) {
	t.Parallel()
	requireBoto3(t)
	credFile, _, _ := writeCredentials(t)
	srv := kilntest.Start(t, "--auth", "strict", "--credentials", credFile)
	runSmoke(t, "/usr/bin/python3", filepath.Join(kilntest.RepoRoot(), "test/smoke/boto3_ecr.py"), srv.URL)
}
