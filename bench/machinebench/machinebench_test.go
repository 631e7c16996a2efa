package main

import (
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/toe"
)

// Every component document parses with kiln's own parser and carries the
// workload's commands, in order, in the right phase.
func TestWorkloadDocuments(t *testing.T) {
	for _, c := range workload(20) {
		doc, err := toe.Parse(c.Name+".yaml", []byte(documentYAML(c)))
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.Name, err, documentYAML(c))
		}
		if len(doc.Phases) != 1 || doc.Phases[0].Name != c.Phase || len(doc.Phases[0].Steps) != len(c.Steps) {
			t.Fatalf("%s: phases = %+v", c.Name, doc.Phases)
		}
		for i, s := range doc.Phases[0].Steps {
			in, _ := s.Inputs.(map[string]any)
			cmds, _ := in["commands"].([]any)
			if s.Name != c.Steps[i].Name || s.Action != "ExecuteBash" || len(cmds) != 1 || cmds[0] != c.Steps[i].Command {
				t.Errorf("%s step %d = %s %s %#v; want %s %q", c.Name, i, s.Name, s.Action, s.Inputs, c.Steps[i].Name, c.Steps[i].Command)
			}
		}
	}
}

func TestWorkloadShape(t *testing.T) {
	cs := workload(500)
	if got := len(buildSteps(cs)); got != 2 {
		t.Errorf("build steps = %d, want 2 (one per build component)", got)
	}
	script := testScript(cs)
	for _, want := range []string{"-eq 500", "f499", "echo " + testMarker} {
		if !strings.Contains(script, want) {
			t.Errorf("test script %q lacks %q", script, want)
		}
	}
	if !strings.HasSuffix(script, "echo "+testMarker) {
		t.Errorf("the marker must come last, after every check: %q", script)
	}
}

func TestBootCommandLine(t *testing.T) {
	for _, tc := range []struct {
		tests   string
		wantErr bool
	}{
		{testScript(workload(500)), false},
		{`echo "quoted"`, true},
	} {
		got, err := bootCommandLine(tc.tests)
		if (err != nil) != tc.wantErr {
			t.Fatalf("bootCommandLine(%q) error = %v, want error %v", tc.tests, err, tc.wantErr)
		}
		if err != nil {
			continue
		}
		// One double-quoted argument after "--", ending in the power-off.
		_, args, ok := strings.Cut(got, " -- ")
		if !ok || !strings.HasPrefix(args, `-c "`) || !strings.HasSuffix(args, `poweroff -f"`) || strings.Count(args, `"`) != 2 {
			t.Errorf("command line %q: init's arguments are not one quoted -c script", got)
		}
		if !strings.HasPrefix(got, "root=/dev/vda rw console=ttyS0 panic=-1 init=/bin/sh") {
			t.Errorf("command line %q", got)
		}
	}
}

func TestPrintedLine(t *testing.T) {
	line, _ := bootCommandLine(testScript(workload(500)))
	for _, tc := range []struct {
		text, prefix string
		want         bool
	}{
		{"[    0.000000] Command line: " + line + "\n", "", false},
		{"[    0.000000] Command line: " + line + "\n" + testMarker + "\r\n[    9.9] reboot: Power down\n", "", true},
		{"CmdExecution: Stdout: " + testMarker + "\n", kilnStdout, true},
		{"            - \"echo " + testMarker + "\"\n", kilnStdout, false},
		{"", "", false},
	} {
		if got := printedLine(tc.text, tc.prefix, testMarker); got != tc.want {
			t.Errorf("printedLine(%q, %q) = %v, want %v", tc.text, tc.prefix, got, tc.want)
		}
	}
}

