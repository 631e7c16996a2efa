package service

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// TestRawAnswersMatchEncodingJSON checks that the answers the server
// writes with AppendJSON (GetComponent, ListComponents) are byte for byte
// what encoding/json makes of the same answer's generated shape, on an
// empty page, a page with a next token, the last page and a tagged
// component.
func TestRawAnswersMatchEncodingJSON(t *testing.T) {
	s := newWorkflowTestService(t, time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC))
	ctx := context.Background()
	const account = "111111111111"
	var arns []string
	for i := range 3 {
		out, err := s.CreateComponent(ctx, account, &awsapi.CreateComponentRequest{
			Name: fmt.Sprintf("raw-%d", i), SemanticVersion: "1.0.0", Platform: "Linux",
			ClientToken: fmt.Sprintf("raw-%d", i), Data: "name: x\nschemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: A\n        action: ExecuteBash\n        inputs:\n          commands: [\"echo <&>\"]\n",
			Tags: map[string]string{"k": fmt.Sprintf("v<%d>", i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		arns = append(arns, out.ComponentBuildVersionArn)
	}
	two := int32(2)
	pages := []*awsapi.ListComponentsRequest{
		{MaxResults: &two},
		{Owner: "Amazon", Filters: []awsapi.Filter{{Name: "name", Values: []string{"none such"}}}},
	}
	first, err := s.ListComponents(ctx, account, pages[0])
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, &awsapi.ListComponentsRequest{MaxResults: &two, NextToken: first.NextToken})
	for i, in := range pages {
		want, err := s.ListComponents(ctx, account, in)
		if err != nil {
			t.Fatal(err)
		}
		want.RequestId = "req-1"
		got, err := s.listComponentsWire(ctx, account, in)
		if err != nil {
			t.Fatal(err)
		}
		got.SetRequestId("req-1")
		compareJSON(t, fmt.Sprintf("ListComponents page %d", i), got, want)
	}
	for _, a := range arns {
		got, err := s.GetComponent(ctx, account, &awsapi.GetComponentRequest{ComponentBuildVersionArn: a})
		if err != nil {
			t.Fatal(err)
		}
		got.SetRequestId("req-2")
		// The generated shape, decoded from and encoded by encoding/json.
		var want awsapi.GetComponentResponse
		plain, err := json.Marshal(struct {
			RequestId               string                          `json:"requestId,omitempty"`
			Component               json.RawMessage                 `json:"component"`
			LatestVersionReferences *awsapi.LatestVersionReferences `json:"latestVersionReferences,omitempty"`
		}{got.RequestId, got.Component, got.LatestVersionReferences})
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(plain, &want); err != nil {
			t.Fatal(err)
		}
		b, err := got.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(plain) {
			t.Errorf("GetComponent %s:\n got %s\nwant %s", a, b, plain)
		}
		if !json.Valid(b) {
			t.Errorf("GetComponent %s: not JSON: %s", a, b)
		}
	}
}

// compareJSON compares what AppendJSON writes with encoding/json's
// encoding of want.
func compareJSON(t *testing.T, what string, got interface {
	AppendJSON([]byte) ([]byte, error)
}, want any) {
	t.Helper()
	g, err := got.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain-ASCII_1.2/3=", "quo\"te", "back\\slash", "<&>", "tab\t", "é✓", "\x00", "\xff"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s; want %s", s, got, want)
		}
	}
}
