package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// step is one command of the workload: one ExecuteBash step of a kiln
// component, one `chroot ROOT /bin/bash -c` of the floor. The command is
// the same text for both.
type step struct {
	Name    string // alphanumeric, as component step names must be
	Command string
}

// component is one of the workload's components: its name, the phase its
// steps belong to, and the steps.
type component struct {
	Name  string
	Phase string // "build" or "test"
	Steps []step
}

// testMarker is what the test component prints last, in the booted guest,
// once every check passed: both tools' runs are checked for it.
const testMarker = "TESTED-IN-GUEST"

// workload is the recipe both tools build: two small build components (a
// configuration file; many small files) and one test component that checks
// their work inside the booted image. The test commands contain no double
// quote: the floor passes them on the kernel command line, where a double
// quote delimits an argument.
func workload(files int) []component {
	return []component{
		{Name: "bench-config", Phase: "build", Steps: []step{
			{"WriteConfig", `mkdir -p /etc/kiln-bench && printf 'mode=bench\nfiles=%d\n' ` + fmt.Sprint(files) + ` > /etc/kiln-bench/app.conf`},
		}},
		{Name: "bench-files", Phase: "build", Steps: []step{
			{"SmallFiles", fmt.Sprintf(`mkdir -p /opt/bench/small && cd /opt/bench/small && i=0 && while [ $i -lt %d ]; do echo "small file $i" > f$i; i=$((i+1)); done`, files)},
		}},
		{Name: "bench-booted", Phase: "test", Steps: []step{
			{"ConfigPresent", `grep -qx mode=bench /etc/kiln-bench/app.conf`},
			{"FilesPresent", fmt.Sprintf(`test $(ls /opt/bench/small | wc -l) -eq %d && grep -qx 'small file %d' /opt/bench/small/f%d`, files, files-1, files-1)},
			{"Marker", `echo ` + testMarker},
		}},
	}
}

// buildSteps are the workload's build-phase steps, in order.
func buildSteps(cs []component) []step {
	var out []step
	for _, c := range cs {
		if c.Phase == "build" {
			out = append(out, c.Steps...)
		}
	}
	return out
}

// testScript is the test phase as one shell command line: every check
// joined with &&, so the marker is printed only when all passed.
func testScript(cs []component) string {
	var cmds []string
	for _, c := range cs {
		if c.Phase == "test" {
			for _, s := range c.Steps {
				cmds = append(cmds, s.Command)
			}
		}
	}
	return strings.Join(cmds, " && ")
}

// documentYAML is a component as an Image Builder component document: one
// phase, one ExecuteBash step per command. Commands are written as JSON
// strings, which YAML reads as double-quoted scalars.
func documentYAML(c component) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\n", c.Name)
	b.WriteString("description: the machine image benchmark's workload\n")
	b.WriteString("schemaVersion: 1.0\n")
	b.WriteString("phases:\n")
	fmt.Fprintf(&b, "  - name: %s\n", c.Phase)
	b.WriteString("    steps:\n")
	for _, s := range c.Steps {
		cmd, _ := json.Marshal(s.Command)
		fmt.Fprintf(&b, "      - name: %s\n", s.Name)
		b.WriteString("        action: ExecuteBash\n")
		b.WriteString("        inputs:\n")
		b.WriteString("          commands:\n")
		fmt.Fprintf(&b, "            - %s\n", cmd)
	}
	return b.String()
}

// printedLine reports whether text has a line that, spaces trimmed, is
// the marker as a command printed it: exactly marker when prefix is "",
// else ending in prefix+marker (kiln's step logs put "CmdExecution:
// Stdout: " before a command's output). A command line or a document
// quoting the marker ("echo MARKER") does not count: the kernel echoes
// its command line to the console, and kiln's log names the commands.
func printedLine(text, prefix, marker string) bool {
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == marker || prefix != "" && strings.HasSuffix(line, prefix+marker) {
			return true
		}
	}
	return false
}
