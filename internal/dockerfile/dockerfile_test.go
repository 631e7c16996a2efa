package dockerfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseFrom(t *testing.T) {
	tests := []struct {
		name, text   string
		buildArgs    map[string]string
		wantFrom     string
		wantPlatform string
		wantLine     int
	}{
		{"plain", "FROM debian:12\n", nil, "debian:12", "", 1},
		{"lower case keyword", "from debian:12\n", nil, "debian:12", "", 1},
		{"named stage", "FROM debian:12 AS build\n", nil, "debian:12", "", 1},
		{"arg default", "ARG TAG=12\nFROM debian:${TAG}\n", nil, "debian:12", "", 2},
		{"build arg wins", "ARG TAG=12\nFROM debian:$TAG\n", map[string]string{"TAG": "13"}, "debian:13", "", 2},
		{"undeclared build arg ignored", "FROM debian:${TAG:-11}\n", map[string]string{"TAG": "13"}, "debian:11", "", 1},
		{"arg uses earlier arg", "ARG A=deb\nARG B=${A}ian\nFROM $B\n", nil, "debian", "", 3},
		{"platform", "FROM --platform=linux/amd64 busybox\n", nil, "busybox", "linux/amd64", 1},
		{"comments and directive", "# syntax=docker/dockerfile:1\n# a comment\n\nFROM busybox\n", nil, "busybox", "", 4},
		{"continuation", "FROM \\\n  busybox\n", nil, "busybox", "", 1},
		{"escape directive", "# escape=`\nFROM busybox\nRUN echo a `\n  b\n", nil, "busybox", "", 2},
		{"automatic platform arg", "FROM img-${TARGETARCH}\n", map[string]string{"TARGETARCH": "arm64"}, "img-arm64", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.text, tt.buildArgs)
			if err != nil {
				t.Fatal(err)
			}
			if f.From != tt.wantFrom || f.Platform != tt.wantPlatform || f.FromLine != tt.wantLine {
				t.Errorf("From=%q Platform=%q FromLine=%d, want %q %q %d", f.From, f.Platform, f.FromLine, tt.wantFrom, tt.wantPlatform, tt.wantLine)
			}
		})
	}
}

func TestParseInstructions(t *testing.T) {
	text := `FROM busybox
# comment between
RUN echo "$HOME" \
    && true
RUN ["echo", "hi"]
ENV A=1 B="two words"
ENV C legacy value
COPY --chown=1:1 a b /dst/
ONBUILD run echo hi
KILN --phase=build component arn:aws:imagebuilder:us-east-1:aws:component/x/1.0.0
KILN ["json", "args"]
`
	f, err := Parse(text, nil, "kiln")
	if err != nil {
		t.Fatal(err)
	}
	want := []Instruction{
		{Command: "RUN", Args: []string{`echo "$HOME"     && true`}, Line: 3, Original: `RUN echo "$HOME"     && true`},
		{Command: "RUN", Args: []string{"echo", "hi"}, JSON: true, Line: 5, Original: `RUN ["echo", "hi"]`},
		{Command: "ENV", Args: []string{"A=1", `B="two words"`}, Line: 6, Original: `ENV A=1 B="two words"`},
		{Command: "ENV", Args: []string{"C=legacy value"}, Line: 7, Original: `ENV C legacy value`},
		{Command: "COPY", Args: []string{"a", "b", "/dst/"}, Flags: []string{"--chown=1:1"}, Line: 8, Original: `COPY --chown=1:1 a b /dst/`},
		{Command: "ONBUILD", Args: []string{"run echo hi"}, Line: 9, Original: `ONBUILD run echo hi`},
		{Command: "KILN", Args: []string{"component", "arn:aws:imagebuilder:us-east-1:aws:component/x/1.0.0"}, Flags: []string{"--phase=build"}, Line: 10,
			Original: `KILN --phase=build component arn:aws:imagebuilder:us-east-1:aws:component/x/1.0.0`},
		{Command: "KILN", Args: []string{"json", "args"}, JSON: true, Line: 11, Original: `KILN ["json", "args"]`},
	}
	if !reflect.DeepEqual(f.Instructions, want) {
		t.Errorf("got\n%#v\nwant\n%#v", f.Instructions, want)
	}
}

