package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/service"
)

// TestStartLifecycle: --lifecycle-interval 0 wires the artifacts but runs
// no loop; a negative interval is refused with the flag named.
func TestStartLifecycle(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		interval time.Duration
		err      string
	}{
		{0, ""},
		{-time.Minute, "--lifecycle-interval"},
	} {
		svc := &service.Service{}
		stop, err := startLifecycle(serveConfig{lifecycleInterval: tc.interval, dataDir: t.TempDir()}, svc, nil, "127.0.0.1:1", nil, log)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want one naming %s", tc.interval, err, tc.err)
			}
			continue
		}
		if err != nil || svc.LifecycleArtifacts == nil {
			t.Fatalf("%s: %v, artifacts %v", tc.interval, err, svc.LifecycleArtifacts)
		}
		stop()
	}
}

// TestWriteLifecycleRun: AMIs are indented under their image, a dry run
// says what it would do, and reasons carry the URIs and snapshots.
func TestWriteLifecycleRun(t *testing.T) {
	res := func(parent, id, action, status, reason string) service.LifecycleResource {
		r := service.LifecycleResource{ParentResourceId: parent}
		r.ResourceId, r.Region = id, "us-east-1"
		r.Action = &awsapi.LifecycleExecutionResourceAction{Name: action, Reason: "rule"}
		if status != "" {
			r.State = &awsapi.LifecycleExecutionResourceState{Status: status, Reason: reason}
		}
		return r
	}
	var b bytes.Buffer
	writeLifecycleRun(&b, service.LifecycleRun{LifecycleExecutionId: "lce-1", LifecyclePolicyArn: "p",
		State:     &awsapi.LifecycleExecutionState{Status: "SUCCESS"},
		Resources: []service.LifecycleResource{res("", "img", "DELETE", "SUCCESS", "gone"), res("img", "ami-1", "DELETE", "SKIPPED", "excluded")}})
	out := b.String()
	for _, want := range []string{"execution lce-1 of p: SUCCESS", "img ", "  ami-1", "SKIPPED", "excluded"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	writeLifecycleRun(&b, service.LifecycleRun{LifecyclePolicyArn: "p", DryRun: true, Resources: []service.LifecycleResource{res("", "img", "DEPRECATE", "", "")}})
	if out := b.String(); !strings.Contains(out, "dry run of p") || !strings.Contains(out, "WOULD DEPRECATE") {
		t.Errorf("dry run output:\n%s", out)
	}
}
