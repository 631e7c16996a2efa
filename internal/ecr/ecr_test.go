package ecr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store/sqlite"
)

const (
	alice = "111111111111"
	bob   = "222222222222"
)

func TestTokens(t *testing.T) {
	now := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	tokens := NewTokens([]byte("data-dir secret"))
	tokens.Now = func() time.Time { return now }
	id := Identity{Account: alice, ARN: "arn:aws:iam::111111111111:user/alice"}
	good, exp := tokens.Issue(id)
	if want := now.Add(12 * time.Hour); !exp.Equal(want) {
		t.Errorf("expires %v, want %v", exp, want)
	}
	kiln, _ := tokens.Issue(Identity{Account: alice, Kiln: true})
	other := NewTokens([]byte("another data dir"))
	other.Now = tokens.Now
	foreign, _ := other.Issue(id)
	head, sig, _ := strings.Cut(good[3:], ".")
	tampered := "v1." + strings.Replace(head, head[:4], "MjIy", 1) + "." + sig // account prefix rewritten

	tests := []struct {
		name  string
		token string
		at    time.Time
		want  Identity
		err   error
	}{
		{"valid", good, now, id, nil},
		{"valid just before expiry", good, now.Add(12*time.Hour - time.Second), id, nil},
		{"expired", good, now.Add(12 * time.Hour), Identity{}, ErrTokenExpired},
		{"kiln", kiln, now, Identity{Account: alice, Kiln: true}, nil},
		{"another key", foreign, now, Identity{}, ErrTokenInvalid},
		{"tampered payload", tampered, now, Identity{}, ErrTokenInvalid},
		{"signature cut", good[:len(good)-2], now, Identity{}, ErrTokenInvalid},
		{"long-term secret", "wJalrXUtnFEMI/K7MDENG", now, Identity{}, ErrTokenInvalid},
		{"empty", "", now, Identity{}, ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			tokens.Now = func() time.Time { return at }
			got, err := tokens.Verify(tt.token)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Errorf("Verify = %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzTokenVerify(f *testing.F) {
	tokens := NewTokens([]byte("k"))
	// A fixed clock: fuzz workers re-run this set-up and must issue the
	// very same token.
	tokens.Now = func() time.Time { return time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC) }
	good, _ := tokens.Issue(Identity{Account: alice, ARN: "arn:aws:iam::111111111111:root"})
	f.Add(good)
	f.Add("v1..")
	f.Add("v1.MTExMTExMTExMTExfHwwfDk5OTk5OTk5OTk5.x")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := tokens.Verify(s)
		if err == nil && (s != good || !isAccountID(id.Account)) {
			t.Fatalf("accepted a token kiln did not issue: %q -> %+v", s, id)
		}
	})
}

func TestValidRepositoryName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"app", true}, {"team/app", true}, {"a.b-c_d/e", true}, {"a", false}, {"App", false},
		{"app/", false}, {"/app", false}, {"a//b", false}, {"a..b", false}, {strings.Repeat("a", 257), false},
	} {
		if got := ValidRepositoryName(tt.name); got != tt.ok {
			t.Errorf("ValidRepositoryName(%q) = %v", tt.name, got)
		}
	}
}

func FuzzParseRepositoryARN(f *testing.F) {
	f.Add("arn:aws:ecr:us-east-1:111111111111:repository/team/app")
	f.Add("arn:aws:ecr:us-east-1:111111111111:repository/")
	f.Add("arn:aws:imagebuilder:us-east-1:111111111111:component/x/1.0.0/1")
	f.Fuzz(func(t *testing.T, s string) {
		region, account, name, ok := parseRepositoryARN(s)
		if ok && repositoryARN(region, account, name) != s {
			t.Fatalf("%q parsed as %q %q %q, which do not make it again", s, region, account, name)
		}
	})
}

