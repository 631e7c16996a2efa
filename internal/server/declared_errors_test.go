package server_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// modelShape is the part of a botocore shape the request builder reads.
type modelShape struct {
	Type     string   `json:"type"`
	Required []string `json:"required"`
	Members  map[string]struct {
		Shape        string `json:"shape"`
		Location     string `json:"location"`
		LocationName string `json:"locationName"`
	} `json:"members"`
	Member  *struct{ Shape string } `json:"member"`
	Value   *struct{ Shape string } `json:"value"`
	Enum    []string                `json:"enum"`
	Pattern string                  `json:"pattern"`
	Min     *float64                `json:"min"`
}

// missingARNs are well-formed ARNs of resources that do not exist; a
// member whose pattern accepts one gets the first that fits.
var missingARNs = []string{
	"arn:aws:imagebuilder:us-east-1:111111111111:component/nope/1.0.0/1",
	"arn:aws:imagebuilder:us-east-1:111111111111:component/nope/1.0.0",
	"arn:aws:imagebuilder:us-east-1:111111111111:image/nope/1.0.0/1",
	"arn:aws:imagebuilder:us-east-1:111111111111:image/nope/1.0.0",
	"arn:aws:imagebuilder:us-east-1:111111111111:image-recipe/nope/1.0.0",
	"arn:aws:imagebuilder:us-east-1:111111111111:container-recipe/nope/1.0.0",
	"arn:aws:imagebuilder:us-east-1:111111111111:infrastructure-configuration/nope",
	"arn:aws:imagebuilder:us-east-1:111111111111:distribution-configuration/nope",
	"arn:aws:imagebuilder:us-east-1:111111111111:image-pipeline/nope",
	"arn:aws:imagebuilder:us-east-1:111111111111:lifecycle-policy/nope",
	"arn:aws:imagebuilder:us-east-1:111111111111:workflow/build/nope/1.0.0/1",
	"arn:aws:imagebuilder:us-east-1:111111111111:workflow/build/nope/1.0.0",
	"arn:aws:imagebuilder:us-east-1:111111111111:lifecycle-execution/lce-0123456789abcdef0",
	"arn:aws:imagebuilder:us-east-1:111111111111:workflow-execution/wf-01234567-89ab-cdef-0123-456789abcdef",
	"arn:aws:imagebuilder:us-east-1:111111111111:workflow-step-execution/step-01234567-89ab-cdef-0123-456789abcdef",
}

// requestBuilder fills an operation's required members with values that
// pass the model's checks where it can: the first enum value, a missing
// resource's ARN, "x" or a string of the minimum length. What then comes
// back is the operation's own answer (not found, in use, not supported,
// ...), the error paths reached without setting anything up.
type requestBuilder struct {
	shapes map[string]modelShape
}

func (b *requestBuilder) value(shape string, depth int) any {
	s := b.shapes[shape]
	switch s.Type {
	case "string":
		if len(s.Enum) > 0 {
			return s.Enum[0]
		}
		if s.Pattern != "" {
			if re, err := regexp.Compile(s.Pattern); err == nil {
				for _, a := range missingARNs {
					if re.MatchString(a) {
						return a
					}
				}
				for _, v := range []string{"1.0.0", "x", "nope-1", "us-east-1", "111111111111"} {
					if re.MatchString(v) {
						return v
					}
				}
			}
		}
		n := 1
		if s.Min != nil && *s.Min > 1 {
			n = int(*s.Min)
		}
		return strings.Repeat("x", n)
	case "integer", "long", "double":
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case "boolean":
		return true
	case "timestamp":
		return 1767225600
	case "list":
		return []any{b.value(s.Member.Shape, depth+1)}
	case "map":
		return map[string]any{"k": b.value(s.Value.Shape, depth+1)}
	case "structure":
		out := map[string]any{}
		if depth > 4 {
			return out
		}
		for _, m := range s.Required {
			out[m] = b.value(s.Members[m].Shape, depth+1)
		}
		return out
	}
	return nil
}

