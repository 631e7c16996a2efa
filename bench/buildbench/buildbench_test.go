package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/kiln-build/kiln/internal/dockerfile"
	"github.com/kiln-build/kiln/internal/toe"
)

// The component document and the Dockerfile carry the same commands, as
// kiln's own parsers read them.
func TestWorkloadDocuments(t *testing.T) {
	steps := workload(20, 1)
	doc, err := toe.Parse("buildbench.yaml", []byte(componentYAML(steps)))
	if err != nil {
		t.Fatalf("component document: %v\n%s", err, componentYAML(steps))
	}
	if len(doc.Phases) != 1 || doc.Phases[0].Name != "build" || len(doc.Phases[0].Steps) != len(steps) {
		t.Fatalf("document phases = %+v", doc.Phases)
	}
	for i, s := range doc.Phases[0].Steps {
		in, _ := s.Inputs.(map[string]any)
		cmds, _ := in["commands"].([]any)
		if s.Name != steps[i].Name || s.Action != "ExecuteBash" || len(cmds) != 1 || cmds[0] != steps[i].Command {
			t.Errorf("step %d = %s %s %#v; want %s %q", i, s.Name, s.Action, s.Inputs, steps[i].Name, steps[i].Command)
		}
	}

	f, err := dockerfile.Parse(dockerfileText("127.0.0.1:5000/base:latest", steps), nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := f.Evaluate(v1.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Steps) != len(steps) {
		t.Fatalf("Dockerfile has %d steps, want %d", len(plan.Steps), len(steps))
	}
	for i, st := range plan.Steps {
		if st.Kind != "RUN" || st.Argv[len(st.Argv)-1] != steps[i].Command {
			t.Errorf("Dockerfile step %d = %s %q, want RUN %q", i, st.Kind, st.Argv, steps[i].Command)
		}
	}
}

func TestParseTools(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"kiln,buildah,floor", []string{"kiln", "buildah", "floor"}, false},
		{"floor, kiln", []string{"kiln", "floor"}, false},
		{"buildah,buildah", []string{"buildah"}, false},
		{"docker", nil, true},
		{"", nil, true},
	} {
		got, err := parseTools(tc.in)
		if (err != nil) != tc.wantErr || !slices.Equal(got, tc.want) {
			t.Errorf("parseTools(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// tarOf makes a layer tar of the given regular files (name → size).
func tarOf(t *testing.T, files map[string]int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "opt/bench/small/", Typeflag: tar.TypeDir, Mode: 0o755})
	for name, size := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(size)}); err != nil {
			t.Fatal(err)
		}
		tw.Write(make([]byte, size))
	}
	tw.Close()
	return buf.Bytes()
}

func TestCountTar(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]int
		wantErr bool
	}{
		{"complete", map[string]int{"opt/bench/small/f0": 1, "./opt/bench/small/f1": 1, "/opt/bench/big": 1 << 20, "opt/bench/done": 4}, false},
		{"missing a small file", map[string]int{"opt/bench/small/f0": 1, "opt/bench/big": 1 << 20, "opt/bench/done": 4}, true},
		{"short big file", map[string]int{"opt/bench/small/f0": 1, "opt/bench/small/f1": 1, "opt/bench/big": 100, "opt/bench/done": 4}, true},
		{"no done marker", map[string]int{"opt/bench/small/f0": 1, "opt/bench/small/f1": 1, "opt/bench/big": 1 << 20}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lc layerCheck
			if err := countTar(bytes.NewReader(tarOf(t, tc.files)), &lc); err != nil {
				t.Fatal(err)
			}
			if err := lc.matches(2, 1); (err != nil) != tc.wantErr {
				t.Errorf("matches = %v, want error %v (%+v)", err, tc.wantErr, lc)
			}
		})
	}
}

func TestLayerChecks(t *testing.T) {
	good := layerCheck{SmallFiles: 2, BigBytes: 1 << 20, Done: true, Compressed: 1234}
	a, b := good, good
	a.Digest, b.Digest = "sha256:a", "sha256:b"
	for _, tc := range []struct {
		name   string
		layers []layerCheck
		wantOK []bool
	}{
		{"distinct", []layerCheck{a, b}, []bool{true, true}},
		{"cached", []layerCheck{a, a}, []bool{true, false}},
		{"no digests (floor)", []layerCheck{good, good}, []bool{true}},
		{"short", []layerCheck{a, {Digest: "sha256:c"}}, []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := layerChecks(toolResult{Tool: "x", Layers: tc.layers}, 2, 1)
			var ok []bool
			for _, c := range cs {
				ok = append(ok, c.OK)
			}
			if !slices.Equal(ok, tc.wantOK) {
				t.Errorf("checks = %+v, want OK %v", cs, tc.wantOK)
			}
		})
	}
}