func TestParseHeredoc(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"plain", "FROM busybox\nRUN <<EOF\necho a\necho b\nEOF\n", "echo a\necho b\n"},
		{"chomp tabs", "FROM busybox\nRUN <<-EOT\n\techo a\n\tEOT\n", "echo a\n"},
		{"quoted delimiter", "FROM busybox\nRUN <<'EOF'\necho $x\nEOF\n", "echo $x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.text, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Instructions[0].Heredoc; got != tt.want {
				t.Errorf("Heredoc = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text string
		line       int
		contains   string
	}{
		{"empty", "", 0, "no instructions"},
		{"only comments", "# hi\n", 0, "no instructions"},
		{"no from", "ARG A=1\n", 0, "no FROM"},
		{"run before from", "RUN true\nFROM busybox\n", 1, "before FROM"},
		{"duplicate stage name", "FROM a AS x\nFROM b AS X\n", 2, "already defined"},
		{"invalid stage name", "FROM a AS 1x\n", 1, "invalid stage name"},
		{"copy from empty", "FROM a\nCOPY --from= /a /b\n", 2, "--from"},
		{"unknown instruction", "FROM a\n\nFOO bar\n", 3, "unknown instruction: FOO"},
		{"unknown flag", "FROM a\nCOPY --own=1 a b\n", 2, "unknown flag --own"},
		{"flag on env", "FROM a\nENV --x=1 A=b\n", 2, "takes no flags"},
		{"copy one arg", "FROM a\nCOPY onlyone\n", 2, "at least two"},
		{"shell not json", "FROM a\nSHELL /bin/bash -c\n", 2, "JSON form"},
		{"healthcheck type", "FROM a\nHEALTHCHECK WHAT x\n", 2, "unknown type"},
		{"healthcheck none extra", "FROM a\nHEALTHCHECK NONE x\n", 2, "NONE takes no"},
		{"healthcheck cmd empty", "FROM a\nHEALTHCHECK CMD\n", 2, "requires a command"},
		{"env missing =", "FROM a\nENV A=1 B\n", 2, "can't find ="},
		{"env one word", "FROM a\nENV A\n", 2, "two arguments"},
		{"json not strings", "FROM a\nRUN [1, 2]\n", 2, "strings only"},
		{"onbuild onbuild", "FROM a\nONBUILD ONBUILD RUN x\n", 2, "isn't allowed"},
		{"onbuild from", "FROM a\nONBUILD FROM x\n", 2, "isn't allowed"},
		{"workdir empty", "FROM a\nWORKDIR\n", 2, "requires an argument"},
		{"from bad args", "FROM a b\n", 1, "FROM requires"},
		{"from empty ref", "ARG X\nFROM $X\n", 2, "empty after substitution"},
		{"copy heredoc", "FROM a\nCOPY <<EOF /x\nhi\nEOF\n", 2, "heredocs"},
		{"run heredoc shebang", "FROM a\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n", 2, "#!"},
		{"run heredoc unterminated", "FROM a\nRUN <<EOF\necho\n", 2, "unterminated heredoc"},
		{"bad escape directive", "# escape=x\nFROM a\n", 1, "escape"},
		{"line after continuation", "FROM a\nRUN a \\\n  b\nBOGUS\n", 4, "unknown instruction"},
		{"two escape directives", "# escape=`\n# escape=\\\nFROM a\n", 2, "only one"},
		{"bool flag value", "FROM a\nCOPY --link=maybe a b\n", 2, "true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text, nil)
			if err == nil {
				t.Fatal("no error")
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if tt.line > 0 && de.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", de.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
			if tt.line > 0 && !strings.Contains(err.Error(), "line ") {
				t.Errorf("error %q does not name the line", err)
			}
		})
	}
}

func TestParseExtensionCaseInsensitive(t *testing.T) {
	f, err := Parse("FROM a\nkiln x\n", nil, "KILN")
	if err != nil {
		t.Fatal(err)
	}
	if in := f.Instructions[0]; in.Command != "KILN" || !reflect.DeepEqual(in.Args, []string{"x"}) {
		t.Errorf("got %+v", in)
	}
}

func TestParseStages(t *testing.T) {
	text := "ARG BASE=debian:12\nFROM $BASE AS Build\nRUN make\nFROM build AS test\nRUN check\nFROM busybox\nCOPY --from=build /out /bin/\n"
	f, err := Parse(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, from string
		base, line int
		n          int
	}{
		{"build", "debian:12", -1, 2, 1},
		{"test", "build", 0, 4, 1},
		{"", "busybox", -1, 6, 1},
	}
	if len(f.Stages) != len(want) {
		t.Fatalf("%d stages, want %d", len(f.Stages), len(want))
	}
	for i, w := range want {
		s := f.Stages[i]
		if s.Name != w.name || s.From != w.from || s.BaseStage != w.base || s.FromLine != w.line || len(s.Instructions) != w.n {
			t.Errorf("stage %d = %+v, want %+v", i, s, w)
		}
	}
	if f.From != "busybox" || f.FromLine != 6 || len(f.Instructions) != 1 {
		t.Errorf("the file's own fields are not the last stage's: %q line %d", f.From, f.FromLine)
	}
}