// fixture is the ECR API over a real registry and sqlite store, under
// strict SigV4 with alice and bob.
type fixture struct {
	api   *API
	reg   *registry.Registry
	guard *Guard
	srv   *httptest.Server
	creds map[string]aws.Credentials
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "kiln.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg, err := registry.New(filepath.Join(dir, "registry"))
	if err != nil {
		t.Fatal(err)
	}
	principals := map[string]sigv4.Principal{
		"AKIDALICE": {AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret", Account: alice, Name: "alice"},
		"AKIDBOB":   {AccessKeyID: "AKIDBOB", SecretAccessKey: "bob-secret", Account: bob, Name: "bob"},
	}
	g := &Guard{
		Repos: &Repos{Store: st, Region: "us-east-1"}, Tokens: NewTokens([]byte("secret")), Enforce: true, DefaultAccount: "000000000000",
		Exists: func(name string) bool { _, err := reg.Tags(name); return err == nil },
	}
	reg.Guard, reg.TagRules = g, g
	f := &fixture{reg: reg, guard: g, creds: map[string]aws.Credentials{
		alice: {AccessKeyID: "AKIDALICE", SecretAccessKey: "alice-secret"},
		bob:   {AccessKeyID: "AKIDBOB", SecretAccessKey: "bob-secret"},
	}}
	f.api = &API{
		Guard: g, Registry: reg, Principals: principals, Host: "127.0.0.1:8080", ProxyEndpoint: "http://127.0.0.1:8080",
		Verifier: &sigv4.Verifier{Mode: sigv4.ModeStrict, Service: SigningName, Region: "us-east-1", Principals: principals},
	}
	f.srv = httptest.NewServer(f.api)
	t.Cleanup(f.srv.Close)
	return f
}

type answer struct {
	status int
	typ    string
	body   map[string]any
	raw    string
}

func (f *fixture) call(t *testing.T, account, op string, body string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/", strings.NewReader(body))
	req.Header.Set("X-Amz-Target", TargetPrefix+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), f.creds[account], req, hex.EncodeToString(sum[:]), "ecr", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	json.Unmarshal(raw, &a.body)
	a.typ, _ = a.body["__type"].(string)
	if a.typ != "" && resp.Header.Get("X-Amzn-ErrorType") != a.typ {
		t.Errorf("X-Amzn-ErrorType %q, body __type %q", resp.Header.Get("X-Amzn-ErrorType"), a.typ)
	}
	return a
}

func (f *fixture) repoNames(t *testing.T, account, body string) []string {
	t.Helper()
	a := f.call(t, account, "DescribeRepositories", body)
	if a.status != 200 {
		t.Fatalf("DescribeRepositories: %d %s", a.status, a.raw)
	}
	var names []string
	for _, r := range a.body["repositories"].([]any) {
		names = append(names, r.(map[string]any)["repositoryName"].(string))
	}
	return names
}

// TestAPIErrors: bad input gets the code ECR clients expect, with a
// message naming the member, and changes nothing.
func TestAPIErrors(t *testing.T) {
	f := newFixture(t)
	if a := f.call(t, alice, "CreateRepository", `{"repositoryName":"taken"}`); a.status != 200 {
		t.Fatalf("CreateRepository: %d %s", a.status, a.raw)
	}
	for _, tt := range []struct {
		name, account, op, body, typ, mention string
	}{
		{"bad name", alice, "CreateRepository", `{"repositoryName":"Bad Name"}`, "InvalidParameterException", "repositoryName"},
		{"no name", alice, "CreateRepository", `{}`, "InvalidParameterException", "repositoryName"},
		{"wrong type", alice, "CreateRepository", `{"repositoryName":7}`, "SerializationException", "repositoryName"},
		{"not JSON", alice, "CreateRepository", `{`, "SerializationException", "JSON"},
		{"mutability", alice, "CreateRepository", `{"repositoryName":"m1","imageTagMutability":"SOMETIMES"}`, "InvalidParameterException", "imageTagMutability"},
		{"internal", alice, "CreateRepository", `{"repositoryName":"kiln/x"}`, "InvalidParameterException", "repositoryName"},
		{"aws tag", alice, "CreateRepository", `{"repositoryName":"t1","tags":[{"Key":"aws:x","Value":"y"}]}`, "InvalidTagParameterException", "Key"},
		{"taken", bob, "CreateRepository", `{"repositoryName":"taken"}`, "RepositoryAlreadyExistsException", "taken"},
		{"registry id", alice, "CreateRepository", `{"repositoryName":"r1","registryId":"12"}`, "InvalidParameterException", "registryId"},
		{"max results", alice, "DescribeRepositories", `{"maxResults":0}`, "InvalidParameterException", "maxResults"},
		{"forged page", alice, "DescribeRepositories", `{"nextToken":"MQ.forged"}`, "InvalidParameterException", "nextToken"},
		{"policy condition", alice, "SetRepositoryPolicy", `{"repositoryName":"taken","policyText":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\",\"Condition\":{\"IpAddress\":{\"aws:SourceIp\":\"10.0.0.0/8\"}}}]}"}`, "InvalidParameterException", "Condition"},
		{"policy other service", alice, "SetRepositoryPolicy", `{"repositoryName":"taken","policyText":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"s3:GetObject\"}]}"}`, "InvalidParameterException", "Action"},
		{"bob's policy", bob, "SetRepositoryPolicy", `{"repositoryName":"taken","policyText":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"ecr:*\"}]}"}`, "RepositoryNotFoundException", "taken"},
		{"bob tags", bob, "TagResource", `{"resourceArn":"arn:aws:ecr:us-east-1:111111111111:repository/taken","tags":[{"Key":"k","Value":"v"}]}`, "RepositoryNotFoundException", "taken"},
		{"bad arn", alice, "ListTagsForResource", `{"resourceArn":"arn:aws:s3:::bucket"}`, "InvalidParameterException", "resourceArn"},
		{"no image ids", alice, "BatchGetImage", `{"repositoryName":"taken","imageIds":[]}`, "InvalidParameterException", "imageIds"},
		{"unknown op", alice, "PutLifecyclePolicy", `{}`, "UnknownOperationException", "PutLifecyclePolicy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := f.call(t, tt.account, tt.op, tt.body)
			if a.typ != tt.typ || a.status != 400 {
				t.Fatalf("%d %s, want 400 %s", a.status, a.raw, tt.typ)
			}
			if msg, _ := a.body["message"].(string); !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not name %q", msg, tt.mention)
			}
		})
	}
	if got := f.repoNames(t, alice, `{}`); len(got) != 1 || got[0] != "taken" {
		t.Errorf("after the refused requests alice has %v", got)
	}
	if got := f.repoNames(t, bob, `{}`); len(got) != 0 {
		t.Errorf("after the refused requests bob has %v", got)
	}
	if a := f.call(t, alice, "GetRepositoryPolicy", `{"repositoryName":"taken"}`); a.typ != "RepositoryPolicyNotFoundException" {
		t.Errorf("a refused policy was stored: %s", a.raw)
	}
}

