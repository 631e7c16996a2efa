package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Error is a registry failure with its distribution-spec error code. The
// store's methods return these for conditions a client must be told about
// (unknown blob, bad digest, ...); errors.Is matches on Code, so callers
// can test against the Err* values below.
type Error struct {
	Code    string
	Message string
	// Status is the HTTP status the handler answers with; zero means the
	// code's usual status.
	Status int
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Is makes errors.Is(err, ErrBlobUnknown) true for any BLOB_UNKNOWN error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The error codes of the OCI distribution spec that this registry uses.
var (
	ErrBlobUnknown         = &Error{Code: "BLOB_UNKNOWN"}
	ErrBlobUploadInvalid   = &Error{Code: "BLOB_UPLOAD_INVALID"}
	ErrBlobUploadUnknown   = &Error{Code: "BLOB_UPLOAD_UNKNOWN"}
	ErrDigestInvalid       = &Error{Code: "DIGEST_INVALID"}
	ErrManifestBlobUnknown = &Error{Code: "MANIFEST_BLOB_UNKNOWN"}
	ErrManifestInvalid     = &Error{Code: "MANIFEST_INVALID"}
	ErrManifestUnknown     = &Error{Code: "MANIFEST_UNKNOWN"}
	ErrNameInvalid         = &Error{Code: "NAME_INVALID"}
	ErrNameUnknown         = &Error{Code: "NAME_UNKNOWN"}
	ErrSizeInvalid         = &Error{Code: "SIZE_INVALID"}
	ErrUnauthorized        = &Error{Code: "UNAUTHORIZED"}
	ErrUnsupported         = &Error{Code: "UNSUPPORTED"}
	ErrTagInvalid          = &Error{Code: "TAG_INVALID"}
	ErrDenied              = &Error{Code: "DENIED"}
)

// statusOf is each code's usual HTTP status.
var statusOf = map[string]int{
	"BLOB_UNKNOWN":          http.StatusNotFound,
	"BLOB_UPLOAD_INVALID":   http.StatusBadRequest,
	"BLOB_UPLOAD_UNKNOWN":   http.StatusNotFound,
	"DIGEST_INVALID":        http.StatusBadRequest,
	"MANIFEST_BLOB_UNKNOWN": http.StatusBadRequest,
	"MANIFEST_INVALID":      http.StatusBadRequest,
	"MANIFEST_UNKNOWN":      http.StatusNotFound,
	"NAME_INVALID":          http.StatusBadRequest,
	"NAME_UNKNOWN":          http.StatusNotFound,
	"SIZE_INVALID":          http.StatusBadRequest,
	"UNAUTHORIZED":          http.StatusUnauthorized,
	"UNSUPPORTED":           http.StatusMethodNotAllowed,
	"TAG_INVALID":           http.StatusBadRequest,
	"DENIED":                http.StatusForbidden,
}

// Errorf returns an error with kind's code and a formatted message, for
// guards that answer with the spec's codes.
func Errorf(kind *Error, format string, args ...any) *Error {
	return errorf(kind, format, args...)
}

func errorf(kind *Error, format string, args ...any) *Error {
	return &Error{Code: kind.Code, Message: fmt.Sprintf(format, args...)}
}

// withStatus returns a copy of e answered with a specific HTTP status.
func withStatus(e *Error, status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// writeError renders err as the spec's error body. Anything that is not
// an *Error is a server fault: its text is kept out of the response (it
// may hold paths) and reported as 500.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(errorBody{Errors: []errorEntry{{Code: "UNKNOWN", Message: "internal error"}}})
		return
	}
	status := e.Status
	if status == 0 {
		status = statusOf[e.Code]
	}
	if status == 0 {
		status = http.StatusBadRequest
	}
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		json.NewEncoder(w).Encode(errorBody{Errors: []errorEntry{{Code: e.Code, Message: msg}}})
	}
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}
