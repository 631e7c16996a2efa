// Command apibench measures kiln's Image Builder API under load:
// GetComponent, ListComponents and CreateComponent against `kiln serve
// --auth strict`, next to a floor — a trivial net/http server returning a
// fixed body — driven by the same load generator in the same run.
//
// Both servers run as child processes and every request is SigV4-signed,
// the floor's included, so the client does the same work whichever server
// it talks to and the ratio to the floor is kiln's own cost.
//
//	go run ./bench/apibench -kiln /tmp/kiln [-duration 5s] [-concurrency 1,32] [-json out.json]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The principal the benchmark acts as. kiln runs with --auth strict, so
// every request is checked against this key's secret.
const (
	benchAccessKey = "AKIDBENCHALICE000001"
	benchAccount   = "111111111111"
	benchRegion    = "us-east-1"
	benchService   = "imagebuilder"
)

type options struct {
	kiln        string
	duration    time.Duration
	warmup      time.Duration
	concurrency []int
	components  int
	jsonPath    string
	tmpDir      string
	// store, when set, is passed to `kiln serve --store` (a PostgreSQL
	// URL, say) so that the same table is made for another backend.
	store string
	// scenarios names the kiln scenarios to run (the floor always runs).
	scenarios []string
}

// scenarioNames are the kiln scenarios, by their -scenarios names.
var scenarioNames = []string{"get", "list", "create"}

func main() {
	var (
		o           options
		conc        string
		floorServer bool
		floorListen string
	)
	flag.StringVar(&o.kiln, "kiln", "", "path to the kiln binary to benchmark (required)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per scenario and concurrency")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured load before each measurement")
	flag.StringVar(&conc, "concurrency", "1,32", "comma-separated numbers of concurrent clients")
	flag.IntVar(&o.components, "components", 1000, "components created before measuring Get and List")
	flag.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&o.tmpDir, "tmpdir", "", "parent of kiln's data directory (default: the system temp dir); its filesystem decides what a durable write costs")
	flag.StringVar(&o.store, "store", "", "state store URL passed to `kiln serve --store` (default: kiln's SQLite in the data directory); skipped when kiln has no --store flag")
	var scen string
	flag.StringVar(&scen, "scenarios", strings.Join(scenarioNames, ","), "comma-separated kiln scenarios to run: get, list, create (the floor always runs)")
	flag.BoolVar(&floorServer, "floor-server", false, "internal: serve the floor and print its address")
	flag.StringVar(&floorListen, "floor-listen", "127.0.0.1:0", "internal: the floor server's address")
	flag.Parse()

	if floorServer {
		if err := serveFloor(floorListen); err != nil {
			fmt.Fprintln(os.Stderr, "apibench -floor-server:", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if o.concurrency, err = parseConcurrency(conc); err != nil {
		fmt.Fprintln(os.Stderr, "apibench: -concurrency:", err)
		os.Exit(2)
	}
	if o.kiln == "" {
		fmt.Fprintln(os.Stderr, "apibench: -kiln PATH is required")
		os.Exit(2)
	}
	for f := range strings.SplitSeq(scen, ",") {
		f = strings.TrimSpace(f)
		if !slices.Contains(scenarioNames, f) {
			fmt.Fprintf(os.Stderr, "apibench: -scenarios: %q is not one of %s\n", f, strings.Join(scenarioNames, ", "))
			os.Exit(2)
		}
		o.scenarios = append(o.scenarios, f)
	}
	if o.components < 1 {
		fmt.Fprintln(os.Stderr, "apibench: -components must be at least 1")
		os.Exit(2)
	}
	benchkit.Run("apibench", func(ctx context.Context) error {
		if err := run(ctx, o, os.Stdout, os.Stderr); !errors.Is(err, errSkipped) {
			return err
		}
		return nil
	})
}

// parseConcurrency parses "1,32" into [1 32].
func parseConcurrency(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q: not a number", f)
		}
		if n < 1 || n > 4096 {
			return nil, fmt.Errorf("%d: want 1 to 4096", n)
		}
		out = append(out, n)
	}
	return out, nil
}

