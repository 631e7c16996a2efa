// Package pg tests `kiln serve --store postgres://…` through the real kiln
// binary against a real PostgreSQL 15 started by the tests themselves
// (internal/pgtest): the API through aws-sdk-go-v2 and the AWS CLI, a
// container build, kill -9 keeping every acknowledged create, a refused
// --store, and `kiln migrate` moving a SQLite data directory's state into
// PostgreSQL.
package pg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	kilntest.Cleanup()
	os.Exit(code)
}

const (
	amazonLinux2023 = "arn:aws:imagebuilder:us-east-1:aws:image/amazon-linux-2023-x86/x.x.x"
	markerComponent = "name: marker\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Mark\n        action: ExecuteBash\n        inputs:\n          commands:\n            - echo component > /etc/marker\n"
)

// awsCLI runs Debian's aws CLI against srv.
func awsCLI(t *testing.T, srv *kilntest.Server, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the aws CLI is not installed (apt-get install awscli)")
		}
		t.Skip("the aws CLI is not installed (apt-get install awscli)")
	}
	cmd := exec.Command("aws", append([]string{"--endpoint-url", srv.URL, "--region", "us-east-1", "--output", "json", "imagebuilder"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+kilntest.DefaultCreds.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+kilntest.DefaultCreds.SecretAccessKey, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aws imagebuilder %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func createComponent(ctx context.Context, c *imagebuilder.Client, name, version string, tags map[string]string) (string, error) {
	out, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String(name), SemanticVersion: aws.String(version), Platform: types.PlatformLinux,
		Data: aws.String(markerComponent), Tags: tags,
	})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ComponentBuildVersionArn), nil
}

// listComponentNames pages through ListComponents (owner Self) with
// small pages, so keyset pagination is walked too.
func listComponentNames(t *testing.T, ctx context.Context, c *imagebuilder.Client) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	var next *string
	for {
		out, err := c.ListComponents(ctx, &imagebuilder.ListComponentsInput{MaxResults: aws.Int32(7), NextToken: next})
		if err != nil {
			t.Fatalf("ListComponents: %v", err)
		}
		for _, v := range out.ComponentVersionList {
			names[aws.ToString(v.Name)] = true
		}
		if out.NextToken == nil {
			return names
		}
		next = out.NextToken
	}
}

// TestServeOnPostgres drives kiln on PostgreSQL like a user: components
// and a recipe through the SDK and the AWS CLI, lists, gets, and state
// that outlives a restart.
func TestServeOnPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	srv := kilntest.Start(t, "--store", url)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)

	compARN, err := createComponent(ctx, c, "hello", "1.0.0", map[string]string{"team": "kiln"})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := c.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("pg-recipe"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(amazonLinux2023),
		Components: []types.ComponentConfiguration{{ComponentArn: aws.String(compARN)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cli := awsCLI(t, srv, "create-component", "--name", "from-cli", "--semantic-version", "2.1.0",
		"--platform", "Linux", "--data", markerComponent, "--client-token", "cli-token-1")
	if !strings.Contains(cli, "component/from-cli/2.1.0/1") {
		t.Fatalf("aws imagebuilder create-component: %s", cli)
	}
	// The same client token again answers the same, from the token table.
	if again := awsCLI(t, srv, "create-component", "--name", "from-cli", "--semantic-version", "2.1.0",
		"--platform", "Linux", "--data", markerComponent, "--client-token", "cli-token-1"); !strings.Contains(again, "component/from-cli/2.1.0/1") {
		t.Errorf("repeated create-component: %s", again)
	}
	for i := range 12 {
		if _, err := createComponent(ctx, c, fmt.Sprintf("bulk-%02d", i), "1.0.0", nil); err != nil {
			t.Fatal(err)
		}
	}

	check := func(when string) {
		t.Helper()
		got, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(compARN)})
		if err != nil {
			t.Fatalf("%s: GetComponent: %v", when, err)
		}
		if aws.ToString(got.Component.Name) != "hello" || got.Component.Tags["team"] != "kiln" {
			t.Errorf("%s: GetComponent = %+v", when, got.Component)
		}
		names := listComponentNames(t, ctx, c)
		for _, want := range []string{"hello", "from-cli", "bulk-00", "bulk-11"} {
			if !names[want] {
				t.Errorf("%s: ListComponents lacks %s (got %d names)", when, want, len(names))
			}
		}
		if len(names) != 14 {
			t.Errorf("%s: ListComponents: %d names, want 14", when, len(names))
		}
		if _, err := c.GetImageRecipe(ctx, &imagebuilder.GetImageRecipeInput{ImageRecipeArn: recipe.ImageRecipeArn}); err != nil {
			t.Errorf("%s: GetImageRecipe: %v", when, err)
		}
		if out := awsCLI(t, srv, "list-image-recipes"); !strings.Contains(out, "image-recipe/pg-recipe/1.0.0") {
			t.Errorf("%s: aws imagebuilder list-image-recipes: %s", when, out)
		}
	}
	check("first start")
	srv.Restart()
	c = srv.Client(kilntest.DefaultCreds)
	check("after a restart")
}

