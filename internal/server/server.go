// Package server is kiln's HTTP front door: it routes Image Builder API
// requests by the generated operation table, authenticates them with SigV4,
// decodes and validates their input, hands them to the service and renders
// the answer or the error exactly as restJson1 clients expect. It holds no
// business rules; those live in package service.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
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
	// Extra serves paths outside the API, such as the registry's /v2/.
	Extra map[string]http.Handler
	// Targets serves other AWS APIs of the awsJson1_1 protocol on the same
	// listener (kiln's ECR): a POST / whose X-Amz-Target starts with a key
	// goes to its handler, which authenticates it itself.
	Targets map[string]http.Handler

	metrics metrics
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/healthz":
		s.serveHealth(w, r)
		return
	case r.URL.Path == "/metrics":
		s.metrics.write(w)
		return
	}
	if target := r.Header.Get("X-Amz-Target"); target != "" && r.Method == http.MethodPost && r.URL.Path == "/" {
		for prefix, h := range s.Targets {
			if strings.HasPrefix(target, prefix) {
				h.ServeHTTP(w, r)
				return
			}
		}
	}
	for prefix, h := range s.Extra {
		if strings.HasPrefix(r.URL.Path, prefix) {
			h.ServeHTTP(w, r)
			return
		}
	}
	s.serveAPI(w, r)
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if s.Healthy != nil {
		if err := s.Healthy(r.Context()); err != nil {
			http.Error(w, "store unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ok\n")
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
	fail := func(err error) {
		code = s.writeError(w, r, err)
	}

	op, labels, ok := awsapi.Route(r.Method, r.URL.EscapedPath())
	if !ok {
		fail(awsapi.Errorf("UnknownOperationException", "no operation matches %s %s", r.Method, r.URL.Path))
		return
	}
	opName = op.Name

	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		fail(awsapi.Errorf("SerializationException", "reading the request body: %v", err))
		return
	}
	if len(body) > maxBodyBytes {
		fail(awsapi.Errorf("InvalidRequestException", "the request body exceeds %d bytes", maxBodyBytes))
		return
	}

	caller, err := s.Verifier.Verify(r, body)
	if err != nil {
		fail(err)
		return
	}

	h := s.Handlers[op.Name]
	if h == nil {
		fail(awsapi.Errorf("InvalidRequestException", "kiln does not support the operation %s yet", op.Name))
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

	out, err := h(r.Context(), caller.Account, in)
	if err != nil {
		fail(err)
		return
	}
	if setter, ok := out.(interface{ SetRequestId(string) }); ok {
		setter.SetRequestId(requestID)
	}
	payload, err := json.Marshal(out)
	if err != nil {
		fail(err)
		return
	}
	code = "OK"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(payload)
}

// isTaggingOp reports whether op is one of the tagging trio, which declare
// InvalidParameterException rather than InvalidParameterValueException.
func isTaggingOp(op string) bool {
	return op == "TagResource" || op == "UntagResource" || op == "ListTagsForResource"
}

func asInvalidParameter(err error) error {
	var apiErr *awsapi.Error
	if errors.As(err, &apiErr) && apiErr.Code == "InvalidParameterValueException" {
		return &awsapi.Error{Code: "InvalidParameterException", Message: apiErr.Message}
	}
	return err
}

// writeError renders err the way restJson1 clients parse it: the code in
// X-Amzn-ErrorType and in the body's __type, the text in message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) string {
	code, message, status := classify(err)
	if status >= 500 && s.Log != nil {
		s.Log.Error("request failed", "path", r.URL.Path, "err", err)
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
		return "ServiceUnavailableException", "the request was cancelled before it completed", http.StatusServiceUnavailable
	}
	return "ServiceException", "internal error: " + err.Error(), http.StatusInternalServerError
}
