package main

import (
	"errors"
	"log/slog"

	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/scan"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/store"
	"github.com/kiln-build/kiln/internal/vulndb"
)

// wireScanning gives the build engine the vulnerability database its image
// scans match against, and /metrics the scans' counters. A store backend
// without a database leaves scans to end ABANDONED with that reason.
func wireScanning(st store.Store, builds *engine.Engine, srv *server.Server, log *slog.Logger) {
	db, err := vulndb.Open(st)
	switch {
	case errors.Is(err, vulndb.ErrUnsupported):
		log.Warn("this store backend has no vulnerability database: image scans will be abandoned")
	case err != nil:
		log.Error("opening the vulnerability database", "err", err)
	default:
		builds.Vulns = db
	}
	m := &scan.Metrics{}
	builds.ScanMetrics = m
	srv.MoreMetrics = m.Write
}
