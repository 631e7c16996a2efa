package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
	callerctx "github.com/kiln-build/kiln/internal/caller"
)

// TestInvoke: the console's path into the handlers validates the input as
// the wire does (with the tagging operations' code), hands the handler
// the account in its context, and counts every call in /metrics.
func TestInvoke(t *testing.T) {
	var seen []string
	record := func(ctx context.Context, account string, in awsapi.Input) (any, error) {
		ctxAccount, _ := callerctx.Account(ctx)
		seen = append(seen, account+"/"+ctxAccount)
		return &awsapi.ListComponentsResponse{}, nil
	}
	s := &Server{Handlers: map[string]HandlerFunc{
		awsapi.OpCreateComponent: record, awsapi.OpTagResource: record, awsapi.OpListComponents: record,
	}}
	tests := []struct {
		name, op string
		in       awsapi.Input
		code     string // "" for success
	}{
		{"valid", awsapi.OpListComponents, &awsapi.ListComponentsRequest{}, ""},
		{"model constraint", awsapi.OpCreateComponent, &awsapi.CreateComponentRequest{Name: "x"}, awsapi.ErrCodeInvalidParameterValueException},
		{"tagging op", awsapi.OpTagResource, &awsapi.TagResourceRequest{ResourceArn: "nope"}, awsapi.ErrCodeInvalidParameterException},
		{"no handler", awsapi.OpDeleteImage, &awsapi.DeleteImageRequest{}, awsapi.ErrCodeInvalidRequestException},
		{"no input", awsapi.OpListComponents, nil, awsapi.ErrCodeInvalidRequestException},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			out, err := s.Invoke(context.Background(), "111122223333", tt.op, tt.in)
			var apiErr *awsapi.Error
			switch {
			case tt.code == "" && (err != nil || out == nil || len(seen) != 1 || seen[0] != "111122223333/111122223333"):
				t.Errorf("out %v, err %v, handler saw %v", out, err, seen)
			case tt.code != "" && (!errors.As(err, &apiErr) || apiErr.Code != tt.code || len(seen) != 0):
				t.Errorf("err %v, want %s before the handler (handler saw %v)", err, tt.code, seen)
			}
		})
	}
	var b strings.Builder
	s.metrics.write(&b)
	for _, want := range []string{
		`kiln_api_requests_total{operation="ListComponents",code="OK"} 1`,
		`kiln_api_requests_total{operation="CreateComponent",code="InvalidParameterValueException"} 1`,
		`kiln_api_requests_total{operation="TagResource",code="InvalidParameterException"} 1`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, b.String())
		}
	}
}
