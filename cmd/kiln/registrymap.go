package main

import (
	"log/slog"

	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/container"
	"github.com/kiln-build/kiln/internal/registrymap"
	"github.com/kiln-build/kiln/internal/service"
)

// wireRegistryMap gives the container executor the registries the
// operator mapped regions to (--registry-for), reached through kiln's
// guarded fetcher with --registry-ca and --insecure-registry, and the
// credentials of kiln's Docker config, and tells the service those regions
// take container distributions (DistributeImage checks for one).
func wireRegistryMap(cfg serveConfig, e *engine.Engine, svc *service.Service, f *fetchers, log *slog.Logger) error {
	regs, err := registrymap.New(registrymap.Config{
		Targets: cfg.registryFor, Insecure: cfg.insecureRegistry, CAFile: cfg.registryCA, Fetch: f.web,
	})
	if err != nil || regs == nil {
		return err
	}
	for _, t := range regs.Targets() {
		log.Info("container distributions to a region go to another registry", "region", t.Region, "repository prefix", t.Repository(""))
		svc.ContainerRegions = append(svc.ContainerRegions, t.Region)
	}
	for _, x := range e.Executors {
		if x, ok := x.(*container.Executor); ok {
			x.Registries = regs
		}
	}
	return nil
}