// TestAPIPagination walks DescribeRepositories two at a time; tokens are
// bound to the caller.
func TestAPIPagination(t *testing.T) {
	f := newFixture(t)
	want := []string{"r1", "r2", "r3", "r4", "r5"}
	for _, n := range want {
		f.call(t, alice, "CreateRepository", `{"repositoryName":"`+n+`"}`)
	}
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		body := `{"maxResults":2}`
		if token != "" {
			body = `{"maxResults":2,"nextToken":"` + token + `"}`
		}
		a := f.call(t, alice, "DescribeRepositories", body)
		for _, r := range a.body["repositories"].([]any) {
			got = append(got, r.(map[string]any)["repositoryName"].(string))
		}
		next, _ := a.body["nextToken"].(string)
		if next == "" {
			break
		}
		if pages == 0 {
			if b := f.call(t, bob, "DescribeRepositories", `{"nextToken":"`+next+`"}`); b.typ != "InvalidParameterException" {
				t.Errorf("bob replayed alice's token: %s", b.raw)
			}
		}
		token = next
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("pages gave %v, want %v", got, want)
	}
}

func TestGuard(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	g := f.guard
	a := registry.Caller{Account: alice, ARN: "arn:aws:iam::111111111111:user/alice"}
	b := registry.Caller{Account: bob, ARN: "arn:aws:iam::222222222222:user/bob"}
	push := registry.Access{Repository: "app", Action: registry.ActionPush}
	pull := registry.Access{Repository: "app", Action: registry.ActionPull, Reference: "latest"}
	if err := g.Authorize(ctx, a, push); err != nil {
		t.Fatalf("alice's first push: %v", err)
	}
	if r, err := g.Repos.Get(ctx, "app"); err != nil || r.Account != alice {
		t.Fatalf("create-on-push made %+v, %v", r, err)
	}
	setPolicy := func(doc string) {
		t.Helper()
		if _, err := g.Repos.Update(ctx, "app", func(r *Repository) error { r.Policy = doc; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name   string
		policy string
		c      registry.Caller
		a      registry.Access
		ok     bool
	}{
		{"owner pushes", "", a, push, true},
		{"bob pushes", "", b, push, false},
		{"bob pulls", "", b, pull, false},
		{"bob lists", "", b, registry.Access{Repository: "app", Action: registry.ActionList}, false},
		{"bob deletes", "", b, registry.Access{Repository: "app", Action: registry.ActionDelete, Reference: "latest"}, false},
		{"bob pulls with a grant", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, b, pull, true},
		{"bob pulls a blob with a grant", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, b, registry.Access{Repository: "app", Action: registry.ActionPull, Reference: "sha256:00", Blob: true}, true},
		{"bob pushes with a pull grant", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}`, b, push, false},
		{"pusher checks a layer", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:BatchCheckLayerAvailability"]}]}`, b, registry.Access{Repository: "app", Action: registry.ActionPull, Reference: "sha256:00", Blob: true, Head: true}, true},
		{"pusher pulls a layer", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:BatchCheckLayerAvailability"]}]}`, b, registry.Access{Repository: "app", Action: registry.ActionPull, Reference: "sha256:00", Blob: true}, false},
		{"pusher pushes", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":["ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload","ecr:BatchCheckLayerAvailability"]}]}`, b, push, true},
		{"user grant, other user", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:user/carol"},"Action":"ecr:*"}]}`, b, pull, false},
		{"user grant", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:user/bob"},"Action":"ecr:*"}]}`, b, pull, true},
		{"deny wins", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:*"},{"Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"ecr:*"}]}`, b, pull, false},
		{"deny binds the owner", `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"ecr:PutImage"}]}`, a, registry.Access{Repository: "app", Action: registry.ActionPush, Reference: "latest"}, false},
		{"kiln", "", registry.Caller{Account: bob, Kiln: true}, push, true},
		{"internal, bob", "", b, registry.Access{Repository: "kiln/machine-images", Action: registry.ActionPull, Reference: "x"}, false},
		{"unknown repository", "", b, registry.Access{Repository: "nothing", Action: registry.ActionPull, Reference: "x"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setPolicy(tt.policy)
			err := g.Authorize(ctx, tt.c, tt.a)
			if (err == nil) != tt.ok {
				t.Errorf("Authorize = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	setPolicy("")
	if g.Visible(ctx, b, "app") || !g.Visible(ctx, a, "app") || g.Visible(ctx, a, "kiln/machine-images") {
		t.Error("Visible shows the wrong repositories")
	}
	if _, err := g.Repos.Get(ctx, "nothing"); err == nil {
		t.Error("a refused pull created a repository")
	}
	// Builds check first without creating anything.
	if err := g.AuthorizeBuild(ctx, bob, "bobs", registry.ActionPush, true); err != nil {
		t.Errorf("dry run push to a free name: %v", err)
	}
	if _, err := g.Repos.Get(ctx, "bobs"); err == nil {
		t.Error("a dry run created a repository")
	}
	if err := g.AuthorizeBuild(ctx, bob, "app", registry.ActionPush, true); err == nil {
		t.Error("bob's build may push to alice's app")
	}

	// Off (loopback and open modes) everything goes, and ownership is
	// still recorded.
	g.Enforce = false
	if err := g.Authorize(ctx, b, pull); err != nil {
		t.Errorf("loopback pull: %v", err)
	}
	if err := g.Authorize(ctx, b, registry.Access{Repository: "loose", Action: registry.ActionPush}); err != nil {
		t.Errorf("loopback push: %v", err)
	}
	if r, err := g.Repos.Get(ctx, "loose"); err != nil || r.Account != bob {
		t.Errorf("loopback create-on-push: %+v %v", r, err)
	}
}

// FuzzAPIInput throws arbitrary bodies at every operation: answers are
// JSON, errors are 4xx with a __type, and nothing panics.
func FuzzAPIInput(f *testing.F) {
	for _, s := range []string{`{}`, `{"repositoryName":"app"}`, `{"repositoryNames":["a","b"]}`, `{"imageIds":[{"imageTag":"x"}],"repositoryName":"ab"}`, `{"resourceArn":"arn:aws:ecr:us-east-1:111111111111:repository/ab","tags":[{"Key":"k"}]}`, `[]`, `null`} {
		f.Add("CreateRepository", s)
		f.Add("BatchGetImage", s)
		f.Add("TagResource", s)
	}
	fx := newFixture(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, op, body string) {
		h := fx.api.operations()[op]
		if h == nil {
			return
		}
		c := caller{Identity: Identity{Account: alice, ARN: rootARN(alice)}}
		out, err := h(ctx, c, []byte(body))
		if err != nil {
			var e *apiError
			if errors.As(err, &e) && e.Status >= 500 {
				t.Fatalf("%s %q: server error %v", op, body, err)
			}
			return
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("%s %q: answer does not marshal: %v", op, body, err)
		}
	})
}

// TestAdopt: content pushed before kiln kept records (the Go methods
// consult no guard) belongs to the default account after start-up, and
// another account cannot claim it by pushing.
func TestAdopt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, repo := range []string{"old/app", "kiln/machine-images"} {
		if _, _, err := f.reg.AddBlob(ctx, repo, strings.NewReader("layer")); err != nil {
			t.Fatal(err)
		}
	}
	names, err := f.reg.Repositories()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.guard.Adopt(ctx, names); err != nil {
		t.Fatal(err)
	}
	if r, err := f.guard.Repos.Get(ctx, "old/app"); err != nil || r.Account != "000000000000" {
		t.Errorf("old/app: %+v %v", r, err)
	}
	if _, err := f.guard.Repos.Get(ctx, "kiln/machine-images"); err == nil {
		t.Error("kiln's internal repository got an owner")
	}
	b := registry.Caller{Account: bob, ARN: rootARN(bob)}
	if err := f.guard.Authorize(ctx, b, registry.Access{Repository: "old/app", Action: registry.ActionPush}); err == nil {
		t.Error("bob claimed an adopted repository")
	}
}

// TestAuthenticate: under Enforce only a current token is a password.
func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	g := f.guard
	g.Current = func(id Identity) bool { return id.Account == alice }
	aliceTok, _ := g.Tokens.Issue(Identity{Account: alice, ARN: "arn:aws:iam::111111111111:user/alice"})
	goneTok, _ := g.Tokens.Issue(Identity{Account: bob, ARN: "arn:aws:iam::222222222222:user/bob"})
	for _, tt := range []struct {
		name, user, password string
		ok                   bool
	}{
		{"token", "AWS", aliceTok, true},
		{"principal removed", "AWS", goneTok, false},
		{"secret key", "AKIDALICE", "alice-secret", false},
		{"none", "", "", false},
	} {
		req := httptest.NewRequest(http.MethodGet, "/v2/", nil)
		if tt.user != "" {
			req.SetBasicAuth(tt.user, tt.password)
		}
		c, err := g.Authenticate(req)
		if (err == nil) != tt.ok || (tt.ok && c.Account != alice) {
			t.Errorf("%s: %+v %v", tt.name, c, err)
		}
	}
	g.Enforce = false
	if c, err := g.Authenticate(httptest.NewRequest(http.MethodGet, "/v2/", nil)); err != nil || c.Account != "000000000000" {
		t.Errorf("loopback anonymous: %+v %v", c, err)
	}
}
