package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/build"
	"github.com/kiln-build/kiln/internal/build/container"
	"github.com/kiln-build/kiln/internal/build/machine"
	"github.com/kiln-build/kiln/internal/build/sandboxed"
	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/sandbox"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/vm"
)

// newEngine wires the build engine: the container executor over kiln's
// registry and the shared layer cache in the data directory.
func newEngine(cfg serveConfig, st store.Store, reg *registry.Registry, listenAddr string, principals map[string]sigv4.Principal, log *slog.Logger) (*build.Engine, error) {
	network := sandbox.NetworkHost
	switch cfg.buildNetwork {
	case "host", "":
	case "none":
		network = sandbox.NetworkNone
	default:
		return nil, fmt.Errorf("--build-network %q: want host or none", cfg.buildNetwork)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	host := cfg.registryHost
	if host == "" {
		host = listenAddr
		if h, port, err := net.SplitHostPort(listenAddr); err == nil {
			if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
				host = net.JoinHostPort("127.0.0.1", port)
			}
		}
	}
	pull := oci.Options{Insecure: cfg.insecureRegistry}
	// Under --auth strict kiln's own registry wants credentials; the
	// engine uses the first principal's to pull parents from it.
	for key, p := range principals {
		pull.Auth = ownRegistryKeychain{host: host, user: key, password: p.SecretAccessKey}
		break
	}
	tools := sandboxed.Tools{
		Registry: reg, RegistryHost: host,
		Cache: &oci.LayerCache{Dir: filepath.Join(cfg.dataDir, "layers")},
		Pull:  pull, Binary: exe, Network: network,
	}
	var (
		upload build.LogUploader
		s3open machine.S3Opener
	)
	if cfg.s3Endpoint != "" {
		upload = newS3Uploader(cfg.s3Endpoint, cfg.region)
		s3open = newS3Opener(cfg.s3Endpoint, cfg.region)
	}
	return &build.Engine{
		Store: st, Region: cfg.region, Workers: cfg.maxBuilds, DataDir: cfg.dataDir, Log: log, UploadLog: upload,
		Executors: map[string]build.Executor{
			awsapi.ImageTypeDocker: &container.Executor{Tools: tools},
			awsapi.ImageTypeAmi: &machine.Executor{
				Tools: tools, Store: st, Region: cfg.region, DataDir: cfg.dataDir,
				AllowImportDirs: cfg.allowImportDir, S3: s3open,
				VM: vm.Config{MemoryMB: cfg.qemuMemory, KernelCache: filepath.Join(cfg.dataDir, "vm-kernels")},
			},
		},
	}, nil
}

// ownRegistryKeychain gives kiln's credentials for its own registry and
// anonymous access everywhere else.
type ownRegistryKeychain struct{ host, user, password string }

func (k ownRegistryKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == k.host {
		return &authn.Basic{Username: k.user, Password: k.password}, nil
	}
	return authn.Anonymous, nil
}

// logsHandler serves /kiln/v1/logs?imageBuildVersionArn=ARN[&follow=true]
// for `kiln logs`: the build's step logs as plain text, streamed. The
// request is signed like an API call (SigV4, service imagebuilder); the
// caller must own the image or have it shared.
func logsHandler(e *build.Engine, v *sigv4.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/kiln/v1/logs" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		caller, err := v.Verify(r, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		image := r.URL.Query().Get("imageBuildVersionArn")
		follow := r.URL.Query().Get("follow") == "true"
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		canSee := func(res store.Resource) bool { return service.Visible(res, caller.Account) }
		if err := e.WriteLogs(r.Context(), w, image, follow, canSee); err != nil {
			if apiErr := (*awsapi.Error)(nil); errors.As(err, &apiErr) {
				http.Error(w, apiErr.Message, apiErr.Status())
				return
			}
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// configureMachineImages gives the service the operator's machine-image
// settings: which file:// imports are allowed, and which Amazon-owned
// parent image names map to which AMIs.
func configureMachineImages(cfg serveConfig, svc *service.Service) error {
	if len(cfg.allowImportDir) > 0 {
		dirs := cfg.allowImportDir
		svc.ImportAllowed = func(path string) error {
			_, err := machine.ImportAllowed(dirs, path)
			return err
		}
	}
	svc.ParentImages = map[string]string{}
	for _, m := range cfg.parentImage {
		name, id, ok := strings.Cut(m, "=")
		if !ok || name == "" || !strings.HasPrefix(id, "ami-") {
			return fmt.Errorf("--parent-image %q: want NAME=ami-ID", m)
		}
		svc.ParentImages[name] = id
	}
	return nil
}
