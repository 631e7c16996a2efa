package awsapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// DecodeRequest builds op's input from an HTTP request the way restJson1
// binds it: members without a location come from the JSON body (PUT and POST
// only; an empty body, "{}" and "null" are all an empty input, explicit
// nulls leave members unset, unknown keys are ignored), querystring members
// from r's URL query (a list member from repeated keys, tagKeys=a&tagKeys=b),
// header members from r's header, and uri members from labels, which the
// caller passes already percent-decoded (Route returns them so).
//
// It does not run Validate. Errors are *Error: malformed JSON is a
// SerializationException; a value of the wrong JSON type, or a query value
// that does not parse as its member's type, is an
// InvalidParameterValueException naming the member path.
//
// A type error's member path is the one encoding/json reports: list
// indexes are not in it (filters.values, not filters[0].values).
//
// Keys are matched the way encoding/json matches them, so a key that
// differs from the member name only in case is accepted; AWS would ignore
// it. No SDK sends such keys.
func DecodeRequest(op *Operation, r *http.Request, body []byte, labels map[string]string) (Input, error) {
	in := op.NewInput()
	if op.Method == http.MethodPut || op.Method == http.MethodPost {
		if err := decodeBody(in, body); err != nil {
			return nil, err
		}
	}
	if b, ok := in.(httpBound); ok {
		p := &httpParams{labels: labels}
		if r != nil {
			p.header = r.Header
			if r.URL != nil {
				p.query = r.URL.Query()
			}
		}
		if err := b.bindHTTP(p); err != nil {
			return nil, err
		}
	}
	return in, nil
}

func decodeBody(in Input, body []byte) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	err := json.Unmarshal(body, in)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return Errorf(ErrCodeSerializationException, "The request body could not be parsed: expected a JSON object, got %s", typeErr.Value)
		}
		return invalidValue(typeErr.Field, "expected "+modelTypeName(typeErr.Type))
	}
	return Errorf(ErrCodeSerializationException, "The request body could not be parsed: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// modelTypeName names a Go type of this package by the model's type words,
// which is what a client author reads in the API reference.
func modelTypeName(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[Timestamp]() {
		return "timestamp"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int32:
		return "integer"
	case reflect.Int64:
		return "long"
	case reflect.Float64:
		return "double"
	case reflect.Slice:
		return "list"
	case reflect.Map:
		return "map"
	case reflect.Struct:
		return "structure"
	}
	return t.String()
}

// httpParams holds the parts of a request that non-body members bind to.
type httpParams struct {
	query  url.Values
	header http.Header
	labels map[string]string
}

// values returns the raw values bound to name at location (as the model
// spells it: "querystring", "uri", "header"), or nil when there are none.
func (p *httpParams) values(location, name string) []string {
	switch location {
	case "querystring":
		if v := p.query[name]; len(v) > 0 {
			return v
		}
	case "uri":
		if v, ok := p.labels[name]; ok {
			return []string{v}
		}
	case "header":
		if v := p.header.Values(name); len(v) > 0 {
			return v
		}
	}
	return nil
}

// The parse helpers turn one query/header/label value into a member's type;
// a failure names the member like a JSON type error does.

func parseBool(name, s string) (*bool, error) {
	switch s {
	case "true":
		v := true
		return &v, nil
	case "false":
		v := false
		return &v, nil
	}
	return nil, invalidValue(name, "expected boolean")
}

func parseInt32(name, s string) (*int32, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return nil, invalidValue(name, "expected integer")
	}
	v := int32(n)
	return &v, nil
}

func parseInt64(name, s string) (*int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, invalidValue(name, "expected long")
	}
	return &n, nil
}

func parseFloat64(name, s string) (*float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, invalidValue(name, "expected double")
	}
	return &f, nil
}

func parseTimestampParam(name, s string) (*Timestamp, error) {
	t, err := ParseTimestamp(s)
	if err != nil {
		return nil, invalidValue(name, "expected timestamp")
	}
	return &t, nil
}