// run is the whole benchmark: start both servers, seed, measure, check,
// report. Progress goes to progress; the report to out.
func run(ctx context.Context, o options, out, progress io.Writer) error {
	logf := func(format string, args ...any) { fmt.Fprintf(progress, "apibench: "+format+"\n", args...) }

	loadBefore := benchkit.LoadAverage()
	if l := loadBefore; benchkit.Busy(l) {
		logf("warning: load average is %.2f on %d CPUs; other work will skew the results", l, runtime.NumCPU())
	}
	tmp, err := os.MkdirTemp(o.tmpDir, "apibench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	secret := randomHex(20)
	credsPath := filepath.Join(tmp, "credentials")
	creds := fmt.Sprintf("[bench]\naws_access_key_id = %s\naws_secret_access_key = %s\naws_account_id = %s\n",
		benchAccessKey, secret, benchAccount)
	if err := os.WriteFile(credsPath, []byte(creds), 0o600); err != nil {
		return err
	}
	signer := Signer{
		Creds:   aws.Credentials{AccessKeyID: benchAccessKey, SecretAccessKey: secret},
		Service: benchService, Region: benchRegion,
	}
	dataDir := filepath.Join(tmp, "data")
	kilnArgs := []string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir,
		"--region", benchRegion, "--auth", "strict", "--credentials", credsPath}
	if o.store != "" {
		if !hasFlag(ctx, o.kiln, "store") {
			logf("%s serve has no --store flag: the run against %s is skipped", o.kiln, o.store)
			return errSkipped
		}
		kilnArgs = append(kilnArgs, "--store", o.store)
	}

	kiln, err := benchkit.StartServer(ctx, "kiln", filepath.Join(tmp, "kiln.log"), o.kiln, kilnArgs...)
	if err != nil {
		return err
	}
	defer func() {
		if kiln != nil {
			kiln.Stop(10 * time.Second)
		}
	}()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	floor, err := benchkit.StartServer(ctx, "floor", filepath.Join(tmp, "floor.log"), self, "-floor-server")
	if err != nil {
		return err
	}
	defer floor.Stop(10 * time.Second)
	logf("kiln at %s, floor at %s, data in %s (%s)", kiln.URL(), floor.URL(), dataDir, benchkit.FilesystemType(tmp))

	logf("seeding %d components", o.components)
	seedStart := time.Now()
	arns, err := seed(ctx, kiln.URL(), signer, o.components, 16)
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	logf("seeded in %v", time.Since(seedStart).Round(time.Millisecond))

	var checks []benchkit.Check
	want := walk{Pages: (o.components + listPageSize - 1) / listPageSize, Items: o.components}
	got, err := walkAll(ctx, kiln.URL(), signer)
	checks = append(checks, walkCheck("a ListComponents walk after seeding", want, got, err))

	var (
		walks   walkLog
		seq     atomic.Int64
		created atomic.Int64
	)
	type target struct {
		sc  Scenario
		url string
		pid int
	}
	targets := []target{{floorScenario("floor"), floor.URL(), floor.PID()}}
	if slices.Contains(o.scenarios, "get") {
		targets = append(targets, target{getComponentScenario(arns), kiln.URL(), kiln.PID()})
	}
	if slices.Contains(o.scenarios, "list") {
		targets = append(targets, target{listComponentsScenario(&walks), kiln.URL(), kiln.PID()})
	}
	if slices.Contains(o.scenarios, "create") {
		targets = append(targets, target{createComponentScenario("bench-create", &seq, &created), kiln.URL(), kiln.PID()})
	}
	// The floor again: other work on the machine moves every number, and
	// a floor measured minutes before kiln's rows could be off. Ratios use
	// the better of the two.
	targets = append(targets, target{floorScenario("floor, again"), floor.URL(), floor.PID()})
	var results []Result
	for _, t := range targets {
		for _, n := range o.concurrency {
			g := &Generator{BaseURL: t.url, Signer: signer, Concurrency: n, Warmup: o.warmup, Duration: o.duration, ServerPID: t.pid}
			r, err := g.Run(ctx, t.sc)
			if err != nil {
				return err
			}
			logf("%-15s c=%-3d %8.0f req/s  p50 %-8s p99 %-8s server CPU %6.1f µs/req  client CPU %6.1f µs/req  errors %d %s",
				r.Scenario, n, r.PerSecond, benchkit.Millis(r.P50), benchkit.Millis(r.P99), micros(r.ServerCPU), micros(r.ClientCPU), r.Errors, r.FirstError)
			results = append(results, r)
		}
	}

	// With many components a walk may not finish within the measured
	// time; every walk that did finish must have seen every component.
	if nWalks, shapes := walks.summary(); slices.Contains(o.scenarios, "list") {
		checks = append(checks, benchkit.Check{
			Name:   "every ListComponents walk during the benchmark saw every component once",
			OK:     len(shapes) == 0 || (len(shapes) == 1 && shapes[0] == want),
			Detail: fmt.Sprintf("%d complete walks; shapes (pages, items): %v; want %v", nWalks, shapes, want),
		})
	}
	total := o.components + int(created.Load())
	want = walk{Pages: (total + listPageSize - 1) / listPageSize, Items: total}
	got, err = walkAll(ctx, kiln.URL(), signer)
	checks = append(checks, walkCheck(fmt.Sprintf("all %d acknowledged creates are listed", created.Load()), want, got, err))

	// Durable means it survives the process dying without warning.
	kiln.Kill()
	kiln = nil
	logf("killed kiln with SIGKILL; restarting on the same data directory")
	kiln, err = benchkit.StartServer(ctx, "kiln", filepath.Join(tmp, "kiln-restart.log"), o.kiln, kilnArgs...)
	if err != nil {
		checks = append(checks, benchkit.Check{Name: "kiln restarts after SIGKILL", Detail: err.Error()})
	} else {
		got, err = walkAll(ctx, kiln.URL(), signer)
		checks = append(checks, walkCheck("after SIGKILL and restart, every acknowledged create is still listed", want, got, err))
	}

	rep := report{
		Machine:     machineInfo(o.kiln, tmp, loadBefore),
		Store:       storeName(o.store),
		Duration:    o.duration,
		Warmup:      o.warmup,
		Components:  o.components,
		Results:     results,
		Checks:      checks,
		TargetCheck: evaluateTargets(results),
	}
	rep.writeMarkdown(out)
	if o.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonPath, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	for _, r := range results {
		if r.Errors > 0 {
			return fmt.Errorf("%s at concurrency %d had %d errors; first: %s", r.Scenario, r.Concurrency, r.Errors, r.FirstError)
		}
	}
	for _, c := range checks {
		if !c.OK {
			return fmt.Errorf("check failed: %s: %s", c.Name, c.Detail)
		}
	}
	return nil
}

