// Package caller carries, in a context, the account a piece of work is
// done for: the signed caller of an API request, or the owner of the image
// a build makes. Code far from the request (kiln's own S3 client, for
// one) uses it to decide what that account may reach with credentials
// that are kiln's rather than the caller's.
package caller

import "context"

type accountKey struct{}

// WithAccount returns ctx carrying account.
func WithAccount(ctx context.Context, account string) context.Context {
	return context.WithValue(ctx, accountKey{}, account)
}

// Account returns the account ctx carries, if any.
func Account(ctx context.Context) (string, bool) {
	a, ok := ctx.Value(accountKey{}).(string)
	return a, ok && a != ""
}
