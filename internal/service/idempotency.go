package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

// idempotent runs create at most once per (account, operation, clientToken)
// and inside the caller's transaction, so the resource and the remembered
// answer are committed together. A repeat with identical parameters gets
// the first answer back in out; a repeat with other parameters gets
// IdempotentParameterMismatchException. Tokens are scoped per operation,
// as EC2's idempotency is.
func idempotent(ctx context.Context, tx store.Tx, account, operation, token string, req any, out any, create func() error) error {
	hash, err := requestHash(req)
	if err != nil {
		return err
	}
	seen, err := tx.Token(ctx, account, operation, token)
	switch {
	case err == nil:
		if seen.RequestHash != hash {
			code := awsapi.OperationByName(operation).DeclaredOr(awsapi.ErrCodeIdempotentParameterMismatchException, awsapi.ErrCodeClientException)
			return awsapi.Errorf(code,
				"The client token '%s' was already used with different parameters for %s.", token, operation)
		}
		return json.Unmarshal(seen.Response, out)
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := create(); err != nil {
		return err
	}
	resp, err := json.Marshal(out)
	if err != nil {
		return err
	}
	return tx.PutToken(ctx, store.Token{
		Account: account, Operation: operation, Token: token,
		RequestHash: hash, Response: resp,
	})
}

// requestHash identifies a request's parameters. encoding/json writes
// struct fields in declaration order and map keys sorted, so equal
// requests hash equally.
func requestHash(req any) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
