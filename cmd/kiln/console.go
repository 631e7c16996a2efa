package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"flag"
	"fmt"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/console"
	"github.com/kiln-build/kiln/internal/ecr"
	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/oci/registry"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store"
)

// consoleConfig is the web console's part of kiln serve's flags.
type consoleConfig struct {
	enabled    bool
	sessionTTL time.Duration
}

func (c *consoleConfig) flags(fs *flag.FlagSet) {
	fs.BoolVar(&c.enabled, "console", true, "serve the web console at /console/ (KILN_CONSOLE)")
	fs.DurationVar(&c.sessionTTL, "console-session-ttl", console.DefaultSessionTTL, "how long a console sign-in lasts under --auth strict (KILN_CONSOLE_SESSION_TTL)")
}

// consoleSessionKey derives the key that signs console sessions from the
// data directory's token key: nodes that share token.key (as they must
// for pagination tokens) accept each other's sign-ins, and the console
// never signs with the very bytes pagination tokens use.
func consoleSessionKey(tokenKey []byte) []byte {
	m := hmac.New(sha256.New, tokenKey)
	m.Write([]byte("kiln console session key v1"))
	return m.Sum(nil)
}

// wireConsole mounts the console at /console/ on srv. It acts through
// srv.Invoke, so it gets the API's own validation and errors.
func wireConsole(cfg serveConfig, mode sigv4.Mode, principals map[string]sigv4.Principal, tokenKey []byte,
	st store.Store, builds *engine.Engine, svc *service.Service, srv *server.Server, guard *ecr.Guard, reg *registry.Registry,
	endpoint, registryHost string) error {
	if !cfg.console.enabled {
		return nil
	}
	if cfg.console.sessionTTL <= 0 {
		return fmt.Errorf("--console-session-ttl %s: want a positive duration", cfg.console.sessionTTL)
	}
	h, err := console.New(console.Config{
		API:        srv,
		Account:    cfg.account,
		SignIn:     mode == sigv4.ModeStrict,
		Principals: principals,
		SessionKey: consoleSessionKey(tokenKey),
		SignOuts:   console.StoreSignOuts{Store: st, Region: cfg.region},
		SessionTTL: cfg.console.sessionTTL,
		Region:     cfg.region,
		Endpoint:   endpoint,
		AMIs:       &ami.Catalogue{Store: st, Home: cfg.region, DataDir: cfg.dataDir},
		Registry:   &console.RegistrySource{Guard: guard, Registry: reg, Host: registryHost},
		Logs:       builds,
		Runs:       svc,
		Log:        srv.Log,
	})
	if err != nil {
		return err
	}
	srv.Extra[console.Prefix] = h
	return nil
}
