// Package nodes tests several `kiln serve` processes on one host as one
// factory: one PostgreSQL store (internal/pgtest), one bucket (the Versity
// gateway, internal/s3gw), a node id each. Any node answers any API call
// and registry request; a build asked for through one node is claimed by
// whichever node is free and pulled from a third; a node killed in the
// middle of a build loses it to another node within the lease; a
// per-minute pipeline fires once per minute however many nodes run its
// scheduler.
package nodes

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/pgtest"
	"github.com/kiln-build/kiln/internal/s3gw"
	"github.com/kiln-build/kiln/internal/service"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	kilntest.Cleanup()
	os.Exit(code)
}

// factory is n nodes on one fresh database and one bucket prefix.
type factory struct {
	nodes []*kilntest.Server
	gw    *s3gw.Server
	// registryHost, when set, names the registry in parent references
	// (a balancer in front of the nodes).
	registryHost string
}

// startFactory starts n nodes named node-0 … node-(n-1), with env added to
// each one's environment and args to its command line. Each node may
// fetch from loopback: a parent image pushed through one node is named by
// that node's address, and the node that builds may be another (an
// operator allows the nodes' network, or names every node's registry
// with one --registry-host).
func startFactory(t *testing.T, n int, env []string, args ...string) *factory {
	t.Helper()
	gw := s3gw.Start(t)
	db := pgtest.URL(t)
	f := &factory{gw: gw}
	for i := range n {
		a := append([]string{"--store", db, "--blob-store", "s3://" + gw.Bucket + "/kiln", "--s3-endpoint", gw.Endpoint,
			"--node-id", fmt.Sprintf("node-%d", i), "--allow-fetch-cidr", "127.0.0.1/32"}, args...)
		f.nodes = append(f.nodes, kilntest.StartEnv(t, append(gw.Env(), env...), a...))
	}
	return f
}

// balancer is a TCP load balancer in front of the nodes, as a deployment
// has: each connection goes to the next node that accepts one, so a dead
// node is skipped. Nodes given its address as --registry-host name it in
// their image URIs, and a build pulls its parent through it from
// whichever node is alive.
type balancer struct {
	ln    net.Listener
	mu    sync.Mutex
	addrs []string
	next  int
}

func startBalancer(t *testing.T) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *balancer) Addr() string { return b.ln.Addr().String() }

func (b *balancer) add(addr string) {
	b.mu.Lock()
	b.addrs = append(b.addrs, addr)
	b.mu.Unlock()
}

func (b *balancer) serve(c net.Conn) {
	defer c.Close()
	b.mu.Lock()
	addrs := append([]string(nil), b.addrs...)
	start := b.next
	b.next++
	b.mu.Unlock()
	for i := range addrs {
		up, err := net.Dial("tcp", addrs[(start+i)%len(addrs)])
		if err != nil {
			continue
		}
		defer up.Close()
		go io.Copy(up, c)
		io.Copy(c, up)
		return
	}
}

func (f *factory) client(i int) *imagebuilder.Client { return f.nodes[i].Client(kilntest.DefaultCreds) }

