package main

import (
	"runtime"
	"testing"
)

func TestParentPlatform(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"", "linux/" + runtime.GOARCH, true},
		{"linux/arm64", "linux/arm64", true},
		{"linux/arm/v7", "linux/arm/v7", true},
		{"windows/amd64", "", false},
		{"linux", "", false},
	} {
		p, err := parentPlatform(tt.in)
		if (err == nil) != tt.ok || (tt.ok && p.String() != tt.want && !(tt.in == "" && runtime.GOARCH == "arm")) {
			t.Errorf("parentPlatform(%q) = %s, %v; want %s", tt.in, p.String(), err, tt.want)
		}
	}
}