func TestReport(t *testing.T) {
	s := time.Second
	rep := report{
		Runs: 3, Files: 2000, BigMiB: 20, Steps: workload(2000, 20), Compressor: "gzip -1",
		Tools: []toolResult{
			{Tool: toolKiln, Timed: "k", First: 3 * s, Runs: []time.Duration{2 * s, 3 * s, 4 * s}},
			{Tool: toolBuildah, Timed: "b", First: 7 * s, Runs: []time.Duration{6 * s, 8 * s, 10 * s}},
			{Tool: toolFloor, Timed: "f", Runs: []time.Duration{2 * s, 2 * s, 2 * s}},
		},
		Machine: machine{CPUs: 2, LoadBefore: 3},
	}
	rep.Targets = rep.evaluateTargets()
	want := []benchkit.Check{
		{Name: "kiln ≤ 0.3× buildah (median wall time)", OK: false, Detail: "0.38× (fastest against fastest: 0.33×)"},
		{Name: "kiln ≤ 1.1× floor (median wall time)", OK: false, Detail: "1.50× (fastest against fastest: 1.00×)"},
	}
	if !slices.Equal(rep.Targets, want) {
		t.Errorf("targets = %+v, want %+v", rep.Targets, want)
	}
	rep.MultiStage = &multiStageResult{Kiln: []time.Duration{2 * s, 3 * s}, Buildah: []time.Duration{6 * s, 6 * s}}
	rep.Rebuild = []rebuildResult{{Mode: "docker", Layers: 5, NewLayers: 1, NewBytes: 170, TotalBytes: 22_000_000, PullTime: s / 100, FirstTime: 3 * s, RebuildTime: 2 * s}}
	var buf bytes.Buffer
	rep.writeMarkdown(&buf)
	for _, line := range []string{
		"| kiln | 2.50 s | 2.00 s | 3.00 s | 0.42× |",
		"| docker | 5 | 1 | 170 | 22,000,000 | 0.01 s | 3.00 s | 2.00 s |",
		"| kiln | k | 3.00 s | 3.00 s | 2.00 s | 4.00 s | 0.38× | 1.50× |",
		"| buildah | b | 7.00 s | 8.00 s | 6.00 s | 10.00 s | 1.00× | 4.00× |",
		"| floor | f | — | 2.00 s | 2.00 s | 2.00 s | 0.25× | 1.00× |",
		"the machine was busy",
	} {
		if !strings.Contains(buf.String(), line) {
			t.Errorf("report lacks %q:\n%s", line, buf.String())
		}
	}
	// A tool with no successful build shows dashes and no target.
	rep.Tools[1].Runs = nil
	if got := rep.evaluateTargets(); len(got) != 1 || !strings.Contains(got[0].Name, "floor") {
		t.Errorf("targets without buildah = %+v", got)
	}
}

// The base image as a layout (what skopeo pushes) and as a directory (the
// floor's lower layer) hold the same files.
func TestBase(t *testing.T) {
	if _, err := os.Stat(busyboxPath); err != nil {
		t.Skip("busybox-static is not installed")
	}
	es, err := baseEntries()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := writeLayout(filepath.Join(dir, "layout"), es); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 || m.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "latest" {
		t.Fatalf("layout index = %+v, %v", m, err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	names := map[string]bool{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimSuffix(h.Name, "/")] = true
	}

	root := filepath.Join(dir, "rootfs")
	if err := writeRootfs(root, es); err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if !names[e.Name] {
			t.Errorf("layer lacks %s", e.Name)
		}
		if _, err := os.Lstat(filepath.Join(root, e.Name)); err != nil {
			t.Errorf("rootfs: %v", err)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || target != "busybox" {
		t.Errorf("bin/sh -> %q, %v", target, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp mode %v, %v; want sticky", fi.Mode(), err)
	}
}

// The floor, at a tiny size: mount, chroot, umount, tar | gzip, and
// nothing left mounted or on disk afterwards.
func TestFloor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the floor mounts an overlay: needs root")
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		t.Skip("busybox-static is not installed")
	}
	es, err := baseEntries()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := writeRootfs(filepath.Join(dir, "rootfs"), es); err != nil {
		t.Fatal(err)
	}
	fb, err := newFloorBuilder(filepath.Join(dir, "rootfs"), filepath.Join(dir, "floor"))
	if err != nil {
		t.Skip(err)
	}
	d, lc, err := fb.build(context.Background(), 1, workload(10, 1))
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || lc.matches(10, 1) != nil {
		t.Errorf("floor build = %v, %+v", d, lc)
	}
	if ms := benchkit.MountsUnder(dir); len(ms) > 0 {
		t.Errorf("still mounted: %v", ms)
	}
	if _, err := os.Stat(filepath.Join(dir, "floor", "1")); !os.IsNotExist(err) {
		t.Errorf("the build's directory is left: %v", err)
	}
}
