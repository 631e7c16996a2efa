// Package server is kiln's HTTP front door: it routes Image Builder API
// requests by the generated operation table, authenticates them with SigV4,
// decodes and validates their input, hands them to the service and renders
// the answer or the error exactly as restJson1 clients expect. It holds no
// business rules; those live in package service.
package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	callerctx "github.com/kiln-build/kiln/internal/caller"
	"github.com/kiln-build/kiln/internal/sigv4"
)

// maxBodyBytes bounds a request body. The largest legitimate inputs are
// inline documents (16,000 characters) and resource policies (30,000), so a
// megabyte leaves ample room while keeping a misbehaving client cheap.
const maxBodyBytes = 1 << 20

// HandlerFunc serves one operation for the authenticated account: it
// receives the decoded, validated input and returns the output shape (a pointer to an awsapi response
// struct) or an error; *awsapi.Error values are rendered with their code,
// anything else as ServiceException.
type HandlerFunc func(ctx context.Context, account string, in awsapi.Input) (any, error)

// Server is the http.Handler for the whole listener.
type Server struct {
	// Handlers maps operation names to their implementation. Operations in
	// awsapi.Operations without a handler answer InvalidRequestException
	// naming the operation.
	Handlers map[string]HandlerFunc
	Verifier *sigv4.Verifier
	Log      *slog.Logger
	// Healthy reports whether the store is usable, for /healthz.
	Healthy func(ctx context.Context) error
	// HealthChecks, when set, are checked by /healthz after Healthy, each
	// answered on a line of its own ("bucket: ok"), so a node behind a
	// load balancer leaves it when it cannot reach a part every request
	// needs, and an operator reading the answer sees which.
	HealthChecks []HealthCheck
	// Extra serves paths outside the API, such as the registry's /v2/.
	// A key ending in "/" serves that subtree; any other key serves the
	// path itself and everything below it ("/kiln/v1/amis" also serves
	// "/kiln/v1/amis/export"). Keys become http.ServeMux patterns the
	// first time a request arrives, so set them all before serving; "/"
	// belongs to the Image Builder API and cannot be a key (see Targets).
	Extra map[string]http.Handler
	// Targets serves awsJson requests (POST / with X-Amz-Target:
	// <Prefix>.<Operation>) by prefix, such as
	// "AmazonEC2ContainerRegistry_V20150921" for ECR. Image Builder's own
	// requests carry no X-Amz-Target and never reach it; a target with no
	// entry falls through to the Image Builder API, which answers
	// UnknownOperationException.
	Targets map[string]http.Handler
	// Hosts, when set, is the allow-list of Host headers: requests naming
	// any other host are refused before routing (see HostAllowList).
	Hosts *HostAllowList
	// MetricsAuth makes /metrics answer only a signed GET by a principal
	// the Verifier knows, or a request bearing MetricsToken.
	MetricsAuth  bool
	MetricsToken string
	// MoreMetrics, when set, writes metrics of other parts of kiln (image
	// scans) after the server's own, in the same exposition.
	MoreMetrics func(io.Writer)
	// BodyTimeout bounds how long an API request body may take to arrive
	// (DefaultBodyTimeout when zero). UploadTimeout bounds the body of any
	// other request, such as a registry blob upload (DefaultUploadTimeout
	// when zero); such a body must also never stall longer than
	// BodyTimeout. See deadlineBody for why these are per request rather
	// than http.Server.ReadTimeout.
	BodyTimeout   time.Duration
	UploadTimeout time.Duration

	muxOnce sync.Once
	mux     *http.ServeMux
	metrics metrics
	pending atomic.Int64 // bytes reserved by bodies being read (readBody)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Hosts != nil && !s.Hosts.Allows(r.Host) {
		s.refuseHost(w, r)
		return
	}
	s.muxOnce.Do(s.buildMux)
	s.mux.ServeHTTP(w, r)
}