// errSkipped ends a run that cannot measure what was asked, without a
// report and without failing.
var errSkipped = errors.New("skipped")

// hasFlag reports whether `kiln serve --help` lists --name (and not
// merely a flag ending in it, such as --blob-store).
func hasFlag(ctx context.Context, kiln, name string) bool {
	out, _ := exec.CommandContext(ctx, kiln, "serve", "--help").CombinedOutput()
	return regexp.MustCompile(`(?m)^\s*--?` + regexp.QuoteMeta(name) + `(\s|=|$)`).Match(out)
}

// storeName is what the report calls the store: the URL's scheme, never
// its credentials.
func storeName(url string) string {
	if url == "" {
		return "sqlite (the data directory)"
	}
	scheme, _, _ := strings.Cut(url, "://")
	return scheme + " (--store)"
}

// seed creates n components with conc concurrent clients and returns
// their build version ARNs. It is not timed.
func seed(ctx context.Context, base string, s Signer, n, conc int) ([]string, error) {
	client := newClient(conc)
	defer client.CloseIdleConnections()
	arns := make([]string, n)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range conc {
		c := newCaller(base, client, s)
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				body, err := c.do(ctx, Request{Method: "PUT", Path: "/CreateComponent", Body: createBody("bench-seed", int64(i))})
				var resp createResponse
				if err == nil {
					err = json.Unmarshal(body, &resp)
				}
				if err == nil && resp.ComponentBuildVersionArn == "" {
					err = errors.New("CreateComponent returned no componentBuildVersionArn")
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				arns[i] = resp.ComponentBuildVersionArn
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return arns, ctx.Err()
}

// walkAll lists every component of the caller in pages of listPageSize.
func walkAll(ctx context.Context, base string, s Signer) (walk, error) {
	client := newClient(1)
	defer client.CloseIdleConnections()
	c := newCaller(base, client, s)
	w := &listWorker{walks: &walkLog{}}
	for range 100000 {
		body, err := c.do(ctx, w.Next())
		if err != nil {
			return walk{}, err
		}
		w.Observe(body)
		if _, shapes := w.walks.summary(); len(shapes) > 0 {
			return shapes[0], nil
		}
	}
	return walk{}, errors.New("ListComponents never returned an empty nextToken")
}

func walkCheck(name string, want, got walk, err error) benchkit.Check {
	if err != nil {
		return benchkit.Check{Name: name, Detail: err.Error()}
	}
	return benchkit.Check{Name: name, OK: got == want, Detail: fmt.Sprintf("%d items in %d pages; want %d in %d", got.Items, got.Pages, want.Items, want.Pages)}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
