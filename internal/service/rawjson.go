package service

import (
	"encoding/json"
	"slices"
)

// rawListResponse is a List answer whose entries are already JSON: the
// rendering of each entry is cached per ARN, and splicing the cached bytes
// costs a copy where encoding/json would reflect over every entry and then
// re-validate it. The server writes it with AppendJSON.
type rawListResponse struct {
	requestID string
	member    string // the list member's name, e.g. "componentVersionList"
	items     []json.RawMessage
	nextToken string
}

// SetRequestId lets the server fill in the request ID.
func (r *rawListResponse) SetRequestId(id string) { r.requestID = id }

// AppendJSON writes {"requestId":…,"MEMBER":[…],"nextToken":…}, leaving out
// empty members as the generated shapes' omitempty does (an empty list
// included), so the bytes are those encoding/json wrote before.
func (r *rawListResponse) AppendJSON(b []byte) ([]byte, error) {
	n := len(r.requestID) + len(r.member) + len(r.nextToken) + 64
	for _, it := range r.items {
		n += len(it) + 1
	}
	b = slices.Grow(b, n)
	b = append(b, '{')
	if r.requestID != "" {
		b = append(b, `"requestId":`...)
		b = appendJSONString(b, r.requestID)
		if len(r.items) > 0 || r.nextToken != "" {
			b = append(b, ',')
		}
	}
	sep := false
	if len(r.items) > 0 {
		b = appendJSONString(b, r.member)
		b = append(b, ":["...)
		for i, it := range r.items {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, it...)
		}
		b = append(b, ']')
		sep = true
	}
	if r.nextToken != "" {
		if sep {
			b = append(b, ',')
		}
		b = append(b, `"nextToken":`...)
		b = appendJSONString(b, r.nextToken)
	}
	return append(b, '}'), nil
}

// MarshalJSON makes the answer usable where encoding/json is (tests,
// callers without the fast path).
func (r *rawListResponse) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil) }

// appendJSONString appends s as a JSON string. Request IDs, member names
// and page tokens are plain ASCII and are copied as they are; anything
// else goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
