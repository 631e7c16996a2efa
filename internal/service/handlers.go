package service

import (
	"context"
	"fmt"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// Handler serves one operation for an authenticated account.
type Handler func(ctx context.Context, account string, in awsapi.Input) (any, error)

// handle adapts a typed operation method to a Handler.
func handle[In awsapi.Input, Out any](f func(context.Context, string, In) (Out, error)) Handler {
	return func(ctx context.Context, account string, in awsapi.Input) (any, error) {
		typed, ok := in.(In)
		if !ok {
			return nil, fmt.Errorf("operation input is %T, want %T", in, typed)
		}
		return f(ctx, account, typed)
	}
}

// Handlers returns the operations this service implements, by name.
// Operations not listed here are answered by the server as not supported.
func (s *Service) Handlers() map[string]Handler {
	return map[string]Handler{
		"CreateComponent":            handle(s.CreateComponent),
		"GetComponent":               handle(s.GetComponent),
		"ListComponents":             handle(s.ListComponents),
		"ListComponentBuildVersions": handle(s.ListComponentBuildVersions),
		"DeleteComponent":            handle(s.DeleteComponent),
		"ImportComponent":            handle(s.ImportComponent),
		"PutComponentPolicy":         handle(s.PutComponentPolicy),
		"GetComponentPolicy":         handle(s.GetComponentPolicy),
		"TagResource":                handle(s.TagResource),
		"UntagResource":              handle(s.UntagResource),
		"ListTagsForResource":        handle(s.ListTagsForResource),
	}
}
