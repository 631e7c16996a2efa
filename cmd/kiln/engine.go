package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/ecr"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/container"
	"github.com/kiln-build/kiln/internal/engine/machine"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/oci"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/vm"
)

// newEngine wires the build engine: the container executor over kiln's
// registry and the shared layer cache in the data directory.
func newEngine(cfg serveConfig, st store.Store, reg *registry.Registry, listenAddr string, guard *ecr.Guard, log *slog.Logger) (*engine.Engine, error) {
	network, noLimits, err := buildJail(cfg, log)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// Resolved now, not at the first build: a kiln whose libraries cannot
	// be carried into images refuses to start, with the fix, rather than
	// fail every build.
	deps, err := sandboxed.RunnerDeps(context.Background(), exe)
	if err != nil {
		return nil, err
	}
	if deps != nil {
		log.Info("kiln binary: dynamically linked; builds carry its loader and libraries into the sandbox", "loader", deps.Interp, "libraries", len(deps.Libs))
	}
	accel, err := chooseAccel(context.Background(), cfg.accel, cfg.dataDir, log)
	if err != nil {
		return nil, err
	}
	host := registryHostFor(cfg, listenAddr)
	pull := oci.Options{Insecure: cfg.insecureRegistry}
	if pull.Transport, err = ownRegistryTransport(cfg, host); err != nil {
		return nil, err
	}
	var (
		ownerAuth func(string) authn.Keychain
		authorize func(context.Context, string, string, registry.Action, bool) error
	)
	if guard != nil {
		// kiln's own identity reaches its internal repositories (the
		// machine images' root filesystems); container builds pull as the
		// image's owner (OwnerAuth) and authorise every push as it.
		pull.Auth = tokenKeychain{host: host, tokens: guard.Tokens, id: ecr.Identity{Account: cfg.account, ARN: "arn:aws:iam::" + cfg.account + ":root", Kiln: true}}
		ownerAuth = func(account string) authn.Keychain {
			return tokenKeychain{host: host, tokens: guard.Tokens, id: ecr.Identity{Account: account, ARN: "arn:aws:iam::" + account + ":root"}}
		}
		authorize = guard.AuthorizeBuild
	}
	tools := sandboxed.Tools{
		Registry: reg, RegistryHost: host,
		Cache: &oci.LayerCache{Dir: filepath.Join(cfg.dataDir, "layers")},
		Pull:  pull, Binary: exe, Network: network, NoLimits: noLimits,
		OwnerAuth: ownerAuth, Authorize: authorize,
	}
	return &engine.Engine{
		Store: st, Region: cfg.region, Workers: cfg.maxBuilds, DataDir: cfg.dataDir, Log: log,
		NodeID: cfg.nodes.nodeID,
		Blobs:  cfg.sharedBlobs(),
		Executors: map[string]engine.Executor{
			awsapi.ImageTypeDocker: &container.Executor{Tools: tools},
			awsapi.ImageTypeAmi: &machine.Executor{
				Tools: tools, Region: cfg.region, DataDir: cfg.dataDir, Blobs: cfg.sharedBlobs(),
				AllowImportDirs: cfg.allowImportDir,
				VM:              vm.Config{MemoryMB: cfg.qemuMemory, KernelCache: filepath.Join(cfg.dataDir, "vm-kernels"), Accel: accel.Accel},
				AccelReason:     accel.Reason,
			},
		},
	}, nil
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
