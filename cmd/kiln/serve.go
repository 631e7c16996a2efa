package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kiln-build/kiln/internal/arn"
	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/vm"
)

// serveConfig is `kiln serve`'s configuration. Every flag can also be set
// with a KILN_* environment variable (KILN_LISTEN, KILN_DATA_DIR, ...);
// a flag given on the command line wins.
type serveConfig struct {
	listen      string
	dataDir     string
	region      string
	account     string
	auth        string
	credentials string
	s3Endpoint  string
	blobStore   string      // blobstore.go
	blobs       *blobStores // opened by serve from blobStore
	logLevel    string

	maxBuilds        int
	buildNetwork     string
	buildLimits      bool
	insecureRegistry stringList
	registryFor      stringList // registrymap.go
	registryCA       string
	registryHost     string
	allowImportDir   stringList
	allowFetchCIDR   stringList
	s3BucketOwner    stringList
	parentImage      stringList
	qemuMemory       int
	accel            string // accel.go
	testBoot         string // testboot.go

	lifecycleInterval time.Duration // lifecycle.go

	edge   edgeConfig        // edge.go
	arm64  arm64Config       // arm64.go
	vulndb vulndbServeConfig // vulndb.go

	console consoleConfig // console.go
	store   storeConfig   // storeopen.go
	nodes   nodesConfig   // nodes.go
}

// stringList is a repeatable string flag (also read from a
// comma-separated KILN_* variable).
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on (KILN_LISTEN)")
	fs.StringVar(&c.dataDir, "data-dir", "./kiln-data", "directory for kiln's state (KILN_DATA_DIR)")
	fs.StringVar(&c.region, "region", "us-east-1", "the AWS region kiln impersonates (KILN_REGION)")
	fs.StringVar(&c.account, "account", "000000000000", "account for callers the credentials file does not name (KILN_ACCOUNT)")
	fs.StringVar(&c.auth, "auth", "", "signature checking: strict (verify against --credentials), open (accept any well-formed signature); default: open on loopback addresses only (KILN_AUTH)")
	fs.StringVar(&c.credentials, "credentials", "", "AWS shared-credentials file mapping access keys to secrets and accounts (KILN_CREDENTIALS)")
	fs.StringVar(&c.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint (path-style) for s3:// document URIs and --blob-store (KILN_S3_ENDPOINT)")
	fs.StringVar(&c.blobStore, "blob-store", "", "s3://BUCKET[/PREFIX]: keep registry content, machine disks and build logs in this bucket, shared by every node; credentials from the standard AWS chain; default: the data directory (KILN_BLOB_STORE)")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error (KILN_LOG_LEVEL)")
	fs.IntVar(&c.maxBuilds, "max-builds", 2, "most image builds this process runs at once (KILN_MAX_BUILDS)")
	fs.StringVar(&c.buildNetwork, "build-network", "private", "network of build sandboxes: private (own namespace, outbound through pasta or slirp4netns, not to this host), host (this host's network, loopback included) or none (KILN_BUILD_NETWORK)")
	fs.BoolVar(&c.buildLimits, "build-limits", true, "limit builds' CPU, memory and processes to their instance type's (KILN_BUILD_LIMITS)")
	fs.Var(&c.insecureRegistry, "insecure-registry", "registry host[:port] parent images may be pulled from over plain HTTP (loopback always may), and a --registry-for registry reached over plain HTTP or unverified TLS; repeatable (KILN_INSECURE_REGISTRY)")
	fs.Var(&c.registryFor, "registry-for", "REGION=HOST[/PREFIX]: container distributions to REGION push to HOST/PREFIX/REPOSITORY:TAG, with the credentials of kiln's Docker config, for every account; repeatable (KILN_REGISTRY_FOR)")
	fs.StringVar(&c.registryCA, "registry-ca", "", "PEM file of CA certificates trusted, besides the system's, for --registry-for registries (KILN_REGISTRY_CA)")
	fs.Var(&c.allowImportDir, "allow-import-dir", "directory ImportDiskImage may read file:// URIs from; repeatable (KILN_ALLOW_IMPORT_DIR)")
	fs.Var(&c.s3BucketOwner, "s3-bucket-owner", "BUCKET=ACCOUNT: an account that may use BUCKET through kiln's S3 credentials (s3:// documents and imports, shipped logs); repeatable; in loopback mode unlisted buckets are open to the one account (KILN_S3_BUCKET_OWNER)")
	fs.Var(&c.allowFetchCIDR, "allow-fetch-cidr", "CIDR range (or address) kiln may fetch URIs, ADD URLs and imports from although it is loopback, link-local or private; repeatable (KILN_ALLOW_FETCH_CIDR)")
	fs.Var(&c.parentImage, "parent-image", "NAME=AMI-ID: an Amazon-owned parent image name (debian-12-x86) resolved to an AMI in kiln's catalogue; repeatable (KILN_PARENT_IMAGE)")
	fs.IntVar(&c.qemuMemory, "vm-memory", 1024, "MiB of memory of the QEMU guests that test machine images (KILN_VM_MEMORY)")
	fs.StringVar(&c.accel, "accel", vm.AccelAuto, "QEMU accelerator of those guests: auto (KVM when a probe boot under it works), kvm (fail when it does not) or tcg (KILN_ACCEL)")
	fs.StringVar(&c.registryHost, "registry-host", "", "host:port in the image URIs of built images; default: the listen address (KILN_REGISTRY_HOST)")
	fs.DurationVar(&c.lifecycleInterval, "lifecycle-interval", lifecycleIntervalDefault, "how often every ENABLED lifecycle policy runs (and state updates with updateAt are looked for); 0 turns the periodic run off (KILN_LIFECYCLE_INTERVAL)")
	fs.StringVar(&c.testBoot, "test-boot", "direct", "how machine images' test instances boot: direct (the image's kernel under QEMU's -kernel), bios (SeaBIOS) or uefi (OVMF), through the disk's own bootloader (KILN_TEST_BOOT)")
	c.edge.flags(fs)
	c.arm64.flags(fs)
	c.vulndb.flags(fs)
	c.console.flags(fs)
	c.store.flags(fs)
	c.nodes.flags(fs)
}

