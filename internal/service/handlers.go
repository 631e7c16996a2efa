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
// Each resource family registers its own operations in its own file.
func (s *Service) Handlers() map[string]Handler {
	all := map[string]Handler{}
	for _, family := range []map[string]Handler{
		s.componentHandlers(),
		s.taggingHandlers(),
		s.recipeHandlers(),
		s.containerRecipeHandlers(),
		s.infrastructureHandlers(),
		s.distributionHandlers(),
		s.lifecycleHandlers(),
		s.lifecycleExecutionHandlers(),
		s.pipelineHandlers(),
		s.pipelineRunHandlers(),
		s.workflowHandlers(),
		s.imageHandlers(),
		s.imageBuildHandlers(),
		s.distributeImageHandlers(),
		s.machineImageHandlers(),
		s.imageExecutionHandlers(),
		s.marketplaceHandlers(),
		s.scanFindingHandlers(),
	} {
		for name, h := range family {
			if _, dup := all[name]; dup {
				panic("service: operation " + name + " registered twice")
			}
			all[name] = h
		}
	}
	return all
}
