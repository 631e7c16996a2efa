package service

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/store"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   []string // principals indexed in SharedWith; nil when refused
		errHas string   // a substring of the refusal
	}{
		{"account list", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111111111111","arn:aws:iam::222222222222:root"]},"Action":["imagebuilder:GetComponent"]}]}`, []string{"111111111111", "222222222222"}, ""},
		{"single statement object and string action", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"333333333333"},"Action":"imagebuilder:GetComponent"}}`, []string{"333333333333"}, ""},
		{"public", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"imagebuilder:GetComponent"}]}`, []string{"*"}, ""},
		{"deny grants nothing", `{"Statement":[{"Effect":"Deny","Principal":{"AWS":"111111111111"},"Action":"imagebuilder:GetComponent"}]}`, []string{}, ""},
		{"not JSON", `nope`, nil, "not a JSON object"},
		{"no statements", `{"Statement":[]}`, nil, "Statement"},
		{"bad effect", `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"imagebuilder:GetComponent"}]}`, nil, "Statement[0].Effect"},
		{"foreign action", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`, nil, "Statement[0].Action[0]"},
		{"no action", `{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, nil, "Statement[0].Action"},
		{"bad principal", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"imagebuilder:GetComponent"}]}`, nil, "Statement[0].Principal.AWS[0]"},
		{"no principal", `{"Statement":[{"Effect":"Allow","Action":"imagebuilder:GetComponent"}]}`, nil, "Statement[0].Principal"},
		{"unsupported condition", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"imagebuilder:GetComponent","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`, nil, `Statement[0].Condition: operator "IpAddress" is not supported`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePolicy(tc.policy)
			if tc.errHas != "" {
				var apiErr *awsapi.Error
				if !errors.As(err, &apiErr) || apiErr.Code != "InvalidParameterValueException" || !strings.Contains(apiErr.Message, tc.errHas) {
					t.Fatalf("err = %v, want InvalidParameterValueException containing %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p := got.Principals(); !slices.Equal(p, tc.want) {
				t.Errorf("principals = %v, want %v", p, tc.want)
			}
		})
	}
}

// TestVisibleEvaluatesPolicy checks that sharing is the policy's
// decision, not its list of principals.
func TestVisibleEvaluatesPolicy(t *testing.T) {
	const (
		alice = "111111111111"
		bob   = "222222222222"
		carol = "333333333333"
		comp  = "arn:aws:imagebuilder:us-east-1:111111111111:component/app/1.0.0/1"
	)
	tests := []struct {
		name, policy string
		bobSees      bool
		carolSees    bool
		bobLists     bool
	}{
		{"allow all", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"imagebuilder:*"}}`, true, true, true},
		{"allow all, deny bob", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"imagebuilder:*"},{"Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"*"}]}`, false, true, false},
		{"resource mismatch", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:imagebuilder:us-east-1:111111111111:component/other/*"}}`, false, false, false},
		{"resource match", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:imagebuilder:us-east-1:111111111111:component/app/*"}}`, true, true, true},
		{"get only", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"imagebuilder:GetComponent"}}`, true, false, false},
		{"condition on account", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"333333333333"}}}}`, false, true, false},
		{"wrong kind's action", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"imagebuilder:GetImage"}}`, false, false, false},
		{"unparsable stored policy fails closed", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}}}`, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := store.Resource{ARN: comp, Kind: kindComponent, Account: alice, Policy: tc.policy, SharedWith: []string{"*"}}
			if got := visible(r, bob); got != tc.bobSees {
				t.Errorf("bob sees = %t, want %t", got, tc.bobSees)
			}
			if got := visible(r, carol); got != tc.carolSees {
				t.Errorf("carol sees = %t, want %t", got, tc.carolSees)
			}
			if got := sharedListable(r, bob); got != tc.bobLists {
				t.Errorf("bob lists = %t, want %t", got, tc.bobLists)
			}
			if !visible(r, alice) || LogsReadable(r, bob) || !LogsReadable(r, alice) {
				t.Error("owner rules broken")
			}
		})
	}
}

// FuzzDecodeToken checks pagination tokens: any string is either rejected
// or was issued by this key for this operation and query.
func FuzzDecodeToken(f *testing.F) {
	s := &Service{TokenKey: []byte("fuzz-key")}
	const issued = "arn:aws:imagebuilder:us-east-1:111111111111:component/a/1.0.0/1"
	valid := s.encodeToken(cursor{Op: "ListComponents", Query: "q", After: issued})
	f.Add(valid)
	f.Add("")
	f.Add("e30.AAAA")
	f.Fuzz(func(t *testing.T, token string) {
		after, err := s.decodeToken(token, "ListComponents", "q")
		// Only one token was ever issued under this key, so anything
		// accepted must carry its cursor: the HMAC admits no other.
		if err == nil && after != issued {
			t.Fatalf("accepted token %q with cursor %q", token, after)
		}
	})
}
