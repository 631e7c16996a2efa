package awsapi

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTimestampMarshal(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Unix(1705600256, 0), "1705600256"},
		{time.Unix(1705600256, 123e6), "1705600256.123"},
		{time.Unix(1705600256, 1), "1705600256.000000001"},
		{time.Unix(0, 0), "0"},
		{time.Unix(-1, 5e8), "-0.5"},
		{time.Unix(-2, 75e7), "-1.25"},
		{time.Unix(-10, 0), "-10"},
	} {
		b, err := json.Marshal(Timestamp{tc.t})
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.t, b, err, tc.want)
		}
	}
	// As a member: a pointer, omitted when nil.
	b, _ := json.Marshal(&ImageSummary{Name: "x", DeprecationTime: &Timestamp{time.Unix(1705600256, 5e8)}})
	if want := `{"name":"x","deprecationTime":1705600256.5}`; string(b) != want {
		t.Errorf("member: %s, want %s", b, want)
	}
}

func TestTimestampUnmarshal(t *testing.T) {
	ref := time.Unix(1705600256, 123e6).UTC()
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1705600256.123", ref, true},
		{"1705600256.1230000009", ref, true}, // past nanoseconds: truncated
		{"1705600256", time.Unix(1705600256, 0).UTC(), true},
		{"1.705600256123e9", ref, true},
		{"-0.5", time.Unix(-1, 5e8).UTC(), true},
		{`"2024-01-18T17:50:56.123Z"`, ref, true},
		{`"2024-01-18T18:50:56.123+01:00"`, ref, true},
		{`"2024-01-18T17:50:56Z"`, time.Unix(1705600256, 0).UTC(), true},
		{`"1705600256.123"`, ref, true},
		{`"yesterday"`, time.Time{}, false},
		{`"2024-01-18"`, time.Time{}, false},
		{"true", time.Time{}, false},
		{"{}", time.Time{}, false},
		{"[]", time.Time{}, false},
		{"1e300", time.Time{}, false},
		{"99999999999999999999", time.Time{}, false},
		{"253402300800", time.Time{}, false}, // year 10000
		{"253402300799", time.Unix(253402300799, 0).UTC(), true},
		{"-62135596800", time.Unix(-62135596800, 0).UTC(), true},
		{"-62135596801", time.Time{}, false},
	} {
		var got Timestamp
		err := json.Unmarshal([]byte(tc.in), &got)
		if (err == nil) != tc.ok {
			t.Errorf("Unmarshal(%s): err %v, want ok=%t", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && !got.Equal(tc.want) {
			t.Errorf("Unmarshal(%s) = %v, want %v", tc.in, got.Time, tc.want)
		}
	}
	// null leaves the value alone.
	ts := Timestamp{ref}
	if err := json.Unmarshal([]byte("null"), &ts); err != nil || !ts.Equal(ref) {
		t.Errorf("null: %v %v", ts, err)
	}
}

// FuzzTimestamp: whatever decodes must encode and decode back to the same
// instant, and nothing may panic.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"1705600256.123", "0", "-0.5", `"2024-01-18T17:50:56.123Z"`, "1e9", "null", `"x"`, "-62135596800", "253402300799.999999999", "1.7E+9"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ts Timestamp
		if err := ts.UnmarshalJSON(b); err != nil {
			return
		}
		out, err := ts.MarshalJSON()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		var back Timestamp
		if err := back.UnmarshalJSON(out); err != nil {
			t.Fatalf("Unmarshal(%s) of Marshal(%s): %v", out, b, err)
		}
		if !back.Equal(ts.Time) {
			t.Fatalf("round trip of %s: %v -> %s -> %v", b, ts.Time, out, back.Time)
		}
	})
}

// FuzzDecodeRequest feeds random bodies and query strings to a few
// operations; decoding and validating must never panic, and every error must
// be an *Error.
func FuzzDecodeRequest(f *testing.F) {
	ops := []string{"CreateComponent", "CreateDistributionConfiguration", "ListImages", "UntagResource", "StartResourceStateUpdate", "CreateImagePipeline", "ImportDiskImage", "GetImage"}
	f.Add(uint8(0), []byte(`{"name":"n","semanticVersion":"1.0.0","platform":"Linux","clientToken":"t"}`), "")
	f.Add(uint8(1), []byte(`{"name":"d","distributions":[{"region":"r","amiDistributionConfiguration":{"name":"{{imagebuilder:buildDate}}"}}],"clientToken":"t"}`), "")
	f.Add(uint8(2), []byte(`{"filters":[{"name":"name","values":["a"]}],"maxResults":25}`), "")
	f.Add(uint8(3), []byte(nil), "tagKeys=a&tagKeys=b")
	f.Add(uint8(4), []byte(`{"resourceArn":"r","updateAt":1705600256.123,"state":{"status":"DEPRECATED"}}`), "")
	f.Add(uint8(5), []byte(`{"schedule":{"scheduleExpression":"cron(0 0 * * ? *)"}}`), "")
	f.Add(uint8(6), []byte(`{"windowsConfiguration":{"imageIndex":1}}`), "")
	f.Add(uint8(7), []byte(nil), "imageBuildVersionArn=%zz")
	f.Add(uint8(0), []byte(`{"tags":{"aws:x":"v"},"name":null}`), "")
	f.Add(uint8(2), []byte(`[`), "")
	f.Fuzz(func(t *testing.T, which uint8, body []byte, query string) {
		op := OperationByName(ops[int(which)%len(ops)])
		r := httptest.NewRequest(op.Method, "/x", nil)
		r.URL.RawQuery = query
		in, err := DecodeRequest(op, r, body, map[string]string{"resourceArn": strings.ToValidUTF8(query, "")})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is a %T", err, err)
			}
			return
		}
		if err := in.Validate(); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Validate error %v is a %T", err, err)
			}
		}
		if _, err := json.Marshal(in); err != nil {
			t.Fatalf("decoded input does not marshal: %v", err)
		}
	})
}
