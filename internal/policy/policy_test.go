package policy

import (
	"errors"
	"strings"
	"testing"
)

const (
	alice    = "111111111111"
	bob      = "222222222222"
	carol    = "333333333333"
	compARN  = "arn:aws:imagebuilder:us-east-1:111111111111:component/app/1.0.0/1"
	otherARN = "arn:aws:imagebuilder:us-east-1:111111111111:component/other/1.0.0/1"
)

func req(account, action, resource string) Request {
	return Request{
		PrincipalAccount: account,
		PrincipalARN:     "arn:aws:iam::" + account + ":root",
		Action:           action,
		Resource:         resource,
		ResourceAccount:  alice,
	}
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		req    Request
		want   Decision
	}{
		{"allow star", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"imagebuilder:GetComponent","Resource":"*"}]}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"allow star then deny bob: bob", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":"*","Action":"imagebuilder:*","Resource":"*"},
			{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"*"}]}`,
			req(bob, "imagebuilder:GetComponent", compARN), Deny},
		{"allow star then deny bob: carol", `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Principal":"*","Action":"imagebuilder:*","Resource":"*"},
			{"Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"*"}]}`,
			req(carol, "imagebuilder:GetComponent", compARN), Allow},
		{"account list", `{"Statement":{"Effect":"Allow","Principal":{"AWS":["333333333333","222222222222"]},"Action":["imagebuilder:GetComponent"]}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"other account", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"333333333333"},"Action":"imagebuilder:GetComponent"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"user ARN principal matches only that ARN", `{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:user/eve"},"Action":"*"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"action case-insensitive", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"ImageBuilder:getcomponent"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"action wildcard", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"imagebuilder:Get*"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"action question mark", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"imagebuilder:GetComponen?"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"action mismatch", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"imagebuilder:List*"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"NotAction", `{"Statement":{"Effect":"Allow","Principal":"*","NotAction":"imagebuilder:Delete*"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"NotAction excludes", `{"Statement":{"Effect":"Allow","Principal":"*","NotAction":"imagebuilder:Get*"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"resource mismatch", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"` + otherARN + `"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"resource wildcard", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:imagebuilder:us-east-1:111111111111:component/app/*"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"resource wildcard does not cross segments", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:imagebuilder:*1:component/app/*"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"NotResource", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","NotResource":"` + otherARN + `"}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"NotPrincipal deny spares alice", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*"},{"Effect":"Deny","NotPrincipal":{"AWS":"111111111111"},"Action":"*"}]}`,
			req(bob, "imagebuilder:GetComponent", compARN), Deny},
		{"NotPrincipal deny: named account", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*"},{"Effect":"Deny","NotPrincipal":{"AWS":"222222222222"},"Action":"*"}]}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"StringEquals PrincipalAccount", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":["333333333333","222222222222"]}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"StringEquals PrincipalAccount other", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"333333333333"}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"StringNotEquals excludes all listed", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringNotEquals":{"aws:principalaccount":["333333333333","222222222222"]}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"StringLike", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::2222*:root"}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"StringNotLike", `{"Statement":{"Effect":"Deny","Principal":"*","Action":"*","Condition":{"StringNotLike":{"aws:PrincipalAccount":"1*"}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Deny},
		{"ArnLike", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::222222222222:*"}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"ArnEquals other", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::333333333333:root"}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"ResourceAccount", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:ResourceAccount":"111111111111"}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), Allow},
		{"absent key, positive", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"x"}}}}`,
			Request{PrincipalAccount: bob, Action: "a:b"}, NotApplicable},
		{"absent key, IfExists", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEqualsIfExists":{"aws:PrincipalArn":"x"}}}}`,
			Request{PrincipalAccount: bob, Action: "a:b"}, Allow},
		{"absent key, negated", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringNotEquals":{"aws:PrincipalArn":"x"}}}}`,
			Request{PrincipalAccount: bob, Action: "a:b"}, Allow},
		{"Null true on absent", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"Null":{"aws:PrincipalArn":"true"}}}}`,
			Request{PrincipalAccount: bob, Action: "a:b"}, Allow},
		{"conditions are ANDed", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"222222222222"},"StringLike":{"aws:PrincipalArn":"*:user/*"}}}}`,
			req(bob, "imagebuilder:GetComponent", compARN), NotApplicable},
		{"2008 literal dollar", `{"Version":"2008-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::${x}"}}`,
			req(bob, "s3:GetObject", "arn:aws:s3:::${x}"), Allow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.policy)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := p.Evaluate(tc.req); got != tc.want {
				t.Errorf("Evaluate = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name, policy string
		element      string // the Error's Element
		reason       string // a substring of its Reason
	}{
		{"not JSON", `nope`, "", "not a JSON object"},
		{"trailing data", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}} x`, "", "after"},
		{"bad version", `{"Version":"2020-01-01","Statement":[]}`, "Version", "2012-10-17"},
		{"no statement", `{"Version":"2012-10-17"}`, "Statement", "required"},
		{"empty statements", `{"Statement":[]}`, "Statement", "at least one"},
		{"unknown top element", `{"Statment":[]}`, "Statment", "not supported"},
		{"bad effect", `{"Statement":[{"Effect":"allow","Principal":"*","Action":"*"}]}`, "Statement[0].Effect", "Allow"},
		{"no principal", `{"Statement":[{"Effect":"Allow","Action":"*"}]}`, "Statement[0].Principal", "required"},
		{"both principals", `{"Statement":[{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"*"}]}`, "Statement[0]", "both"},
		{"service principal", `{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"*"}]}`, "Statement[0].Principal.Service", "not supported"},
		{"wildcard principal ARN", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::*:root"},"Action":"*"}]}`, "Statement[0].Principal.AWS[0]", "wildcards"},
		{"principal name", `{"Statement":[{"Effect":"Allow","Principal":{"AWS":["111111111111","bob"]},"Action":"*"}]}`, "Statement[0].Principal.AWS[1]", "account ID"},
		{"no action", `{"Statement":[{"Effect":"Allow","Principal":"*"}]}`, "Statement[0].Action", "required"},
		{"bad action", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"GetComponent"}]}`, "Statement[0].Action[0]", "service:Action"},
		{"resource not ARN", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"component/x"}]}`, "Statement[0].Resource[0]", "ARN"},
		{"policy variable", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"arn:aws:s3:::${aws:username}"}]}`, "Statement[0].Resource[0]", "policy variables"},
		{"IpAddress", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*"},{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`, "Statement[1].Condition", `operator "IpAddress" is not supported`},
		{"ForAnyValue", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"ForAnyValue:StringEquals":{"aws:PrincipalAccount":"1"}}}]}`, "Statement[0].Condition", "ForAnyValue"},
		{"unknown key", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}`, "Statement[0].Condition.StringEquals", "aws:PrincipalOrgID"},
		{"NullIfExists", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Condition":{"NullIfExists":{"aws:PrincipalArn":"true"}}}]}`, "Statement[0].Condition", "NullIfExists"},
		{"lower-case operator", `{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*","Condition":{"stringequals":{"aws:PrincipalArn":"x"}}}]}`, "Statement[0].Condition", "stringequals"},
		{"unknown statement element", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resources":"*"}}`, "Statement.Resources", "not supported"},
		{"duplicate key", `{"Statement":{"Effect":"Allow","Effect":"Deny","Principal":"*","Action":"*"}}`, "Statement", "twice"},
		{"duplicate sid", `{"Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"*"},{"Sid":"a","Effect":"Allow","Principal":"*","Action":"*"}]}`, "Statement[1].Sid", "another"},
		{"condition value not string", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":222222222222}}}}`, "Statement.Condition.StringEquals.aws:PrincipalAccount", "string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.policy)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if pe.Element != tc.element || !strings.Contains(pe.Reason, tc.reason) {
				t.Errorf("err = %q (element %q), want element %q and reason containing %q", err, pe.Element, tc.element, tc.reason)
			}
		})
	}
}

func TestParseWithServices(t *testing.T) {
	o := Options{Services: []string{"imagebuilder"}}
	if _, err := ParseWith(`{"Statement":{"Effect":"Allow","Principal":"*","Action":["ImageBuilder:Get*","*"]}}`, o); err != nil {
		t.Errorf("imagebuilder actions refused: %v", err)
	}
	_, err := ParseWith(`{"Statement":{"Effect":"Allow","Principal":"*","Action":["imagebuilder:Get*","s3:GetObject"]}}`, o)
	if err == nil || !strings.Contains(err.Error(), "Statement.Action[1]") {
		t.Errorf("s3 action: err = %v, want one naming Statement.Action[1]", err)
	}
}

func TestPrincipals(t *testing.T) {
	p, err := Parse(`{"Statement":[
		{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222222222222:root","arn:aws:iam::333333333333:role/r"]},"Action":"*"},
		{"Effect":"Deny","Principal":{"AWS":"444444444444"},"Action":"*"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(p.Principals(), ","); got != "222222222222,333333333333" {
		t.Errorf("Principals = %s", got)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true}, {"*", "", true}, {"a*", "abc", true}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {"*b*", "abc", true}, {"*x*", "abc", false},
		{"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false}, {"**", "x", true},
	}
	for _, tc := range tests {
		if got := glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("glob(%q, %q) = %t, want %t", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// FuzzParse checks Parse never panics, refuses only with an *Error, and
// that whatever it accepts evaluates without panicking and never lets an
// Allow win over an applicable Deny.
func FuzzParse(f *testing.F) {
	f.Add(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"imagebuilder:*","Resource":"*"},{"Effect":"Deny","Principal":{"AWS":"222222222222"},"Action":"*"}]}`)
	f.Add(`{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::222222222222:root"]},"NotAction":"x:y","NotResource":"arn:a:b:c:d:e","Condition":{"StringLikeIfExists":{"aws:PrincipalArn":"*"}}}}`)
	f.Add(`{"Statement":[{"Effect":"Deny","NotPrincipal":"*","Action":"*","Condition":{"Null":{"aws:ResourceAccount":"false"}}}]}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := Parse(doc)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		r := req(bob, "imagebuilder:GetComponent", compARN)
		d := p.Evaluate(r)
		for _, st := range p.Statements {
			if !st.Allow && st.applies(r) && d != Deny {
				t.Fatalf("an applicable Deny lost: %v", d)
			}
		}
	})
}