// TestCrossNodeReads: what one node writes, the next request to another
// node reads, and a nextToken one node issued pages on another (the
// token key is shared through the store).
func TestCrossNodeReads(t *testing.T) {
	t.Parallel()
	f := startFactory(t, 3, nil)
	ctx := kilntest.Context(t)
	for i := range 5 {
		_, err := f.client(i%3).CreateComponent(ctx, &imagebuilder.CreateComponentInput{
			Name: aws.String(fmt.Sprintf("comp-%d", i)), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
			Data: aws.String("name: c\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: S\n        action: ExecuteBash\n        inputs:\n          commands: [\"true\"]\n"),
		})
		if err != nil {
			t.Fatal(err)
		}
		// Read-your-writes on the next node, at once.
		got, err := f.client((i+1)%3).ListComponents(ctx, &imagebuilder.ListComponentsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.ComponentVersionList) != i+1 {
			t.Fatalf("node-%d lists %d components after the %dth create", (i+1)%3, len(got.ComponentVersionList), i+1)
		}
	}
	// Page through with each page asked of the next node.
	var names []string
	var token *string
	for page := 0; ; page++ {
		out, err := f.client(page%3).ListComponents(ctx, &imagebuilder.ListComponentsInput{MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatalf("page %d on node-%d: %v", page, page%3, err)
		}
		for _, c := range out.ComponentVersionList {
			names = append(names, aws.ToString(c.Name))
		}
		if token = out.NextToken; token == nil {
			break
		}
	}
	if strings.Join(names, ",") != "comp-0,comp-1,comp-2,comp-3,comp-4" {
		t.Errorf("paged across nodes: %v", names)
	}
	// Every node reports the store and the bucket, and its own node id.
	for i, n := range f.nodes {
		body := get(t, n.URL+"/healthz")
		if body != "store: ok\nbucket: ok\n" {
			t.Errorf("node-%d /healthz = %q", i, body)
		}
		if m := get(t, n.URL+"/metrics"); !strings.Contains(m, fmt.Sprintf(`kiln_build_queue_depth{node="node-%d"}`, i)) {
			t.Errorf("node-%d /metrics lacks its queue depth:\n%s", i, m)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPushToOneNodePullFromAnother: skopeo pushes through node-0 and
// pulls through node-2.
func TestPushToOneNodePullFromAnother(t *testing.T) {
	t.Parallel()
	f := startFactory(t, 3, nil)
	ref := f.nodes[0].PushBusyboxBase(t, "team/busybox")
	other := strings.Replace(ref, f.nodes[0].Addr, f.nodes[2].Addr, 1)
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+other, "dir:"+dir)
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatalf("pull from node-2: %v", err)
	}
}

// buildFixture is a container recipe whose one component runs script,
// on busybox pushed into the factory.
func buildFixture(t *testing.T, f *factory, name, script string) (recipe, infra string) {
	t.Helper()
	ctx := kilntest.Context(t)
	base := f.nodes[0].PushBusyboxBase(t, "base/"+name)
	if f.registryHost != "" {
		base = strings.Replace(base, f.nodes[0].Addr, f.registryHost, 1)
	}
	c := f.client(0)
	in, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String(name), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	doc := "name: " + name + "\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: Run\n        action: ExecuteBash\n        inputs:\n          commands:\n"
	for _, line := range strings.Split(script, "\n") {
		doc += "            - " + line + "\n"
	}
	comp, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(doc),
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String(name), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage:            aws.String(base),
		DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		Components:             []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("team/" + name)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return *r.ContainerRecipeArn, *in.InfrastructureConfigurationArn
}

func createImage(t *testing.T, c *imagebuilder.Client, recipe, infra string) string {
	t.Helper()
	out, err := c.CreateImage(kilntest.Context(t), &imagebuilder.CreateImageInput{
		ContainerRecipeArn: aws.String(recipe), InfrastructureConfigurationArn: aws.String(infra),
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ImageBuildVersionArn
}

// waitImage polls c until image is in a final state, or fails the test
// after limit.
func waitImage(t *testing.T, f *factory, c *imagebuilder.Client, image string, limit time.Duration) *types.Image {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		got, err := c.GetImage(kilntest.Context(t), &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err == nil && got.Image.State != nil {
			switch got.Image.State.Status {
			case types.ImageStatusAvailable, types.ImageStatusFailed, types.ImageStatusCancelled:
				return got.Image
			}
		}
		if time.Now().After(deadline) {
			for i, n := range f.nodes {
				t.Logf("node-%d log:\n%s", i, n.Log())
			}
			t.Fatalf("image %s not finished after %s", image, limit)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// claimer returns the index of the node whose log says it claimed image
// (attempt n), or -1.
func claimer(f *factory, image string, attempt int) int {
	for i, n := range f.nodes {
		for _, line := range strings.Split(n.Log(), "\n") {
			if strings.Contains(line, `msg="build claimed"`) && strings.Contains(line, " image="+image+" ") &&
				strings.Contains(line, fmt.Sprintf(" attempt=%d ", attempt)) {
				return i
			}
		}
	}
	return -1
}

// TestBuildViaOneNodePulledFromAnother: a build asked of node-0 runs on
// whichever node claims it, and its image is pulled through a node that
// did not build it.
func TestBuildViaOneNodePulledFromAnother(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	f := startFactory(t, 3, nil)
	recipe, infra := buildFixture(t, f, "built", "echo built > /etc/marker")
	image := createImage(t, f.client(0), recipe, infra)
	img := waitImage(t, f, f.client(1), image, 4*time.Minute)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image %s: %s", img.State.Status, aws.ToString(img.State.Reason))
	}
	builder := claimer(f, image, 1)
	if builder < 0 {
		t.Fatal("no node logged the claim")
	}
	t.Logf("node-%d built %s", builder, image)
	uri := img.OutputResources.Containers[0].ImageUris[0]
	third := (builder + 2) % 3
	host, _, _ := strings.Cut(uri, "/")
	pull := strings.Replace(uri, host, f.nodes[third].Addr, 1)
	dir := filepath.Join(t.TempDir(), "pulled")
	kilntest.Skopeo(t, "copy", "--src-tls-verify=false", "docker://"+pull, "dir:"+dir)
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatalf("pull through node-%d: %v", third, err)
	}
}

// TestKilledNodesBuildTakenOver: the node running a build is killed with
// SIGKILL; the build ends AVAILABLE, re-run from a clean start by another
// node, within 30 s of the kill. The component waits at a gate on this
// test's loopback listener, so the first run is still going when the
// node dies and the re-run finishes at once.
func TestKilledNodesBuildTakenOver(t *testing.T) {
	t.Parallel()
	kilntest.RequireRoot(t)
	var open atomic.Bool
	var asked atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if !open.Load() {
			http.Error(w, "wait", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "go")
	})}
	go gate.Serve(ln)
	t.Cleanup(func() { gate.Close() })

	lb := startBalancer(t)
	f := startFactory(t, 3, nil, "--build-network", "host", "--registry-host", lb.Addr())
	for _, n := range f.nodes {
		lb.add(n.Addr)
	}
	f.registryHost = lb.Addr()
	recipe, infra := buildFixture(t, f, "gated",
		fmt.Sprintf("until wget -q -O /dev/null http://%s/; do sleep 0.5; done", ln.Addr()))
	image := createImage(t, f.client(0), recipe, infra)

	// Wait until the component is at the gate, on some node.
	deadline := time.Now().Add(4 * time.Minute)
	for asked.Load() == 0 {
		got, err := f.client(0).GetImage(kilntest.Context(t), &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(image)})
		if err == nil && got.Image.State != nil && (got.Image.State.Status == types.ImageStatusFailed || got.Image.State.Status == types.ImageStatusAvailable) {
			t.Fatalf("the build ended %s before the gate: %s", got.Image.State.Status, aws.ToString(got.Image.State.Reason))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the build never reached the gate")
		}
		time.Sleep(200 * time.Millisecond)
	}
	victim := claimer(f, image, 1)
	if victim < 0 {
		t.Fatal("no node logged the claim")
	}
	open.Store(true)
	f.nodes[victim].Kill()
	killed := time.Now()
	survivor := (victim + 1) % 3
	img := waitImage(t, f, f.client(survivor), image, 30*time.Second)
	took := time.Since(killed)
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image %s after the kill: %s", img.State.Status, aws.ToString(img.State.Reason))
	}
	heir := claimer(f, image, 2)
	if heir < 0 || heir == victim {
		t.Fatalf("attempt 2 claimed by node %d, want another node than node-%d", heir, victim)
	}
	t.Logf("node-%d killed; node-%d re-ran the build; %s %s after the kill", victim, heir, img.State.Status, took.Round(100*time.Millisecond))
}

// TestPerMinutePipelineFiresOnce: a pipeline scheduled every minute, with
// three nodes running their schedulers on one test clock, fires once per
// minute: three minutes, three runs.
func TestPerMinutePipelineFiresOnce(t *testing.T) {
	t.Parallel()
	clock := kilntest.NewClock(t)
	env := []string{clock.Env()}
	gw := s3gw.Start(t)
	db := pgtest.URL(t)
	start := func(i int) *kilntest.Server {
		return kilntest.StartEnv(t, append(gw.Env(), env...), "--store", db, "--blob-store", "s3://"+gw.Bucket+"/kiln",
			"--s3-endpoint", gw.Endpoint, "--node-id", fmt.Sprintf("node-%d", i))
	}
	f := &factory{gw: gw, nodes: []*kilntest.Server{start(0)}}
	ctx := kilntest.Context(t)
	c := f.client(0)
	// The builds fail at once (their parent image does not exist): what
	// counts is that each tick asks for one.
	in, err := c.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("sched"), InstanceProfileName: aws.String("kiln"),
	})
	if err != nil {
		t.Fatal(err)
	}
	comp, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("noop"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String("name: noop\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: S\n        action: ExecuteBash\n        inputs:\n          commands: [\"true\"]\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateContainerRecipe(ctx, &imagebuilder.CreateContainerRecipeInput{
		Name: aws.String("sched"), SemanticVersion: aws.String("1.0.0"), ContainerType: types.ContainerTypeDocker,
		ParentImage:            aws.String(f.nodes[0].Addr + "/missing/parent:latest"),
		DockerfileTemplateData: aws.String("FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"),
		Components:             []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		TargetRepository:       &types.TargetContainerRepository{Service: types.ContainerRepositoryServiceEcr, RepositoryName: aws.String("team/sched")},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Start on a minute boundary's first second, so the ticks are clear.
	now := clock.Now()
	base := now.Truncate(time.Minute).Add(time.Minute + time.Second)
	if err := clock.SetNow(base); err != nil {
		t.Fatal(err)
	}
	p, err := c.CreateImagePipeline(ctx, &imagebuilder.CreateImagePipelineInput{
		Name: aws.String("every-minute"), ContainerRecipeArn: r.ContainerRecipeArn, InfrastructureConfigurationArn: in.InfrastructureConfigurationArn,
		Schedule: &types.Schedule{ScheduleExpression: aws.String("cron(* * * * ? *)"),
			PipelineExecutionStartCondition: types.PipelineExecutionStartConditionExpressionMatchOnly},
		ImageTestsConfiguration: &types.ImageTestsConfiguration{ImageTestsEnabled: aws.Bool(false)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The other nodes start now: their schedulers read the pipeline at
	// their first refresh, so all three contend for each tick.
	f.nodes = append(f.nodes, start(1), start(2))
	// Runs, not images: a tick while the last build still runs is a
	// skipped run, and counts as its minute's firing all the same.
	var runs []service.PipelineRun
	count := func() int {
		resp := f.nodes[1].Raw(t, kilntest.DefaultCreds, "GET", kilnapi.PipelineRunsPath+"?imagePipelineArn="+url.QueryEscape(*p.ImagePipelineArn), nil)
		if resp.Status != http.StatusOK {
			t.Fatalf("pipeline runs: %d %s", resp.Status, resp.Body)
		}
		var out kilnapi.PipelineRunsResponse
		if err := json.Unmarshal(resp.Body, &out); err != nil {
			t.Fatal(err)
		}
		runs = out.Runs
		return len(runs)
	}
	for minute := 1; minute <= 3; minute++ {
		if err := clock.SetNow(base.Add(time.Duration(minute) * time.Minute)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for count() < minute {
			if time.Now().After(deadline) {
				t.Fatalf("minute %d: %d runs", minute, count())
			}
			time.Sleep(200 * time.Millisecond)
		}
		// A second firing, were there one, comes within the schedulers'
		// test-clock poll: wait past it before counting again.
		time.Sleep(3 * time.Second)
		if got := count(); got != minute {
			t.Fatalf("after minute %d: %d runs, want %d: %+v", minute, got, minute, runs)
		}
	}
	var fired []string
	for i, n := range f.nodes {
		if k := strings.Count(n.Log(), "trigger=SCHEDULED"); k > 0 {
			fired = append(fired, fmt.Sprintf("node-%d:%d", i, k))
		}
	}
	var due []string
	for _, r := range runs {
		due = append(due, r.DueAt+" "+r.Outcome)
	}
	t.Logf("ticks fired by %v: %v", fired, due)
}