// buildMux turns the fixed endpoints, Extra and the API into one
// http.ServeMux, so the most specific pattern wins whatever the order of
// the map.
func (s *Server) buildMux() {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", s.serveHealth)
	mux.HandleFunc("/metrics", s.serveMetrics)
	for prefix, h := range s.Extra {
		h := s.withUploadDeadline(h)
		mux.Handle(prefix, h)
		if !strings.HasSuffix(prefix, "/") {
			mux.Handle(prefix+"/", h)
		}
	}
	mux.HandleFunc("/", s.serveRoot)
	s.mux = mux
}

// serveRoot sends awsJson requests to their Targets handler and
// everything else to the Image Builder API.
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		prefix, _, _ := strings.Cut(target, ".")
		if h := s.Targets[prefix]; h != nil {
			s.withUploadDeadline(h).ServeHTTP(w, r)
			return
		}
	}
	s.serveAPI(w, r)
}

// HealthCheck is one part /healthz reports on.
type HealthCheck struct {
	Name  string // "store", "bucket"
	Check func(ctx context.Context) error
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if len(s.HealthChecks) > 0 {
		s.serveHealthChecks(w, r)
		return
	}
	if s.Healthy != nil {
		if err := s.Healthy(r.Context()); err != nil {
			// The reason stays in the log: /healthz is unauthenticated.
			if s.Log != nil {
				s.Log.Error("health check failed", "err", err)
			}
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ok\n")
}

// serveHealthChecks runs Healthy (as "store") and every HealthChecks entry
// at once, and answers 503 when any failed. The reasons stay in the log:
// /healthz is unauthenticated.
func (s *Server) serveHealthChecks(w http.ResponseWriter, r *http.Request) {
	checks := s.HealthChecks
	if s.Healthy != nil {
		checks = append([]HealthCheck{{Name: "store", Check: s.Healthy}}, checks...)
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { errs[i] = c.Check(r.Context()) })
	}
	wg.Wait()
	var body strings.Builder
	status := http.StatusOK
	for i, c := range checks {
		if errs[i] != nil {
			status = http.StatusServiceUnavailable
			if s.Log != nil {
				s.Log.Error("health check failed", "part", c.Name, "err", errs[i])
			}
			fmt.Fprintf(&body, "%s: unavailable\n", c.Name)
			continue
		}
		fmt.Fprintf(&body, "%s: ok\n", c.Name)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body.String())
}

// serveMetrics writes the metrics, after authentication when MetricsAuth
// is set: operation names and error counts tell an outsider what the
// accounts are doing.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.MetricsAuth && !s.bearsMetricsToken(r) {
		if _, err := s.Verifier.Verify(r, nil); err != nil {
			s.writeError(w, r, "", err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	s.metrics.write(w)
	if s.MoreMetrics != nil {
		s.MoreMetrics(w)
	}
}

func (s *Server) bearsMetricsToken(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.MetricsToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.MetricsToken)) == 1
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	requestID := newRequestID()
	w.Header().Set("x-amzn-RequestId", requestID)

	opName := "unknown"
	code := ""
	defer func() {
		elapsed := time.Since(start)
		s.metrics.observe(opName, code, elapsed)
		if s.Log != nil {
			s.Log.LogAttrs(r.Context(), slog.LevelDebug, "api",
				slog.String("op", opName), slog.String("code", code),
				slog.String("requestId", requestID), slog.Duration("elapsed", elapsed))
		}
	}()
	bodyRead := false
	fail := func(err error) {
		if !bodyRead && r.ContentLength != 0 {
			// Refused with the body unread: close the connection rather
			// than let the server drain a body nobody will use.
			w.Header().Set("Connection", "close")
		}
		code = s.writeError(w, r, requestID, err)
	}

	op, labels, ok := awsapi.Route(r.Method, r.URL.EscapedPath())
	if !ok {
		fail(awsapi.Errorf(awsapi.ErrCodeUnknownOperationException, "no operation matches %s %s", r.Method, r.URL.Path))
		return
	}
	opName = op.Name

	// The headers are verified before a byte of the body is read, and the
	// body is read under a size limit and a deadline: a stranger's stalled
	// or oversized body is never buffered.
	pending, err := s.Verifier.Begin(r)
	if err != nil {
		fail(err)
		return
	}
	if r.ContentLength > maxBodyBytes {
		fail(awsapi.Errorf(op.DeclaredOr(awsapi.ErrCodeInvalidRequestException, awsapi.ErrCodeClientException), "the request body exceeds %d bytes", maxBodyBytes))
		return
	}
	body, release, err := s.readBody(w, r)
	if err != nil {
		release()
		fail(err)
		return
	}
	bodyRead = true
	caller, err := pending.Finish(body)
	release() // verified or refused: the budget is for bodies yet unchecked
	if err != nil {
		fail(err)
		return
	}

	h := s.Handlers[op.Name]
	if h == nil {
		fail(awsapi.Errorf(op.DeclaredOr(awsapi.ErrCodeInvalidRequestException, awsapi.ErrCodeClientException), "kiln does not support the operation %s yet", op.Name))
		return
	}
	in, err := awsapi.DecodeRequest(op, r, body, labels)
	if err != nil {
		fail(err)
		return
	}
	if err := in.Validate(); err != nil {
		if isTaggingOp(op.Name) {
			err = asInvalidParameter(err)
		}
		fail(err)
		return
	}

	out, err := h(callerctx.WithAccount(r.Context(), caller.Account), caller.Account, in)
	if err != nil {
		fail(err)
		return
	}
	if setter, ok := out.(interface{ SetRequestId(string) }); ok {
		setter.SetRequestId(requestID)
	}
	var payload []byte
	if pre, ok := out.(jsonAppender); ok {
		payload, err = pre.AppendJSON(nil)
	} else {
		payload, err = json.Marshal(out)
	}
	if err != nil {
		fail(err)
		return
	}
	code = "OK"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(payload)
}

