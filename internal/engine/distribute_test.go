package engine

import (
	"slices"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

func TestJobFinalState(t *testing.T) {
	dist := &DistributionSpec{}
	cases := []struct {
		name         string
		distribution *DistributionSpec
		status       string
		reason       string
		wantStatus   string
		wantReason   string
	}{
		{"build available", nil, awsapi.ImageStatusAvailable, "", awsapi.ImageStatusAvailable, ""},
		{"build failed", nil, awsapi.ImageStatusFailed, "boom", awsapi.ImageStatusFailed, "boom"},
		{"build cancelled", nil, awsapi.ImageStatusCancelled, "asked", awsapi.ImageStatusCancelled, "asked"},
		{"distribution done", dist, awsapi.ImageStatusAvailable, "", awsapi.ImageStatusAvailable, ""},
		{"distribution failed", dist, awsapi.ImageStatusFailed, "no disk", awsapi.ImageStatusAvailable, "The last DistributeImage failed: no disk"},
		{"distribution cancelled", dist, awsapi.ImageStatusCancelled, "asked", awsapi.ImageStatusAvailable, "The last DistributeImage was cancelled."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := Job{Spec: Spec{Distribution: tc.distribution}}
			status, reason := j.finalState(tc.status, tc.reason)
			if status != tc.wantStatus || reason != tc.wantReason {
				t.Fatalf("finalState(%s, %q) = %s, %q; want %s, %q", tc.status, tc.reason, status, reason, tc.wantStatus, tc.wantReason)
			}
		})
	}
}

func TestMergeAmis(t *testing.T) {
	a := func(ids ...string) []awsapi.Ami {
		var out []awsapi.Ami
		for _, id := range ids {
			out = append(out, awsapi.Ami{Image: id})
		}
		return out
	}
	ids := func(amis []awsapi.Ami) []string {
		var out []string
		for _, x := range amis {
			out = append(out, x.Image)
		}
		return out
	}
	cases := []struct {
		name           string
		have           *awsapi.OutputResources
		added          []awsapi.Ami
		redistribution bool
		want           []string
	}{
		{"build replaces", &awsapi.OutputResources{Amis: a("ami-old")}, a("ami-new"), false, []string{"ami-new"}},
		{"distribution adds", &awsapi.OutputResources{Amis: a("ami-old")}, a("ami-new"), true, []string{"ami-old", "ami-new"}},
		{"distribution onto nothing", nil, a("ami-new"), true, []string{"ami-new"}},
		{"no id twice", &awsapi.OutputResources{Amis: a("ami-1", "ami-2")}, a("ami-2", "ami-3"), true, []string{"ami-1", "ami-2", "ami-3"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(mergeAmis(tc.have, tc.added, tc.redistribution)); !slices.Equal(got, tc.want) {
				t.Fatalf("mergeAmis = %v, want %v", got, tc.want)
			}
		})
	}
}