// request builds op's HTTP path (with query and labels) and JSON body.
func (b *requestBuilder) request(op *awsapi.Operation, fill bool) (string, []byte) {
	s := b.shapes[op.InputShape]
	path := op.Path
	q := url.Values{}
	body := map[string]any{}
	if fill {
		for _, name := range s.Required {
			m := s.Members[name]
			v := b.value(m.Shape, 0)
			switch m.Location {
			case "uri":
				path = strings.Replace(path, "{"+m.LocationName+"}", url.PathEscape(v.(string)), 1)
			case "querystring":
				switch x := v.(type) {
				case string:
					q.Set(m.LocationName, x)
				case []any:
					for _, e := range x {
						q.Add(m.LocationName, e.(string))
					}
				}
			case "header":
			default:
				body[name] = v
			}
		}
	}
	if strings.Contains(path, "{") {
		path = strings.NewReplacer("{resourceArn}", url.PathEscape(missingARNs[0])).Replace(path)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if op.Method == "GET" || op.Method == "DELETE" {
		return path, nil
	}
	raw, _ := json.Marshal(body)
	return path, raw
}

// TestEveryOperationAnswersDeclaredErrors walks the operation table (the
// newest model's operations and their errors lists; see
// awsapi.TestOperationErrorsMatchModel) through the real service in
// process: each operation gets an empty request and one with its
// required members filled, and any error it answers must be one it
// declares, or ResourceNotFoundException or
// InvalidParameterValueException, which the real service also answers
// undeclared (and InvalidParameterException for the tagging trio, which
// declare it).
func TestEveryOperationAnswersDeclaredErrors(t *testing.T) {
	var model struct {
		Shapes map[string]modelShape `json:"shapes"`
	}
	if err := json.Unmarshal(awsapi.BotocoreModel, &model); err != nil {
		t.Fatal(err)
	}
	b := &requestBuilder{shapes: model.Shapes}
	h := newServiceHarness(t)
	answered := map[string]int{}
	for _, op := range awsapi.Operations {
		for _, fill := range []bool{false, true} {
			path, body := b.request(op, fill)
			resp, raw := h.do(t, op.Method, path, body, true)
			if resp.StatusCode == 200 {
				answered["OK"]++
				continue
			}
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Errorf("%s %s: error body %q", op.Name, path, raw)
				continue
			}
			answered[e.Type]++
			if !slices.Contains(op.Errors, e.Type) && e.Type != awsapi.ErrCodeResourceNotFoundException &&
				e.Type != awsapi.ErrCodeInvalidParameterValueException {
				t.Errorf("%s (filled %t) answered %s, which it does not declare: %s\nrequest %s %s", op.Name, fill, e.Type, e.Message, path, body)
			}
		}
	}
	t.Logf("answers over %d operations: %v", len(awsapi.Operations), answered)
}

// newServiceHarness is the harness with the real service's whole table,
// none of newHarness's stand-ins.
func newServiceHarness(t *testing.T) *harness {
	t.Helper()
	handlers, ping := serviceHandlers(t)
	return serve(t, handlers, ping)
}

// TestEmptyStringsRefused: "" in a member the model gives a minimum length
// of 1 is refused with InvalidParameterValueException naming the member,
// and nothing is stored; a 36-character clientToken passes and a
// 37-character one is refused.
func TestEmptyStringsRefused(t *testing.T) {
	h := newServiceHarness(t)
	component := func(extra string) []byte {
		return []byte(`{"name":"comp-a","semanticVersion":"1.0.0","platform":"Linux","clientToken":"t1","data":` +
			strconvQuote(componentDoc) + extra + `}`)
	}
	infra := func(extra string) []byte {
		return []byte(`{"name":"infra-a","instanceProfileName":"profile","clientToken":"t2"` + extra + `}`)
	}
	tests := []struct {
		name, path string
		body       []byte
		list       string // the List operation that must stay empty
		member     string // "" when the create must succeed
	}{
		{"description", "/CreateComponent", component(`,"description":""`), "/ListComponents", "description"},
		{"changeDescription", "/CreateComponent", component(`,"changeDescription":""`), "/ListComponents", "changeDescription"},
		{"kmsKeyId", "/CreateComponent", component(`,"kmsKeyId":""`), "/ListComponents", "kmsKeyId"},
		{"clientToken of 37", "/CreateComponent", component(`,"clientToken":"` + strings.Repeat("t", 37) + `"`), "/ListComponents", "clientToken"},
		{"subnetId", "/CreateInfrastructureConfiguration", infra(`,"subnetId":""`), "/ListInfrastructureConfigurations", "subnetId"},
		{"keyPair", "/CreateInfrastructureConfiguration", infra(`,"keyPair":""`), "/ListInfrastructureConfigurations", "keyPair"},
		{"nested logging bucket", "/CreateInfrastructureConfiguration", infra(`,"logging":{"s3Logs":{"s3BucketName":""}}`), "/ListInfrastructureConfigurations", "logging.s3Logs.s3BucketName"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, raw := h.do(t, "PUT", tc.path, tc.body, true)
			var e struct {
				Type    string `json:"__type"`
				Message string `json:"message"`
			}
			json.Unmarshal(raw, &e)
			if resp.StatusCode != 400 || e.Type != awsapi.ErrCodeInvalidParameterValueException || !strings.Contains(e.Message, "'"+tc.member+"'") {
				t.Errorf("status %d %s %q; want InvalidParameterValueException naming %s", resp.StatusCode, e.Type, e.Message, tc.member)
			}
			_, list := h.do(t, "POST", tc.list, []byte(`{}`), true)
			if strings.Contains(string(list), "arn:aws") {
				t.Errorf("%s lists something after the refusal: %s", tc.list, list)
			}
		})
	}
	resp, raw := h.do(t, "PUT", "/CreateComponent", component(`,"clientToken":"`+strings.Repeat("t", 36)+`","description":"d"`), true)
	if resp.StatusCode != 200 {
		t.Errorf("36-character clientToken: %d %s", resp.StatusCode, raw)
	}
	if resp, raw := h.do(t, "PUT", "/CreateInfrastructureConfiguration", infra(`,"subnetId":"subnet-1"`), true); resp.StatusCode != 200 {
		t.Errorf("the infrastructure body without empty strings: %d %s", resp.StatusCode, raw)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