// jsonAppender is an answer that writes its own JSON: one that splices
// JSON it already holds (a stored document, cached list entries), which
// encoding/json would re-validate byte by byte.
type jsonAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// isTaggingOp reports whether op is one of the tagging trio, which declare
// InvalidParameterException rather than InvalidParameterValueException.
func isTaggingOp(op string) bool {
	return op == awsapi.OpTagResource || op == awsapi.OpUntagResource || op == awsapi.OpListTagsForResource
}

func asInvalidParameter(err error) error {
	var apiErr *awsapi.Error
	if errors.As(err, &apiErr) && apiErr.Code == awsapi.ErrCodeInvalidParameterValueException {
		return &awsapi.Error{Code: awsapi.ErrCodeInvalidParameterException, Message: apiErr.Message}
	}
	return err
}

// writeError renders err the way restJson1 clients parse it: the code in
// X-Amzn-ErrorType and in the body's __type, the text in message. An error
// that is not an API error is internal: its text goes to the log with the
// request ID, and the client gets only the request ID to quote, since the
// text can name paths, SQL or another account's resources.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, requestID string, err error) string {
	code, message, status := classify(err)
	if status >= 500 && s.Log != nil {
		s.Log.Error("request failed", "path", r.URL.Path, "requestId", requestID, "err", err)
	}
	if code == awsapi.ErrCodeServiceException && !isAPIError(err) {
		message = "An internal error occurred."
		if requestID != "" {
			message += " Request ID: " + requestID
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	payload, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{code, message})
	w.Write(payload)
	return code
}

func isAPIError(err error) bool {
	var apiErr *awsapi.Error
	return errors.As(err, &apiErr)
}

func classify(err error) (code, message string, status int) {
	var apiErr *awsapi.Error
	if errors.As(err, &apiErr) {
		return apiErr.Code, apiErr.Message, apiErr.Status()
	}
	var sigErr *sigv4.Error
	if errors.As(err, &sigErr) {
		return sigErr.Code, sigErr.Message, sigErr.Status
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return awsapi.ErrCodeServiceUnavailableException, "the request was cancelled before it completed", http.StatusServiceUnavailable
	}
	return awsapi.ErrCodeServiceException, "", http.StatusInternalServerError
}
