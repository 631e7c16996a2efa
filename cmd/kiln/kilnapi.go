package main

import (
	"net/http"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/store"
)

// kilnEndpoints is the handler for kiln's own endpoints (kilnapi.Prefix),
// which `kiln ami`, `kiln logs`, `kiln pipeline runs` and `kiln vulndb` call, signed like
// the API and checked by its Verifier.
func kilnEndpoints(cfg serveConfig, st store.Store, builds *engine.Engine, svc *service.Service, srv *server.Server, vdb *kilnapi.VulnDBConfig) http.Handler {
	return kilnapi.New(kilnapi.Config{
		Verifier:  srv.Verifier,
		AMIs:      &ami.Catalogue{Store: st, Home: cfg.region, DataDir: cfg.dataDir, Blobs: cfg.sharedBlobs()},
		Logs:      builds,
		Runs:      svc,
		VulnDB:    vdb,
		Lifecycle: svc,
		Log:       srv.Log,
	})
}
