// Package console is kiln's web console: server-rendered pages under
// /console/ that show and change an account's Image Builder resources.
//
// It holds no rules of its own. Every read and write goes through the same
// operation handlers as the API (Config.API, server.Server.Invoke), so a
// form is validated, refused and answered with exactly the codes and
// messages a signed API call gets, and a page lists exactly what the API
// would list for the account: its own resources plus shared and
// Amazon-owned ones.
//
// Everything it serves is embedded: html/template pages (one layout and one
// file per page) and a little hand-written CSS and JavaScript. It reaches
// no network at run time.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/awsapi"
	callerctx "github.com/kiln-build/kiln/internal/caller"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/sigv4"
	"github.com/kiln-build/kiln/internal/store"
)

// Prefix is where kiln serve mounts the console.
const Prefix = "/console/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Invoker runs one Image Builder operation for an account through the API's
// own validation and handler (server.Server.Invoke implements it).
type Invoker interface {
	Invoke(ctx context.Context, account, op string, in awsapi.Input) (any, error)
}

// LogWriter streams an image build's step logs to w, following them until
// the build ends when follow is set; canSee decides whether the account may
// read the image's logs. The build engine implements it (as for
// kilnapi.LogWriter).
type LogWriter interface {
	WriteLogs(ctx context.Context, w io.Writer, image string, follow bool, canSee func(store.Resource) bool) error
}

// RunLister lists a pipeline's runs for the account that owns it. The
// service implements it.
type RunLister interface {
	PipelineRuns(ctx context.Context, account, pipeline string) ([]service.PipelineRun, error)
}

// Config is what the console serves from. Sources left nil leave their
// parts of the pages out.
type Config struct {
	// API runs Image Builder operations; required.
	API Invoker
	// Account is the account the console acts as when there is no sign-in
	// (loopback and open modes).
	Account string
	// Principals, when SignIn is set, are the credentials a user signs in
	// with (those kiln serve loaded from --credentials).
	SignIn     bool
	Principals map[string]sigv4.Principal
	// SessionKey signs sessions and CSRF tokens. Nodes given the same key
	// accept each other's sessions. At least 32 bytes.
	SessionKey []byte
	// SignOuts, when set, shares sign-outs with the other nodes (kiln
	// serve passes StoreSignOuts); without it a sign-out holds on this
	// node only.
	SignOuts SignOuts
	// SessionTTL is how long a sign-in lasts (DefaultSessionTTL when zero).
	SessionTTL time.Duration
	// Region is shown in the header and used to build ARNs.
	Region string
	// Endpoint is the API endpoint shown to users (http://127.0.0.1:8080).
	Endpoint string

	AMIs     *ami.Catalogue  // amis.go
	Registry *RegistrySource // registry.go
	Logs     LogWriter       // images.go (consolerun)
	Runs     RunLister       // pipelines.go (consolerun)
	// Now is the clock for the dashboard's next runs (time.Now when nil).
	Now func() time.Time
	Log *slog.Logger
}

// DefaultSessionTTL bounds a sign-in: long enough for a working day.
const DefaultSessionTTL = 12 * time.Hour

// handler is the console. Page files add their routes in register* methods.
type handler struct {
	Config
	pages    map[string]*template.Template
	sessions *sessions
	mux      *http.ServeMux
}

// New returns the console's handler, to be mounted at Prefix.
func New(c Config) (http.Handler, error) {
	if c.API == nil {
		return nil, errors.New("console: Config.API is required")
	}
	if len(c.SessionKey) < 32 {
		return nil, errors.New("console: Config.SessionKey must be at least 32 bytes")
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	h := &handler{Config: c, pages: pages, sessions: newSessions(c.SessionKey, c.SessionTTL)}
	h.mux = http.NewServeMux()
	h.routes(h.mux)
	return h.guard(h.mux), nil
}

// routes registers every page: one register call per page file.
func (h *handler) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", staticHandler(static)))
	h.registerSession(mux)
	h.registerDashboard(mux)
	h.registerComponents(mux)
	h.registerRecipes(mux)
	h.registerPipelines(mux)
	h.registerImages(mux)
	h.registerRegistry(mux)
	h.registerAMIs(mux)
}

// staticHandler serves the embedded assets with a short cache lifetime:
// they change only with the binary.
func staticHandler(root fs.FS) http.Handler {
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		files.ServeHTTP(w, r)
	})
}

// parsePages builds one template set per page: the layout, the shared
// partials and that page's file, so every page can define the same block
// names ("content").
func parsePages() (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		file := strings.TrimPrefix(name, "templates/")
		if file == "layout.html" || file == "partials.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, name)
		if err != nil {
			return nil, fmt.Errorf("console: %s: %w", file, err)
		}
		pages[file] = t
	}
	return pages, nil
}

// Page is what every template receives: the layout's fields and the
// page's own Data.
type Page struct {
	Title   string
	Nav     string // the nav entry to mark current
	Account string
	SignIn  bool   // strict mode: show the account and a sign-out button
	CSRF    string // the hidden csrf input of every POST form
	Region  string
	Data    any
}

// render writes the page tmpl (a file in templates/) inside the layout.
// nav names the nav entry to mark as current ("dashboard", "components",
// "recipes", "pipelines", "images", "registry", "amis").
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, tmpl, title, nav string, data any) {
	t := h.pages[tmpl]
	if t == nil {
		h.internal(w, r, fmt.Errorf("no template %s", tmpl))
		return
	}
	p := Page{Title: title, Nav: nav, Account: accountOf(r), SignIn: h.SignIn, CSRF: csrfOf(r), Region: h.Region, Data: data}
	var buf strings.Builder
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		h.internal(w, r, fmt.Errorf("rendering %s: %w", tmpl, err))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, buf.String())
}

// internal answers an unexpected error: the text goes to the log, the user
// sees a generic page, since the text can name paths or other accounts.
func (h *handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.Log.Error("console", "path", r.URL.Path, "err", err)
	http.Error(w, "An internal error occurred; the server log has the details.", http.StatusInternalServerError)
}

// invoke runs op for the request's account through the API's handlers.
func (h *handler) invoke(r *http.Request, op string, in awsapi.Input) (any, error) {
	return h.API.Invoke(r.Context(), accountOf(r), op, in)
}

// call runs op and returns its output as the API's response shape Out.
// Some handlers answer with their own types (a response with extra
// computed members); those reach Out through JSON, exactly as they reach
// an SDK over the wire.
func call[Out any](h *handler, r *http.Request, op string, in awsapi.Input) (*Out, error) {
	out, err := h.invoke(r, op, in)
	if err != nil {
		return nil, err
	}
	if o, ok := out.(*Out); ok {
		return o, nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	o := new(Out)
	if err := json.Unmarshal(b, o); err != nil {
		return nil, fmt.Errorf("%s answered %T, not %T: %w", op, out, o, err)
	}
	return o, nil
}

// notFound renders the not-found page with a message.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	h.render(w, r, http.StatusNotFound, "error.html", "Not found", "", ErrorView{Message: msg})
}

// ErrorView is the data of error.html.
type ErrorView struct {
	Code    string
	Message string
}

// showError renders an API error (its code and message) or an internal one.
func (h *handler) showError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *awsapi.Error
	if errors.As(err, &apiErr) {
		h.render(w, r, apiErr.Status(), "error.html", apiErr.Code, "", ErrorView{Code: apiErr.Code, Message: apiErr.Message})
		return
	}
	h.internal(w, r, err)
}

// accountOf is the account the request acts as (guard put it there).
func accountOf(r *http.Request) string {
	a, _ := callerctx.Account(r.Context())
	return a
}
