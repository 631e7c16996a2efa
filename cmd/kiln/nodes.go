package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sharedsecret"
	"github.com/kiln-build/kiln/internal/store"
)

// nodesConfig is what one kiln node among several sharing a store needs
// to know about itself (docs/deployment.md).
type nodesConfig struct {
	// nodeID names this node in its build claims, logs and metrics.
	nodeID string
}

func (c *nodesConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.nodeID, "node-id", "", "name of this node among the kiln processes sharing --store: in its build claims, logs and /metrics; give each node its own and keep it across restarts; default: the host name (KILN_NODE_ID)")
}

// logger checks the node id (filling in the default) and returns log
// with it on every line, so the logs of several nodes can be read as one.
func (c *nodesConfig) logger(log *slog.Logger) (*slog.Logger, error) {
	if c.nodeID == "" {
		c.nodeID = engine.DefaultNodeID()
	}
	if why := engine.ValidNodeID(c.nodeID); why != "" {
		return nil, fmt.Errorf("--node-id %q %s", c.nodeID, why)
	}
	return log.With("node", c.nodeID), nil
}

// sharedTokenKey is the key that signs pagination tokens and registry
// passwords, the same on every node: kept in the store, seeded from the
// data directory's token.key where kiln kept it before. The file is then
// rewritten to hold the store's key, so it stays what it always was to
// an operator or a test minting a token: this node's key.
func sharedTokenKey(ctx context.Context, cfg serveConfig, st store.Store) ([]byte, error) {
	path := filepath.Join(cfg.dataDir, "token.key")
	key, err := sharedsecret.Load(ctx, st, cfg.region, "token-key", path)
	if err != nil {
		return nil, fmt.Errorf("the token key: %w", err)
	}
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, key) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, key, 0o600); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, err
		}
	}
	return key, nil
}

// wireNodes adds the engine's per-node metrics to /metrics, and has
// /healthz report the store and, when there is one, the bucket
// (bucketPing: nil for blobs in the data directory).
func wireNodes(builds *engine.Engine, srv *server.Server, bucketPing func(context.Context) error) {
	more := srv.MoreMetrics
	srv.MoreMetrics = func(w io.Writer) {
		if more != nil {
			more(w)
		}
		builds.WriteMetrics(w)
	}
	if bucketPing != nil {
		srv.HealthChecks = append(srv.HealthChecks, server.HealthCheck{Name: "bucket", Check: bucketPing})
	}
}

// schedulesChannel is the Notifier channel a pipeline change is announced
// on, so every node's scheduler reads the schedules again.
const schedulesChannel = "kiln_schedules"

// shareScheduleWakes makes a pipeline created, changed or enabled through
// any node wake every node's scheduler at once, when the store can notify
// (PostgreSQL); otherwise the other nodes notice at their next refresh.
// The returned stop ends the subscription.
func shareScheduleWakes(st store.Store, svc *service.Service, log *slog.Logger) (stop func()) {
	n, ok := st.(store.Notifier)
	if !ok || svc.Schedules == nil {
		return func() {}
	}
	local := svc.Schedules
	svc.Schedules = notifyingWaker{local: local, n: n, log: log}
	wake, unsubscribe := n.Subscribe(schedulesChannel)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-wake:
				local.Wake()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done); unsubscribe() }
}

// notifyingWaker wakes this node's scheduler and tells the other nodes.
type notifyingWaker struct {
	local interface{ Wake() }
	n     store.Notifier
	log   *slog.Logger
}

func (w notifyingWaker) Wake() {
	w.local.Wake()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.n.Notify(ctx, schedulesChannel); err != nil {
			w.log.Warn("notifying other nodes of a pipeline change", "err", err)
		}
	}()
}
