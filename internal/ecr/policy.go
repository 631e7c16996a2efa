package ecr

import "github.com/kiln-build/kiln/internal/policy"

// parsePolicy parses a repository policy: IAM's grammar, ecr: actions
// only, and nothing kiln cannot evaluate (package policy refuses it with
// an error naming the element).
func parsePolicy(doc string) (*policy.Policy, error) {
	return policy.ParseWith(doc, policy.Options{Services: []string{"ecr"}})
}

// isAccountID reports whether s is a 12-digit account ID.
func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