// applyEnv sets every flag not given on the command line from its KILN_*
// variable.
func applyEnv(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		env := "KILN_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	return err
}

func serveMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kiln serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg serveConfig
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := applyEnv(fs); err != nil {
		fmt.Fprintln(stderr, "kiln serve:", err)
		return 2
	}
	if err := cfg.absolutePaths(); err != nil {
		fmt.Fprintln(stderr, "kiln serve:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "kiln serve:", err)
		return 1
	}
	return 0
}

// absolutePaths makes every path flag absolute, once, at start-up. Paths
// reach the sandbox (which mounts and pivots by absolute path), child
// processes started in other directories and log lines an operator reads
// later, so a relative --data-dir such as the default ./kiln-data must
// not stay relative to whatever the working directory happens to be.
func (c *serveConfig) absolutePaths() error {
	for _, p := range []*string{&c.dataDir, &c.credentials, &c.edge.tlsCert, &c.edge.tlsKey, &c.edge.metricsTokenFile, &c.registryCA} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("%s: %w", *p, err)
		}
		*p = abs
	}
	for i, dir := range c.allowImportDir {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("--allow-import-dir %s: %w", dir, err)
		}
		c.allowImportDir[i] = abs
	}
	return nil
}

// authMode decides how signatures are checked. Anyone who can reach a
// non-loopback listener could otherwise act as any account, so kiln
// refuses to start there unless the operator chose strict checking or
// explicitly asked for open access.
func authMode(cfg serveConfig) (sigv4.Mode, error) {
	switch cfg.auth {
	case "strict":
		if cfg.credentials == "" {
			return 0, errors.New("--auth strict needs --credentials FILE")
		}
		return sigv4.ModeStrict, nil
	case "open":
		return sigv4.ModeOpen, nil
	case "", "loopback":
		if !isLoopbackAddr(cfg.listen) {
			return 0, fmt.Errorf("refusing to listen on %s without authentication: use --auth strict --credentials FILE, or --auth open to accept any signature", cfg.listen)
		}
		return sigv4.ModeLoopback, nil
	}
	return 0, fmt.Errorf("--auth %q: want strict or open", cfg.auth)
}

