package main

import (
	"fmt"
	"log/slog"

	"github.com/kiln-build/kiln/internal/sandbox"
)

// buildJail turns --build-network and --build-limits into the sandbox
// settings of builds, and logs what this host can enforce and why: the
// user-mode network stack behind the private network, and the control
// groups behind the limits.
//
// The private network needs pasta or slirp4netns. Without either it falls
// back to none (its own namespace, loopback only) rather than to the
// host's network: a build that needs no network still works, one that
// does fails visibly, and nothing a build runs can reach kiln's API.
func buildJail(cfg serveConfig, log *slog.Logger) (network sandbox.Network, noLimits bool, err error) {
	switch cfg.buildNetwork {
	case "private", "":
		network = sandbox.NetworkPrivate
		sup := sandbox.PrivateNetwork()
		if sup.Helper == "" {
			network = sandbox.NetworkNone
			log.Warn("build network: private needs pasta (Debian package passt) or slirp4netns; builds get no network", "why", sup.Why)
		} else {
			log.Info("build network: private", "via", sup.Helper, "why", sup.Why)
		}
	case "host":
		network = sandbox.NetworkHost
		log.Warn("build network: host; builds can reach every service on this host's loopback, kiln's API included")
	case "none":
		network = sandbox.NetworkNone
		log.Info("build network: none")
	default:
		return 0, false, fmt.Errorf("--build-network %q: want private, host or none", cfg.buildNetwork)
	}
	if !cfg.buildLimits {
		log.Warn("build limits: off (--build-limits=false); builds may use every CPU, all memory and any number of processes")
		return network, true, nil
	}
	cg := sandbox.Cgroups()
	if cg.Mode == sandbox.CgroupNone {
		log.Warn("build limits: not enforced on this host", "why", cg.Why)
	} else {
		log.Info("build limits: the infrastructure configuration's instance type", "cgroups", string(cg.Mode), "why", cg.Why)
	}
	return network, false, nil
}