// TestKillKeepsAcknowledgedCreates creates components from several
// clients at once, kills kiln with SIGKILL in the middle, restarts it on
// the same database, and finds every create that was answered.
func TestKillKeepsAcknowledgedCreates(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	srv := kilntest.Start(t, "--store", url)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)

	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("w%d-%04d", w, i)
				if _, err := createComponent(ctx, c, name, "1.0.0", nil); err != nil {
					return // the server died under us
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
			}
		})
	}
	// Kill once a good number of creates were acknowledged.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 100 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Kill()
	close(stop)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatalf("no create was acknowledged:\n%s", srv.Log())
	}

	srv.Restart()
	c = srv.Client(kilntest.DefaultCreds)
	names := listComponentNames(t, ctx, c)
	missing := 0
	for _, n := range acked {
		if !names[n] {
			missing++
			t.Errorf("acknowledged component %s lost by kill -9", n)
		}
	}
	t.Logf("%d acknowledged creates before SIGKILL, %d stored after restart, %d lost", len(acked), len(names), missing)
}

// TestRefusedStoreURL checks a bad --store stops kiln at start with one
// line naming the flag, and never prints the password.
func TestRefusedStoreURL(t *testing.T) {
	t.Parallel()
	bin := kilntest.Binary(t)
	for _, tt := range []struct{ url, want string }{
		{"mysql://kiln:s3cret@127.0.0.1/kiln", `--store: unsupported scheme "mysql"`},
		{"postgres://kiln:s3cret@127.0.0.1:notaport/kiln", "--store: not a URL"},
		// A well-formed URL nobody answers at: refused with the password
		// redacted (port 1 on loopback is closed).
		{"postgres://kiln:s3cret@127.0.0.1:1/kiln?connect_timeout=5", "--store postgres://kiln:xxxxx@127.0.0.1:1/kiln"},
	} {
		dataDir := t.TempDir()
		if err := os.Chmod(dataDir, 0o700); err != nil { // else kiln warns that it tightened it
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--store", tt.url)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("kiln serve --store %s started", tt.url)
			continue
		}
		msg := strings.TrimSpace(string(out))
		if !strings.Contains(msg, tt.want) {
			t.Errorf("kiln serve --store %s: %q, want %q", tt.url, msg, tt.want)
		}
		if strings.Contains(msg, "s3cret") {
			t.Errorf("kiln serve --store %s printed the password: %q", tt.url, msg)
		}
		if lines := strings.Count(msg, "\n") + 1; lines != 1 {
			t.Errorf("kiln serve --store %s: %d lines, want 1: %q", tt.url, lines, msg)
		}
	}
}

// TestMigrate builds state through the API on SQLite, stops kiln, copies
// the data directory into PostgreSQL with `kiln migrate`, and reads it all
// back from `kiln serve --store`.
func TestMigrate(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx := kilntest.Context(t)
	compARN, err := createComponent(ctx, c, "moved", "1.2.3", map[string]string{"owner": "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		if _, err := createComponent(ctx, c, fmt.Sprintf("more-%d", i), "1.0.0", nil); err != nil {
			t.Fatal(err)
		}
	}
	recipe, err := c.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("moved-recipe"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(amazonLinux2023),
		Components: []types.ComponentConfiguration{{ComponentArn: aws.String(compARN)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()

	bin := kilntest.Binary(t)
	migrate := func(extra ...string) (string, error) {
		out, err := exec.Command(bin, append([]string{"migrate", "--data-dir", srv.DataDir, "--store", url}, extra...)...).CombinedOutput()
		return string(out), err
	}
	out, err := migrate()
	if err != nil || !strings.Contains(out, "copied ") {
		t.Fatalf("kiln migrate: %v\n%s", err, out)
	}
	t.Logf("kiln migrate: %s", strings.TrimSpace(out))
	if out, err := migrate(); err == nil || !strings.Contains(out, "already holds kiln state") {
		t.Errorf("kiln migrate into a used database: %v\n%s", err, out)
	}
	if out, err := migrate("--force"); err != nil {
		t.Errorf("kiln migrate --force (a re-run): %v\n%s", err, out)
	}

	pg := kilntest.StartIn(t, srv.DataDir, "--store", url)
	c = pg.Client(kilntest.DefaultCreds)
	got, err := c.GetComponent(ctx, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(compARN)})
	if err != nil {
		t.Fatalf("GetComponent after migrate: %v", err)
	}
	if aws.ToString(got.Component.Version) != "1.2.3" || got.Component.Tags["owner"] != "team-a" {
		t.Errorf("GetComponent after migrate = %+v", got.Component)
	}
	names := listComponentNames(t, ctx, c)
	if len(names) != 10 || !names["moved"] || !names["more-8"] {
		t.Errorf("ListComponents after migrate: %v", names)
	}
	if _, err := c.GetImageRecipe(ctx, &imagebuilder.GetImageRecipeInput{ImageRecipeArn: recipe.ImageRecipeArn}); err != nil {
		t.Errorf("GetImageRecipe after migrate: %v", err)
	}
	// The migrated state is live: a new version of a migrated component.
	if _, err := createComponent(ctx, c, "moved", "1.2.4", nil); err != nil {
		t.Errorf("CreateComponent after migrate: %v", err)
	}
}
