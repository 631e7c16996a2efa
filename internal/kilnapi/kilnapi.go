// Package kilnapi serves kiln's own HTTP endpoints, the ones outside the
// Image Builder API that kiln's CLI calls (kiln ami, kiln logs, kiln
// pipeline runs, kiln lifecycle run), under /kiln/v1/.
//
// Every request is signed like an API call (SigV4 for service
// imagebuilder) and checked once, by the middleware in front of the
// router, before any route is chosen: a handler here always has a caller,
// and an unsigned request learns nothing, not even which paths exist. The
// routes are http.ServeMux method and path patterns, so a wrong method is
// a 405 and an unknown path a 404 without code of their own.
//
// What a caller may see is decided by the packages that own the data
// (ami.Catalogue, the engine's log reader, the service's pipeline runs);
// this package turns their answers into HTTP and never says 403 for a
// resource: another account's private AMI, image or pipeline answers
// exactly like one that does not exist.
package kilnapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	callerctx "github.com/kiln-build/kiln/internal/caller"
	"github.com/kiln-build/kiln/internal/server"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store"
)

// The paths the CLI calls. Prefix is what the handler is mounted on
// (server.Server.Extra); the others are below it.
const (
	Prefix           = "/kiln/v1/"
	AMIsPath         = "/kiln/v1/amis"
	AMIExportPath    = "/kiln/v1/amis/export"
	LogsPath         = "/kiln/v1/logs"
	PipelineRunsPath = "/kiln/v1/pipeline-runs"
	VulnDBImportPath = "/kiln/v1/vulndb/import" // vulndb.go
	VulnDBStatusPath = "/kiln/v1/vulndb/status"
)

// LogWriter streams an image build's step logs to w, following them until
// the build ends when follow is set; canSee decides whether the caller may
// read the image's logs (false answers like an unknown image). The build
// engine implements it.
type LogWriter interface {
	WriteLogs(ctx context.Context, w io.Writer, image string, follow bool, canSee func(store.Resource) bool) error
}

// RunLister lists a pipeline's runs for the account that owns it. The
// service implements it.
type RunLister interface {
	PipelineRuns(ctx context.Context, account, pipeline string) ([]service.PipelineRun, error)
}

// Config is what the endpoints serve from. A nil source leaves its
// endpoints out (they answer 404).
type Config struct {
	Verifier *sigv4.Verifier
	AMIs     *ami.Catalogue
	Logs     LogWriter
	Runs     RunLister
	// VulnDB serves kiln vulndb (vulndb.go).
	VulnDB *VulnDBConfig
	// Lifecycle runs lifecycle policies (lifecycle.go).
	Lifecycle LifecycleRunner
	// Log receives internal errors, which clients see only as a request
	// ID (server.InternalError).
	Log *slog.Logger
}

// PipelineRunsResponse is the JSON body of PipelineRunsPath.
type PipelineRunsResponse struct {
	Runs []service.PipelineRun `json:"runs"`
}

// New returns the handler for everything under Prefix.
func New(c Config) http.Handler {
	h := &handlers{Config: c}
	mux := http.NewServeMux()
	if c.AMIs != nil {
		mux.HandleFunc("GET "+AMIsPath, h.listAMIs)
		mux.HandleFunc("DELETE "+AMIsPath, h.deleteAMI)
		mux.HandleFunc("GET "+AMIExportPath, h.exportAMI)
	}
	if c.Logs != nil {
		mux.HandleFunc("GET "+LogsPath, h.logs)
	}
	if c.Runs != nil {
		mux.HandleFunc("GET "+PipelineRunsPath, h.pipelineRuns)
	}
	if c.Lifecycle != nil {
		mux.HandleFunc("POST "+LifecycleRunsPath, h.runLifecycle)
	}
	if c.VulnDB != nil {
		mux.HandleFunc("GET "+VulnDBStatusPath, h.vulnDBStatus)
		// The upload checks its own signature, streaming (vulndb.go);
		// every other request goes through signed.
		root := http.NewServeMux()
		root.Handle("/", h.signed(mux))
		root.HandleFunc("POST "+VulnDBImportPath, h.vulnDBImport)
		return root
	}
	return h.signed(mux)
}

type handlers struct{ Config }

// signed lets through only requests whose SigV4 signature the Verifier
// accepts, with the caller's account in the context (caller.Account). The
// endpoints take no body, so the signature covers the empty payload.
func (h *handlers) signed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := h.Verifier.Verify(r, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(callerctx.WithAccount(r.Context(), c.Account)))
	})
}

// account is the verified caller's account; signed put it there.
func account(r *http.Request) string {
	a, _ := callerctx.Account(r.Context())
	return a
}

// fail renders err: an API error with its status (and code when withCode,
// as `kiln pipeline runs` prints it), anything else as an internal error
// whose text stays in the log.
func (h *handlers) fail(w http.ResponseWriter, r *http.Request, err error, withCode bool) {
	var apiErr *awsapi.Error
	if errors.As(err, &apiErr) {
		msg := apiErr.Message
		if withCode {
			msg = apiErr.Code + ": " + msg
		}
		http.Error(w, msg, apiErr.Status())
		return
	}
	server.InternalError(w, r, h.Log, err)
}
