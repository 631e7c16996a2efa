package awsapi

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name   string
		op     string
		target string // request target: path and query
		body   string
		labels map[string]string
		want   Input
	}{
		{
			name: "json body", op: "CreateComponent", target: "/CreateComponent",
			body: `{"name":"hello","semanticVersion":"1.0.0","platform":"Linux","supportedOsVersions":["Ubuntu 22"],"tags":{"a":"b"},"clientToken":"t","dryRun":true}`,
			want: &CreateComponentRequest{Name: "hello", SemanticVersion: "1.0.0", Platform: "Linux", SupportedOsVersions: []string{"Ubuntu 22"}, Tags: map[string]string{"a": "b"}, ClientToken: "t", DryRun: ptr(true)},
		},
		{
			name: "nested structures and lists", op: "ListImages", target: "/ListImages",
			body: `{"owner":"Self","filters":[{"name":"name","values":["a","b"]}],"byName":false,"maxResults":25,"includeDeprecated":true}`,
			want: &ListImagesRequest{Owner: "Self", Filters: []Filter{{Name: "name", Values: []string{"a", "b"}}}, ByName: ptr(false), MaxResults: ptr[int32](25), IncludeDeprecated: ptr(true)},
		},
		{name: "empty body", op: "ListImages", target: "/ListImages", body: "", want: &ListImagesRequest{}},
		{name: "empty object", op: "ListImages", target: "/ListImages", body: " {} ", want: &ListImagesRequest{}},
		{name: "null body", op: "ListImages", target: "/ListImages", body: "null", want: &ListImagesRequest{}},
		{name: "explicit nulls", op: "ListImages", target: "/ListImages", body: `{"owner":null,"filters":null,"maxResults":null}`, want: &ListImagesRequest{}},
		{name: "unknown keys ignored", op: "ListImages", target: "/ListImages", body: `{"owner":"Self","futureMember":{"x":[1,2]}}`, want: &ListImagesRequest{Owner: "Self"}},
		{
			name: "query string", op: "GetImage", target: "/GetImage?imageBuildVersionArn=arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A000000000000%3Aimage%2Fx%2F1.0.0%2F1&unknown=1",
			want: &GetImageRequest{ImageBuildVersionArn: "arn:aws:imagebuilder:us-east-1:000000000000:image/x/1.0.0/1"},
		},
		{
			name: "body ignored on GET", op: "GetImage", target: "/GetImage?imageBuildVersionArn=a", body: `{"imageBuildVersionArn":"b"}`,
			want: &GetImageRequest{ImageBuildVersionArn: "a"},
		},
		{
			name: "uri label and repeated query keys", op: "UntagResource", target: "/tags/x?tagKeys=a&tagKeys=b",
			labels: map[string]string{"resourceArn": "arn:aws:imagebuilder:us-east-1:000000000000:component/c/1.0.0/1"},
			want:   &UntagResourceRequest{ResourceArn: "arn:aws:imagebuilder:us-east-1:000000000000:component/c/1.0.0/1", TagKeys: []string{"a", "b"}},
		},
		{
			name: "label plus body; body cannot set a bound member", op: "TagResource", target: "/tags/x",
			labels: map[string]string{"resourceArn": "arn:x"}, body: `{"resourceArn":"other","tags":{"k":"v"}}`,
			want: &TagResourceRequest{ResourceArn: "arn:x", Tags: map[string]string{"k": "v"}},
		},
		{
			name: "timestamp as epoch seconds", op: "StartResourceStateUpdate", target: "/StartResourceStateUpdate",
			body: `{"resourceArn":"r","updateAt":1705600256.123}`,
			want: &StartResourceStateUpdateRequest{ResourceArn: "r", UpdateAt: &Timestamp{time.Unix(1705600256, 123e6).UTC()}},
		},
		{
			name: "timestamp as ISO-8601", op: "StartResourceStateUpdate", target: "/StartResourceStateUpdate",
			body: `{"resourceArn":"r","updateAt":"2024-01-18T17:50:56.123Z"}`,
			want: &StartResourceStateUpdateRequest{ResourceArn: "r", UpdateAt: &Timestamp{time.Unix(1705600256, 123e6).UTC()}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := OperationByName(tc.op)
			r := httptest.NewRequest(op.Method, tc.target, strings.NewReader(tc.body))
			got, err := DecodeRequest(op, r, []byte(tc.body), tc.labels)
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// TestDecodeRequestQueryTypes covers query-bound members of every scalar
// type through a synthetic input: the model binds only strings and a string
// list to the query, but the codec must handle what the overlay may add.
func TestDecodeRequestQueryTypes(t *testing.T) {
	p := &httpParams{query: map[string][]string{"b": {"true"}, "i": {"42"}, "l": {"-7"}, "f": {"1.5"}, "t": {"2024-01-18T17:50:56Z"}, "bad": {"yes"}}}
	b, err := parseBool("b", p.values("querystring", "b")[0])
	if err != nil || !*b {
		t.Errorf("bool: %v %v", b, err)
	}
	i, err := parseInt32("i", p.values("querystring", "i")[0])
	if err != nil || *i != 42 {
		t.Errorf("int32: %v %v", i, err)
	}
	l, err := parseInt64("l", p.values("querystring", "l")[0])
	if err != nil || *l != -7 {
		t.Errorf("int64: %v %v", l, err)
	}
	f, err := parseFloat64("f", p.values("querystring", "f")[0])
	if err != nil || *f != 1.5 {
		t.Errorf("float64: %v %v", f, err)
	}
	ts, err := parseTimestampParam("t", p.values("querystring", "t")[0])
	if err != nil || ts.Unix() != 1705600256 {
		t.Errorf("timestamp: %v %v", ts, err)
	}
	for _, tc := range []struct {
		parse func() error
		want  string
	}{
		{func() error { _, err := parseBool("flag", "yes"); return err }, "The value supplied for parameter 'flag' is not valid. expected boolean"},
		{func() error { _, err := parseInt32("maxResults", "3000000000"); return err }, "The value supplied for parameter 'maxResults' is not valid. expected integer"},
		{func() error { _, err := parseInt64("n", "x"); return err }, "The value supplied for parameter 'n' is not valid. expected long"},
		{func() error { _, err := parseFloat64("d", "x"); return err }, "The value supplied for parameter 'd' is not valid. expected double"},
		{func() error { _, err := parseTimestampParam("at", "yesterday"); return err }, "The value supplied for parameter 'at' is not valid. expected timestamp"},
	} {
		assertAPIError(t, tc.parse(), ErrCodeInvalidParameterValueException, tc.want)
	}
	if p.values("querystring", "missing") != nil || p.values("uri", "x") != nil || p.values("header", "x") != nil {
		t.Error("absent values must be nil")
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name, op, body string
		code, message  string
	}{
		{"malformed JSON", "CreateComponent", `{"name":`, ErrCodeSerializationException, "The request body could not be parsed: unexpected end of JSON input"},
		{"trailing garbage", "CreateComponent", `{} x`, ErrCodeSerializationException, "The request body could not be parsed: invalid character 'x' after top-level value"},
		{"not an object", "CreateComponent", `[1,2]`, ErrCodeSerializationException, "The request body could not be parsed: expected a JSON object, got array"},
		{"string for string", "CreateComponent", `{"platform":7}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'platform' is not valid. expected string"},
		{"object for list", "ListImages", `{"filters":{}}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'filters' is not valid. expected list"},
		{"nested wrong type", "ListImages", `{"filters":[{"values":[1]}]}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'filters.values' is not valid. expected string"},
		{"string for integer", "ListImages", `{"maxResults":"25"}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'maxResults' is not valid. expected integer"},
		{"integer overflow", "ListImages", `{"maxResults":1e20}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'maxResults' is not valid. expected integer"},
		{"string for boolean", "ListImages", `{"byName":"true"}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'byName' is not valid. expected boolean"},
		{"number for map", "CreateComponent", `{"tags":3}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'tags' is not valid. expected map"},
		{"bad timestamp", "StartResourceStateUpdate", `{"updateAt":"soon"}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'updateAt' is not valid. expected timestamp"},
		{"bool timestamp", "StartResourceStateUpdate", `{"updateAt":true}`, ErrCodeInvalidParameterValueException, "The value supplied for parameter 'updateAt' is not valid. expected timestamp"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := OperationByName(tc.op)
			r := httptest.NewRequest(op.Method, op.Path, strings.NewReader(tc.body))
			in, err := DecodeRequest(op, r, []byte(tc.body), nil)
			if in != nil {
				t.Errorf("input %#v returned with an error", in)
			}
			assertAPIError(t, err, tc.code, tc.message)
		})
	}
}

// TestDecodeRequestRefusesEmptyStrings: "" where the model's shape wants at
// least one character is refused naming the member, at any depth; absent
// members, null and non-empty values pass to Validate.
func TestDecodeRequestRefusesEmptyStrings(t *testing.T) {
	const prefix = "The value supplied for parameter '"
	tests := []struct {
		name, op, body string
		member         string // "" when the body must decode
	}{
		{"description", "CreateComponent", `{"description":""}`, "description"},
		{"changeDescription", "CreateComponent", `{"changeDescription":""}`, "changeDescription"},
		{"kmsKeyId", "CreateComponent", `{"kmsKeyId":""}`, "kmsKeyId"},
		{"workflow description", "CreateWorkflow", `{"description":""}`, "description"},
		{"workingDirectory", "CreateImageRecipe", `{"workingDirectory":""}`, "workingDirectory"},
		{"container workingDirectory", "CreateContainerRecipe", `{"workingDirectory":""}`, "workingDirectory"},
		{"imageOsVersionOverride", "CreateContainerRecipe", `{"imageOsVersionOverride":""}`, "imageOsVersionOverride"},
		{"subnetId", "CreateInfrastructureConfiguration", `{"subnetId":""}`, "subnetId"},
		{"keyPair", "CreateInfrastructureConfiguration", `{"keyPair":""}`, "keyPair"},
		{"update keyPair", "UpdateInfrastructureConfiguration", `{"keyPair":""}`, "keyPair"},
		{"executionRole", "CreateImage", `{"executionRole":""}`, "executionRole"},
		{"pipeline executionRole", "CreateImagePipeline", `{"executionRole":""}`, "executionRole"},
		{"nested structure", "CreateDistributionConfiguration",
			`{"distributions":[{"region":"us-east-1"},{"region":"us-east-1","amiDistributionConfiguration":{"description":""}}]}`,
			"distributions[1].amiDistributionConfiguration.description"},
		{"list of structures", "CreateImageRecipe", `{"blockDeviceMappings":[{"deviceName":""}]}`, "blockDeviceMappings[0].deviceName"},
		{"absent", "CreateComponent", `{"name":"n"}`, ""},
		{"null", "CreateComponent", `{"description":null}`, ""},
		{"one character", "CreateComponent", `{"description":"d","kmsKeyId":"k"}`, ""},
		{"required member left to Validate", "CreateComponent", `{"name":""}`, ""},
		{"wrong type left to the typed decode", "CreateImageRecipe", `{"blockDeviceMappings":[7]}`, "blockDeviceMappings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := OperationByName(tc.op)
			r := httptest.NewRequest(op.Method, op.Path, strings.NewReader(tc.body))
			in, err := DecodeRequest(op, r, []byte(tc.body), nil)
			if tc.member == "" {
				if err != nil {
					t.Fatalf("DecodeRequest: %v", err)
				}
				return
			}
			if in != nil {
				t.Errorf("input %#v returned with an error", in)
			}
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Code != ErrCodeInvalidParameterValueException ||
				!strings.HasPrefix(apiErr.Message, prefix+tc.member+"' is not valid.") {
				t.Errorf("got %v, want InvalidParameterValueException naming %s", err, tc.member)
			}
		})
	}
}

func assertAPIError(t *testing.T, err error, code, message string) {
	t.Helper()
	var apiErr *Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *Error", err, err)
	}
	if apiErr.Code != code || apiErr.Message != message {
		t.Errorf("got %s %q\nwant %s %q", apiErr.Code, apiErr.Message, code, message)
	}
}

func TestRoute(t *testing.T) {
	tests := []struct {
		method, path string
		want         string
		labels       map[string]string
	}{
		{"PUT", "/CreateComponent", "CreateComponent", nil},
		{"GET", "/GetImage", "GetImage", nil},
		{"POST", "/ListImages", "ListImages", nil},
		{"PUT", "/RetryImage", "RetryImage", nil},
		{"POST", "/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A000000000000%3Acomponent%2Fname%2F1.0.0", "TagResource",
			map[string]string{"resourceArn": "arn:aws:imagebuilder:us-east-1:000000000000:component/name/1.0.0"}},
		{"GET", "/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A000000000000%3Aimage-pipeline%2Fp", "ListTagsForResource",
			map[string]string{"resourceArn": "arn:aws:imagebuilder:us-east-1:000000000000:image-pipeline/p"}},
		{"DELETE", "/tags/plain", "UntagResource", map[string]string{"resourceArn": "plain"}},
		{"GET", "/CreateComponent", "", nil},  // wrong method
		{"PATCH", "/tags/x", "", nil},         // wrong method
		{"PUT", "/createcomponent", "", nil},  // paths are case-sensitive
		{"PUT", "/CreateComponent/", "", nil}, // no trailing slash
		{"GET", "/tags/", "", nil},            // empty label
		{"GET", "/tags/a/b", "", nil},         // unescaped slash: two segments
		{"GET", "/tags/bad%zz", "", nil},      // bad escape
		{"GET", "/", "", nil},
		{"GET", "", "", nil},
	}
	for _, tc := range tests {
		op, labels, ok := Route(tc.method, tc.path)
		if tc.want == "" {
			if ok || op != nil {
				t.Errorf("Route(%s, %q) = %v, true; want no match", tc.method, tc.path, op.Name)
			}
			continue
		}
		if !ok || op.Name != tc.want || !reflect.DeepEqual(labels, tc.labels) {
			t.Errorf("Route(%s, %q) = %v, %v, %v; want %s, %v", tc.method, tc.path, op, labels, ok, tc.want, tc.labels)
		}
	}
}

func TestOperationTable(t *testing.T) {
	if len(Operations) != 77 {
		t.Fatalf("%d operations; want 77", len(Operations))
	}
	for i, op := range Operations {
		if i > 0 && Operations[i-1].Name >= op.Name {
			t.Errorf("Operations not sorted at %s", op.Name)
		}
		if OperationByName(op.Name) != op {
			t.Errorf("OperationByName(%s) is not the table entry", op.Name)
		}
		in := op.NewInput()
		if reflect.TypeOf(in).Elem().Name() != op.InputShape {
			t.Errorf("%s: NewInput is %T, want %s", op.Name, in, op.InputShape)
		}
		for _, code := range op.Errors {
			if _, ok := ErrorStatus[code]; !ok {
				t.Errorf("%s: error %s has no status", op.Name, code)
			}
		}
	}
	if OperationByName("Nope") != nil {
		t.Error("OperationByName of an unknown name")
	}
	if op := OperationByName("GetWorkflow"); op.OutputHasRequestID {
		t.Error("GetWorkflowResponse has no requestId")
	}
	var out any = &GetImageResponse{}
	s, ok := out.(interface{ SetRequestId(string) })
	if !ok {
		t.Fatal("GetImageResponse has no SetRequestId")
	}
	s.SetRequestId("r-1")
	if out.(*GetImageResponse).RequestId != "r-1" {
		t.Error("SetRequestId did not set RequestId")
	}
}

func TestErrorStatus(t *testing.T) {
	for code, want := range map[string]int{
		ErrCodeResourceNotFoundException:           404,
		ErrCodeServiceQuotaExceededException:       402,
		ErrCodeCallRateLimitExceededException:      429,
		ErrCodeServiceException:                    500,
		ErrCodeServiceUnavailableException:         503,
		ErrCodeForbiddenException:                  403,
		ErrCodeInvalidParameterValueException:      400,
		ErrCodeDryRunOperationException:            412,
		ErrCodeAccessDeniedException:               403,
		ErrCodeTooManyRequestsException:            429,
		ErrCodeMissingAuthenticationTokenException: 403,
		ErrCodeUnrecognizedClientException:         403,
		ErrCodeInvalidSignatureException:           403,
		ErrCodeIncompleteSignatureException:        400,
		ErrCodeSerializationException:              400,
		ErrCodeUnknownOperationException:           404,
		"SomethingElse":                            400,
	} {
		e := Errorf(code, "m %d", 1)
		if got := e.Status(); got != want {
			t.Errorf("%s: status %d, want %d", code, got, want)
		}
		if e.Error() != code+": m 1" {
			t.Errorf("Error() = %q", e.Error())
		}
	}
}

func TestEnums(t *testing.T) {
	if PlatformLinux != "Linux" || OwnershipSelf != "Self" || ComponentTypeBuild != "BUILD" || BuildTypeUserInitiated != "USER_INITIATED" || PlatformMacOS != "macOS" {
		t.Error("enum constants")
	}
	if got := Enums["Platform"]; !reflect.DeepEqual(got, []string{"Windows", "Linux", "macOS"}) {
		t.Errorf("Enums[Platform] = %v", got)
	}
	if got := Enums["MarketplaceResourceType"]; len(got) != 2 {
		t.Errorf("Enums[MarketplaceResourceType] = %v", got)
	}
}

// FuzzRoute: Route never panics, and a match is consistent with the table.
func FuzzRoute(f *testing.F) {
	for _, s := range []string{"/CreateComponent", "/tags/arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A000000000000%3Acomponent%2Fx%2F1.0.0", "/tags/%", "/tags//", "//", ""} {
		f.Add("GET", s)
		f.Add("PUT", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		op, labels, ok := Route(method, path)
		if !ok {
			if op != nil || labels != nil {
				t.Fatalf("no match but op %v labels %v", op, labels)
			}
			return
		}
		if op.Method != method {
			t.Fatalf("%s %s routed to %s %s", method, path, op.Method, op.Path)
		}
		if v, has := labels["resourceArn"]; has && v == "" {
			t.Fatal("empty label")
		}
	})
}

// FuzzDecodeRequestEmptyWalk feeds arbitrary bodies to the decode and its
// empty-string walk: no panic, and an accepted body holds no "" in a
// member the walk checks at the top level.
func FuzzDecodeRequestEmptyWalk(f *testing.F) {
	f.Add(`{"distributions":[{"region":"r","amiDistributionConfiguration":{"description":""}}]}`)
	f.Add(`{"description":"","distributions":null}`)
	f.Add(`{"distributions":[7,{"region":""}],"tags":{"":""}}`)
	op := OperationByName("CreateDistributionConfiguration")
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(op.Method, op.Path, strings.NewReader(body))
		_, err := DecodeRequest(op, r, []byte(body), nil)
		if err != nil {
			return
		}
		var top map[string]any
		if json.Unmarshal([]byte(body), &top) == nil && top["description"] == "" {
			if _, dup := top["Description"]; !dup {
				t.Errorf("body %q accepted with an empty description", body)
			}
		}
	})
}
