package postgres

import (
	"encoding/json"
	"maps"
	"testing"
)

func TestDecodeTags(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
		ok   bool
	}{
		{`{}`, map[string]string{}, true},
		{`{"team": "kiln"}`, map[string]string{"team": "kiln"}, true},
		{`{"a": "1", "b": ""}`, map[string]string{"a": "1", "b": ""}, true},
		{`{"\u00e9": "x\"y"}`, map[string]string{"é": `x"y`}, true},
		{`{"é": "ü"}`, map[string]string{"é": "ü"}, true},
		{`null`, map[string]string{}, true},
		{`{"a": 1}`, nil, false},
		{`{"a": "1",}`, nil, false},
		{`{"a" "1"}`, nil, false},
		{``, nil, false},
	} {
		got, err := decodeTags([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && !maps.Equal(got, tc.want)) {
			t.Errorf("decodeTags(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// FuzzDecodeTags checks decodeTags against encoding/json on any input.
func FuzzDecodeTags(f *testing.F) {
	for _, s := range []string{`{}`, `{"team": "kiln"}`, `{"a":"1","b":"2"}`, `{"a": "\n"}`, ` { "a" : "b" } `, `{"a":"b","a":"c"}`, `[]`, `{"a":}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want map[string]string
		werr := json.Unmarshal(b, &want)
		if want == nil {
			want = map[string]string{}
		}
		got, err := decodeTags(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeTags(%q) error %v; encoding/json says %v", b, err, werr)
		}
		if err == nil && !maps.Equal(got, want) {
			t.Fatalf("decodeTags(%q) = %v; encoding/json says %v", b, got, want)
		}
	})
}
