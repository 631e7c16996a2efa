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
		return refuseEmpty(inputShape(in), body)
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

// emptyMember is one row of the generated emptyRefused table.
type emptyMember struct {
	name   string
	min    bool   // an optional string of minimum length 1 or more
	nested string // the structure shape the member, its list elements or its map values hold
	in     string // "list" or "map" when nested is the element shape, "" for a structure member
}

// inputShape is the model name of an input struct's shape: the Go type
// name, which the generator takes from the model.
func inputShape(in Input) string {
	t := reflect.TypeOf(in)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// refuseEmpty refuses "" in a body member whose shape requires at least
// one character (description, kmsKeyId, workingDirectory, subnetId, ...),
// as the service does. The input structs hold strings by value, so an
// empty string decodes to the same struct as an absent member and
// Validate cannot tell them apart; this reads the body again, generically,
// along the paths the generator found. Required members are left to
// Validate, which reports "" there as missing.
func refuseEmpty(shape string, body []byte) error {
	if _, ok := emptyRefused[shape]; !ok {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil // the typed decode accepted it; nothing more to say
	}
	return walkEmpty(shape, "", v)
}

func walkEmpty(shape, path string, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for _, m := range emptyRefused[shape] {
		val := obj[m.name]
		if val == nil {
			continue
		}
		if m.min {
			if s, ok := val.(string); ok && s == "" {
				p := memberPath(path, m.name)
				return invalidValue(p, p+" must have length greater than or equal to 1")
			}
			continue
		}
		switch m.in {
		case "":
			if err := walkEmpty(m.nested, memberPath(path, m.name), val); err != nil {
				return err
			}
		case "list":
			list, _ := val.([]any)
			for i, e := range list {
				if err := walkEmpty(m.nested, indexPath(path, m.name, i), e); err != nil {
					return err
				}
			}
		case "map":
			values, _ := val.(map[string]any)
			for _, k := range sortedKeys(values) {
				if err := walkEmpty(m.nested, keyPath(path, m.name, k), values[k]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
