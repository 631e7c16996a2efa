package service

import (
	"slices"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		want   []string // granted principals; nil with wantErr
		ok     bool
	}{
		{"account list", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111111111111","arn:aws:iam::222222222222:root"]},"Action":["imagebuilder:GetComponent"]}]}`, []string{"111111111111", "222222222222"}, true},
		{"single statement object and string action", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"333333333333"},"Action":"imagebuilder:GetComponent"}}`, []string{"333333333333"}, true},
		{"public", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"imagebuilder:GetComponent"}]}`, []string{"*"}, true},
		{"deny grants nothing", `{"Statement":[{"Effect":"Deny","Principal":{"AWS":"111111111111"},"Action":"imagebuilder:GetComponent"}]}`, []string{}, true},
		{"not JSON", `nope`, nil, false},
		{"no statements", `{"Statement":[]}`, nil, false},
		{"bad effect", `{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"imagebuilder:GetComponent"}]}`, nil, false},
		{"foreign action", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}]}`, nil, false},
		{"no action", `{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, nil, false},
		{"bad principal", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"imagebuilder:GetComponent"}]}`, nil, false},
		{"no principal", `{"Statement":[{"Effect":"Allow","Action":"imagebuilder:GetComponent"}]}`, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePolicy(tc.policy)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%t", err, tc.ok)
			}
			if tc.ok && !slices.Equal(got, tc.want) {
				t.Errorf("principals = %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzParsePolicy checks the policy parser never panics and only grants
// well-formed principals.
func FuzzParsePolicy(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["111111111111"]},"Action":"imagebuilder:GetComponent"}]}`)
	f.Add(`{"Statement":{"Effect":"Allow","Principal":"*","Action":["imagebuilder:GetComponent"]}}`)
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/x"},"Action":"imagebuilder:*"}]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, policy string) {
		principals, err := parsePolicy(policy)
		if err != nil {
			return
		}
		for _, p := range principals {
			if p != "*" && !accountIDPattern.MatchString(p) {
				t.Fatalf("granted malformed principal %q", p)
			}
		}
	})
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