func TestTimingLines(t *testing.T) {
	log := strings.Join([]string{
		"2026-12-02T10:00:00Z CreateOutputImage: root filesystem stored as 127.0.0.1:1/kiln/machine-images@sha256:ab in 120ms",
		"2026-12-02T10:00:01Z CreateOutputImage: disk disks/sha256-ab.raw (2 GiB) ready in 4.1s",
		"2026-12-02T10:00:01Z CreateOutputImage: disk partition 1234, filesystem 5678",
		"2026-12-02T10:00:05Z LaunchTestInstance: test disk ready in 3.9s; booting vmlinuz",
		"2026-12-02T10:00:20Z LaunchTestInstance: test instance booted (tcg) and its agent answered in 15s",
		"2026-12-02T10:00:21Z ApplyTestComponents: TESTED-IN-GUEST",
		"2026-12-02T10:00:22Z TerminateTestInstance: test instance powered off",
	}, "\n")
	got := timingLines(log)
	if len(got) != 5 {
		t.Fatalf("timingLines = %d lines, want 5:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, l := range got {
		if strings.Contains(l, "partition") || strings.Contains(l, "TESTED") {
			t.Errorf("picked %q, which names no duration", l)
		}
	}
}

func TestKilnChecks(t *testing.T) {
	good := kilnRun{AMI: "ami-1", Log: "Step test/Marker (ExecuteBash) started\nCmdExecution: Stdout: " + testMarker}
	for _, tc := range []struct {
		name string
		runs []kilnRun
		want []bool
	}{
		{"all good", []kilnRun{good, good}, []bool{true, true}},
		{"no marker", []kilnRun{good, {AMI: "ami-2", Log: "nothing"}}, []bool{false, true}},
		{"marker only quoted", []kilnRun{good, {AMI: "ami-2", Log: "commands:\n  - echo " + testMarker}}, []bool{false, true}},
		{"disk reused", []kilnRun{good, {AMI: "ami-2", Log: good.Log + "\nthe disk of this root filesystem exists already; reusing x"}}, []bool{true, false}},
	} {
		cs := kilnChecks(tc.runs)
		for i, c := range cs {
			if c.OK != tc.want[i] {
				t.Errorf("%s: %s ok = %v, want %v (%s)", tc.name, c.Name, c.OK, tc.want[i], c.Detail)
			}
		}
	}
}

func TestEvaluateTargets(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		kiln, floor []time.Duration
		want        []bool
	}{
		{[]time.Duration{60 * s, 62 * s, 61 * s}, []time.Duration{50 * s, 50 * s, 50 * s}, []bool{true, true}},
		{[]time.Duration{95 * s}, []time.Duration{80 * s}, []bool{false, true}},
		{[]time.Duration{60 * s}, []time.Duration{30 * s}, []bool{true, false}},
	} {
		rep := report{Kiln: toolResult{Runs: tc.kiln}, Floor: toolResult{Runs: tc.floor}, Accel: "tcg"}
		got := rep.evaluateTargets()
		if len(got) != len(tc.want) {
			t.Fatalf("targets = %+v", got)
		}
		for i := range got {
			if got[i].OK != tc.want[i] {
				t.Errorf("kiln %v floor %v: %s ok = %v, want %v (%s)", tc.kiln, tc.floor, got[i].Name, got[i].OK, tc.want[i], got[i].Detail)
			}
		}
	}
}

// The firmware boot's extra time is the slower firmware's median over the
// direct boot kiln's test phase uses (its PVH copy when there is one).
func TestFirmwareOverDirect(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name  string
		boots []bootResult
		want  time.Duration
	}{
		{"PVH preferred", []bootResult{
			{Mode: "direct (PVH vmlinux)", Runs: []time.Duration{10 * s}},
			{Mode: "direct (bzImage)", Runs: []time.Duration{12 * s}},
			{Mode: "SeaBIOS → GRUB", Runs: []time.Duration{20 * s, 22 * s, 21 * s}},
			{Mode: "OVMF → GRUB", Runs: []time.Duration{18 * s}},
		}, 11 * s},
		{"bzImage without PVH", []bootResult{
			{Mode: "direct (bzImage)", Runs: []time.Duration{12 * s}},
			{Mode: "OVMF → GRUB", Runs: []time.Duration{18 * s}},
		}, 6 * s},
		{"a failed firmware boot is left out", []bootResult{
			{Mode: "direct (bzImage)", Runs: []time.Duration{12 * s}},
			{Mode: "SeaBIOS → GRUB", Error: "no marker"},
		}, 0},
		{"nothing measured", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := firmwareOverDirect(tc.boots); got != tc.want {
				t.Errorf("firmwareOverDirect = %s, want %s", got, tc.want)
			}
		})
	}
}

// The marker is seen also when it arrives split across writes.
func TestMarkerWriter(t *testing.T) {
	w := &markerWriter{marker: bootMarker, seen: make(chan struct{})}
	w.Write([]byte("[ 9.1] EXT4-fs (vda1"))
	select {
	case <-w.seen:
		t.Fatal("seen before the marker was complete")
	default:
	}
	w.Write([]byte("): re-mounted. Quota mode: none.\n"))
	w.Write([]byte("more\n"))
	select {
	case <-w.seen:
	default:
		t.Fatal("the marker was not seen")
	}
}
