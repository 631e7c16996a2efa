package server

import (
	"context"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	callerctx "github.com/kiln-build/kiln/internal/caller"
)

// Invoke runs one Image Builder operation for account as if it had arrived
// signed on the wire: the input's model constraints are checked first (with
// the tagging operations' InvalidParameterException translation), then the
// operation's handler runs with the account in the context. The web console
// acts through it so that a form gets exactly the validation, error codes
// and messages the API gives, and its calls show in /metrics beside the
// API's. The caller is trusted to have authenticated account already.
func (s *Server) Invoke(ctx context.Context, account, op string, in awsapi.Input) (out any, err error) {
	start := time.Now()
	code := ""
	defer func() { s.metrics.observe(op, code, time.Since(start)) }()
	fail := func(e error) (any, error) {
		code, _, _ = classify(e)
		return nil, e
	}
	h := s.Handlers[op]
	if h == nil {
		return fail(awsapi.Errorf(awsapi.ErrCodeInvalidRequestException, "kiln does not support the operation %s yet", op))
	}
	if in == nil {
		return fail(awsapi.Errorf(awsapi.ErrCodeInvalidRequestException, "no input for the operation %s", op))
	}
	if err := in.Validate(); err != nil {
		if isTaggingOp(op) {
			err = asInvalidParameter(err)
		}
		return fail(err)
	}
	out, err = h(callerctx.WithAccount(ctx, account), account, in)
	if err != nil {
		return fail(err)
	}
	code = "OK"
	return out, nil
}
