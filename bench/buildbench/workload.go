package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// step is one unit of the workload: one ExecuteBash step of kiln's
// component, one RUN line of buildah's Dockerfile, one `chroot ROOT
// /bin/sh -c` of the floor. The command is the same text in all three.
type step struct {
	Name    string // alphanumeric, as component step names must be
	Command string
}

// workload is the build every tool does: many small files, one large
// incompressible file, and two trivial steps that measure what a step
// costs when it does nothing. It writes only under /opt/bench, so the new
// layer holds exactly that directory.
func workload(files, bigMiB int) []step {
	return []step{
		{"SmallFiles", fmt.Sprintf(`mkdir -p /opt/bench/small && cd /opt/bench/small && i=0 && while [ $i -lt %d ]; do echo "small file $i" > f$i; i=$((i+1)); done`, files)},
		{"BigFile", fmt.Sprintf(`dd if=/dev/urandom of=/opt/bench/big bs=1M count=%d 2>/dev/null`, bigMiB)},
		{"EchoOne", `echo build step one`},
		{"EchoTwo", `echo build step two > /opt/bench/done`},
	}
}

// componentYAML is the workload as a component document: one build
// phase, one ExecuteBash step per workload step. Commands are written as
// JSON strings, which YAML reads as double-quoted scalars.
func componentYAML(steps []step) string {
	var b strings.Builder
	b.WriteString("name: buildbench\n")
	b.WriteString("description: the container build benchmark's workload\n")
	b.WriteString("schemaVersion: 1.0\n")
	b.WriteString("phases:\n")
	b.WriteString("  - name: build\n")
	b.WriteString("    steps:\n")
	for _, s := range steps {
		cmd, _ := json.Marshal(s.Command)
		fmt.Fprintf(&b, "      - name: %s\n", s.Name)
		b.WriteString("        action: ExecuteBash\n")
		b.WriteString("        inputs:\n")
		b.WriteString("          commands:\n")
		fmt.Fprintf(&b, "            - %s\n", cmd)
	}
	return b.String()
}

// dockerfileText is the workload as the Dockerfile a buildah user would write:
// one RUN line per step, in shell form (/bin/sh -c, as the floor runs it).
func dockerfileText(parent string, steps []step) string {
	var b strings.Builder
	fmt.Fprintf(&b, "FROM %s\n", parent)
	for _, s := range steps {
		fmt.Fprintf(&b, "RUN %s\n", s.Command)
	}
	return b.String()
}

// kilnDockerfileTemplate is the container recipe's Dockerfile: Image
// Builder's own minimal template, the parent plus the components.
const kilnDockerfileTemplate = "FROM {{{ imagebuilder:parentImage }}}\n{{{ imagebuilder:environments }}}\n{{{ imagebuilder:components }}}\n"
