// Package awsapi is kiln's wire layer for the EC2 Image Builder API
// (restJson1): one Go struct per structure shape of the API model, the enum
// values, the constraint checks (Validate), the operation table with HTTP
// bindings, and the small codec that turns an HTTP request into an input
// struct.
//
// Almost everything here is generated from the aws-sdk-go v1.55.7 model
// merged with gen/overlay.json (the four operations and few members that
// only the current aws-sdk-go-v2 client knows); see gen/main.go. The
// hand-written files are this one, codec.go, errors.go, timestamp.go and
// validate.go.
package awsapi

import (
	"net/url"
	"strings"
)

// Operation describes one API operation as the model binds it to HTTP.
type Operation struct {
	Name        string // "CreateComponent"
	Method      string // "PUT"
	Path        string // "/CreateComponent" or "/tags/{resourceArn}"
	InputShape  string // "CreateComponentRequest"
	OutputShape string // "CreateComponentResponse"
	// Errors lists the error codes the operation declares, in model order.
	Errors []string
	// NewInput returns a pointer to a zero input struct.
	NewInput func() Input
	// InV1Model is false for the operations that come from the overlay
	// (RetryImage, DistributeImage, ImportDiskImage, GetMarketplaceResource).
	InV1Model bool
	// OutputHasRequestID reports whether the output shape has a requestId
	// member; its struct then has a SetRequestId method.
	OutputHasRequestID bool
}

// Input is implemented by every request struct.
type Input interface {
	// Validate checks the model's constraints (required members, lengths,
	// patterns, ranges, enums) and returns the first violation as an
	// *Error with code InvalidParameterValueException.
	Validate() error
}

// httpBound is implemented by input structs with members bound to the
// query string, the URI or a header; the generated bindHTTP fills them.
type httpBound interface {
	bindHTTP(p *httpParams) error
}

var operationsByName = func() map[string]*Operation {
	m := make(map[string]*Operation, len(Operations))
	for _, op := range Operations {
		m[op.Name] = op
	}
	return m
}()

// OperationByName returns the operation called name, or nil.
func OperationByName(name string) *Operation {
	return operationsByName[name]
}

// route is one operation's path split into segments; a segment of the form
// {label} matches one non-empty, still-escaped path segment.
type route struct {
	op       *Operation
	segments []string
}

var routes = func() []route {
	rs := make([]route, 0, len(Operations))
	for _, op := range Operations {
		rs = append(rs, route{op: op, segments: strings.Split(op.Path, "/")})
	}
	return rs
}()

// Route finds the operation for an HTTP method and raw (still
// percent-encoded) URL path, as in r.URL.EscapedPath(). Labels such as
// resourceArn in /tags/{resourceArn} come back percent-decoded. ok is false
// when no operation has that path, or when one does but with another method.
func Route(method, path string) (op *Operation, labels map[string]string, ok bool) {
	segs := strings.Split(path, "/")
	for _, rt := range routes {
		if rt.op.Method != method || len(rt.segments) != len(segs) {
			continue
		}
		var got map[string]string
		match := true
		for i, want := range rt.segments {
			if name, isLabel := labelName(want); isLabel {
				v, err := url.PathUnescape(segs[i])
				if err != nil || v == "" {
					match = false
					break
				}
				if got == nil {
					got = make(map[string]string, 1)
				}
				got[name] = v
				continue
			}
			if segs[i] != want {
				match = false
				break
			}
		}
		if match {
			return rt.op, got, true
		}
	}
	return nil, nil, false
}

func labelName(seg string) (string, bool) {
	if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
		return seg[1 : len(seg)-1], true
	}
	return "", false
}