func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func serve(ctx context.Context, cfg serveConfig, stdout, stderr io.Writer) error {
	log, err := newLogger(cfg.logLevel, stderr)
	if err != nil {
		return err
	}
	if log, err = cfg.nodes.logger(log); err != nil {
		return err
	}
	mode, err := authMode(cfg)
	if err != nil {
		return err
	}
	if !arn.ValidRegion(cfg.region) {
		return fmt.Errorf("--region %q is not a region name like us-east-1", cfg.region)
	}
	if !arn.ValidAccountID(cfg.account) {
		return fmt.Errorf("--account %q is not a 12-digit account ID", cfg.account)
	}
	principals := map[string]sigv4.Principal{}
	if cfg.credentials != "" {
		if principals, err = sigv4.LoadCredentials(cfg.credentials); err != nil {
			return err
		}
		if mode == sigv4.ModeStrict && len(principals) == 0 {
			return fmt.Errorf("--auth strict: %s names no principals", cfg.credentials)
		}
	}
	if err := cfg.edge.check(); err != nil {
		return err
	}
	if err := tightenDataDir(cfg.dataDir, log); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.store, cfg.dataDir, log)
	if err != nil {
		return err
	}
	defer st.Close()
	tokenKey, err := sharedTokenKey(ctx, cfg, st)
	if err != nil {
		return err
	}

	fetchers, err := newFetchers(cfg, mode, log)
	if err != nil {
		return err
	}
	svc := &service.Service{
		Store: st, Partition: "aws", Region: cfg.region,
		Fetch: fetchers.documents(), TokenKey: tokenKey, Log: log,
	}
	clock := useTestClock(svc, log)
	if err := svc.SeedCatalog(ctx); err != nil {
		return fmt.Errorf("seeding the Amazon-owned catalogue: %w", err)
	}
	if err := svc.SeedWorkflows(ctx); err != nil {
		return fmt.Errorf("seeding the Amazon-owned workflows: %w", err)
	}
	if err := svc.SeedImageCatalog(ctx); err != nil {
		return fmt.Errorf("seeding the Amazon-owned parent images: %w", err)
	}

	blobs, err := openBlobStores(ctx, cfg, log)
	if err != nil {
		return err
	}
	cfg.blobs = blobs
	reg := openRegistry(blobs)
	reg.Log = log

	handlers := map[string]server.HandlerFunc{}
	for name, h := range svc.Handlers() {
		handlers[name] = server.HandlerFunc(h)
	}
	srv := &server.Server{
		Handlers: handlers,
		Verifier: &sigv4.Verifier{
			Mode: mode, Service: "imagebuilder", Region: cfg.region,
			Principals: principals, DefaultAccount: cfg.account, MaxSkew: 15 * time.Minute,
		},
		Log:     log,
		Healthy: st.Ping,
		Extra:   map[string]http.Handler{"/v2/": reg},
	}

	edge, err := openEdge(cfg, log)
	if err != nil {
		return err
	}
	defer edge.ln.Close()
	guard, err := wireECR(ctx, cfg, mode, principals, st, reg, srv, tokenKey, edge.addr, log)
	if err != nil {
		return err
	}
	builds, err := newEngine(cfg, st, reg, edge.addr, guard, log)
	if err != nil {
		return err
	}
	if err := configureArm64(cfg.arm64, builds, log); err != nil {
		return err
	}
	if err := configureTestBoot(cfg.testBoot, builds); err != nil {
		return err
	}
	fetchers.wire(builds)
	wireScanning(st, builds, srv, log)
	wireNodes(builds, srv, blobs.Ping)
	if err := wireRegistryMap(cfg, builds, svc, fetchers, log); err != nil {
		return err
	}
	svc.Builds = builds
	wireContainerPlatforms(svc, builds)
	if err := configureMachineImages(cfg, svc); err != nil {
		return err
	}
	vdb, err := vulndbEndpoints(cfg, st, mode)
	if err != nil {
		return err
	}
	srv.Extra[kilnapi.Prefix] = kilnEndpoints(cfg, st, builds, svc, srv, vdb)
	if err := wireConsole(cfg, mode, principals, tokenKey, st, builds, svc, srv, guard, reg, edge.scheme+"://"+dialable(edge.addr), registryHostFor(cfg, edge.addr)); err != nil {
		return err
	}
	engineCtx, stopEngine := context.WithCancel(context.Background())
	engineDone := make(chan struct{})
	go func() { defer close(engineDone); builds.Run(engineCtx) }()
	defer func() { stopEngine(); <-engineDone }()
	defer startScheduler(svc, clock, log)() // stops before the engine
	defer shareScheduleWakes(st, svc, log)()
	stopLifecycle, err := startLifecycle(cfg, svc, reg, registryHostFor(cfg, edge.addr), clock, log)
	if err != nil {
		return err
	}
	defer stopLifecycle()
	if err := configureEdge(cfg, mode, edge, srv, cfg.registryHost, stderr); err != nil {
		return err
	}
	// Last before serving, once every setting was accepted: a refused
	// start prints its reason alone.
	tuneCollector(log)
	httpSrv := edge.http
	errc := make(chan error, 1)
	go func() { errc <- edge.serve() }()
	fmt.Fprintf(stdout, "kiln listening on %s://%s (region %s, auth %s, data %s)\n", edge.scheme, edge.addr, cfg.region, mode, cfg.dataDir)
	printStartup(stdout, startup{Scheme: edge.scheme, Addr: edge.addr, RegistryHost: registryHostFor(cfg, edge.addr), Region: cfg.region, Mode: mode, Console: cfg.console.enabled})

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return httpSrv.Shutdown(shutdownCtx)
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
