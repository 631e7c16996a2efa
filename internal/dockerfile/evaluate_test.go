package dockerfile

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const testPath = "PATH=" + defaultPath

func evaluate(t *testing.T, text string, buildArgs map[string]string, base v1.Config) *Plan {
	t.Helper()
	f, err := Parse(text, buildArgs, "KILN")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	p, err := f.Evaluate(base)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	return p
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// TestEvaluateRules checks one Docker rule per case.
func TestEvaluateRules(t *testing.T) {
	tests := []struct {
		name      string
		text      string
		buildArgs map[string]string
		base      v1.Config
		check     func(t *testing.T, p *Plan)
	}{
		{"env forms", "FROM a\nENV A=1 B=\"two words\" C='$A'\nENV D legacy  form\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "Env", p.Config.Env, []string{testPath, "A=1", "B=two words", "C=$A", "D=legacy  form"})
		}},
		{"env sees old values within one instruction", "FROM a\nENV A=old\nENV A=new B=$A\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "Env", p.Config.Env, []string{testPath, "A=new", "B=old"})
		}},
		{"env replaces inherited in place", "FROM a\nENV PATH=/x:$PATH\n", nil, v1.Config{Env: []string{"PATH=/bin", "Z=1"}}, func(t *testing.T, p *Plan) {
			equal(t, "Env", p.Config.Env, []string{"PATH=/x:/bin", "Z=1"})
		}},
		{"substitution forms", "FROM a\nENV E= S=set\nLABEL a=${S:-d} b=${U:-d} c=${S:+alt} d=${U:+alt} e=${E:-empty} f=\\$S g=${S}x h=$S.y\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "Labels", p.Config.Labels, map[string]string{"a": "set", "b": "d", "c": "alt", "d": "", "e": "empty", "f": "$S", "g": "setx", "h": "set.y"})
		}},
		{"run is not substituted", "FROM a\nENV A=1\nRUN echo $A ${B}\nRUN [\"echo\", \"$A\"]\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "argv0", p.Steps[0].Argv, []string{"/bin/sh", "-c", "echo $A ${B}"})
			equal(t, "argv1", p.Steps[1].Argv, []string{"echo", "$A"})
			equal(t, "env", p.Steps[0].Env, []string{testPath, "A=1"})
		}},
		{"arg default, build arg, env precedence", "FROM a\nARG A=def B=def C U\nENV C=env\nRUN x\n", map[string]string{"B": "cli", "C": "cli", "X": "undeclared"}, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "step env", p.Steps[0].Env, []string{testPath, "C=env", "A=def", "B=cli"})
			equal(t, "config env (ARG not persisted)", p.Config.Env, []string{testPath, "C=env"})
			equal(t, "history", p.History[2].CreatedBy, "RUN |3 A=def B=cli C=env /bin/sh -c x # buildkit")
		}},
		{"arg redeclared after from takes global value", "ARG V=1.2\nFROM a:$V\nARG V\nRUN echo\nLABEL v=$V\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "env", p.Steps[0].Env, []string{testPath, "V=1.2"})
			equal(t, "label", p.Config.Labels["v"], "1.2")
		}},
		{"global arg not visible without redeclaring", "ARG V=1\nFROM a\nLABEL v=x$V\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "label", p.Config.Labels["v"], "x")
		}},
		{"arg default expands", "FROM a\nENV BASE=/opt\nARG DIR=$BASE/app\nWORKDIR $DIR\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "WorkingDir", p.Config.WorkingDir, "/opt/app")
		}},
		{"proxy build args reach RUN only", "FROM a\nRUN x\nCOPY a b\n", map[string]string{"http_proxy": "http://p:3128"}, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "run env", p.Steps[0].Env, []string{testPath, "http_proxy=http://p:3128"})
			equal(t, "copy env", p.Steps[1].Env, []string{testPath})
			equal(t, "history", p.History[0].CreatedBy, "RUN /bin/sh -c x # buildkit")
		}},
		{"workdir relative and default", "FROM a\nRUN pwd\nWORKDIR app\nWORKDIR ../lib/./x\nRUN pwd\nWORKDIR /\n", nil, v1.Config{WorkingDir: "/srv"}, func(t *testing.T, p *Plan) {
			equal(t, "dir0", p.Steps[0].Dir, "/srv")
			equal(t, "mkdir", p.Steps[1], Step{Kind: "WORKDIR", Dest: "/srv/app", Dir: "/srv/app", Env: []string{testPath}, Line: 3})
			equal(t, "dir", p.Steps[3].Dir, "/srv/lib/x")
			equal(t, "final", p.Config.WorkingDir, "/")
			equal(t, "steps", len(p.Steps), 4)
		}},
		{"default dir is root", "FROM a\nRUN x\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "dir", p.Steps[0].Dir, "/")
		}},
		{"copy and add", "FROM a\nWORKDIR /app\nENV OWNER=1000 D=dst\nCOPY --chown=$OWNER:$OWNER --chmod=0644 --link src/${D}.txt $D\nCOPY a b ./\nCOPY [\"x y\", \"$D/\"]\nADD --checksum=sha256:abc https://e.com/f.tgz /opt/\nCOPY . .\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			c := p.Steps[1]
			equal(t, "copy", c, Step{Kind: "COPY", Sources: []string{"src/dst.txt"}, Dest: "/app/dst", Chown: "1000:1000", Chmod: "0644", Link: true, FromStage: -1,
				Env: []string{testPath, "OWNER=1000", "D=dst"}, Dir: "/app", Line: 4})
			equal(t, "multi dest", p.Steps[2].Dest, "/app/")
			equal(t, "json", p.Steps[3].Sources, []string{"x y"})
			equal(t, "json dest", p.Steps[3].Dest, "/app/dst/")
			equal(t, "add", p.Steps[4].Kind+" "+p.Steps[4].Checksum+" "+p.Steps[4].Dest, "ADD sha256:abc /opt/")
			equal(t, "dot", p.Steps[5].Dest, "/app/")
			equal(t, "history", p.History[2].CreatedBy, "COPY --chown=1000:1000 --chmod=0644 src/dst.txt /app/dst # buildkit")
		}},
		{"user", "FROM a\nARG U=app\nUSER $U:grp\nRUN id\n", nil, v1.Config{User: "root"}, func(t *testing.T, p *Plan) {
			equal(t, "step user", p.Steps[0].User, "app:grp")
			equal(t, "config user", p.Config.User, "app:grp")
		}},
		{"labels merge with parent", "FROM a\nLABEL b=2 \"c d\"=\"3 4\"\nLABEL a=override\n", nil, v1.Config{Labels: map[string]string{"a": "1", "z": "0"}}, func(t *testing.T, p *Plan) {
			equal(t, "Labels", p.Config.Labels, map[string]string{"a": "override", "b": "2", "c d": "3 4", "z": "0"})
		}},
		{"entrypoint clears inherited cmd", "FROM a\nENTRYPOINT [\"/bin/app\"]\n", nil, v1.Config{Cmd: []string{"bash"}}, func(t *testing.T, p *Plan) {
			equal(t, "Entrypoint", p.Config.Entrypoint, []string{"/bin/app"})
			equal(t, "Cmd", p.Config.Cmd, []string(nil))
		}},
		{"entrypoint keeps cmd set here", "FROM a\nCMD [\"--help\"]\nENTRYPOINT /bin/app\n", nil, v1.Config{Cmd: []string{"bash"}}, func(t *testing.T, p *Plan) {
			equal(t, "Entrypoint", p.Config.Entrypoint, []string{"/bin/sh", "-c", "/bin/app"})
			equal(t, "Cmd", p.Config.Cmd, []string{"--help"})
		}},
		{"shell wraps run cmd entrypoint", "FROM a\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nRUN a | b\nCMD echo $X\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "argv", p.Steps[0].Argv, []string{"/bin/bash", "-eo", "pipefail", "-c", "a | b"})
			equal(t, "Cmd", p.Config.Cmd, []string{"/bin/bash", "-eo", "pipefail", "-c", "echo $X"})
			equal(t, "Shell", p.Config.Shell, []string{"/bin/bash", "-eo", "pipefail", "-c"})
		}},
		{"inherited shell", "FROM a\nRUN x\n", nil, v1.Config{Shell: []string{"pwsh", "-c"}}, func(t *testing.T, p *Plan) {
			equal(t, "argv", p.Steps[0].Argv, []string{"pwsh", "-c", "x"})
		}},
		{"expose normalised", "FROM a\nARG P=8080\nEXPOSE 80 53/UDP $P/tcp 9000-9002/sctp\n", nil, v1.Config{ExposedPorts: map[string]struct{}{"22/tcp": {}}}, func(t *testing.T, p *Plan) {
			equal(t, "ports", p.Config.ExposedPorts, map[string]struct{}{"22/tcp": {}, "80/tcp": {}, "53/udp": {}, "8080/tcp": {}, "9000/sctp": {}, "9001/sctp": {}, "9002/sctp": {}})
		}},
		{"volume forms", "FROM a\nENV D=/data\nVOLUME $D /logs\nVOLUME [\"/v 1\"]\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "Volumes", p.Config.Volumes, map[string]struct{}{"/data": {}, "/logs": {}, "/v 1": {}})
		}},
		{"stopsignal", "FROM a\nARG S=SIGQUIT\nSTOPSIGNAL $S\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "StopSignal", p.Config.StopSignal, "SIGQUIT")
		}},
		{"healthcheck cmd with options", "FROM a\nHEALTHCHECK --interval=30s --timeout=3s --start-period=1m --start-interval=2s --retries=4 CMD curl -f http://localhost/ || exit 1\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "Healthcheck", p.Config.Healthcheck, &v1.HealthConfig{Test: []string{"CMD-SHELL", "curl -f http://localhost/ || exit 1"},
				Interval: 30 * time.Second, Timeout: 3 * time.Second, StartPeriod: time.Minute, Retries: 4})
		}},
		{"healthcheck exec form", "FROM a\nHEALTHCHECK CMD [\"/bin/check\", \"-q\"]\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "Test", p.Config.Healthcheck.Test, []string{"CMD", "/bin/check", "-q"})
		}},
		{"healthcheck none", "FROM a\nHEALTHCHECK NONE\n", nil, v1.Config{Healthcheck: &v1.HealthConfig{Test: []string{"CMD", "x"}}}, func(t *testing.T, p *Plan) {
			equal(t, "Healthcheck", p.Config.Healthcheck, &v1.HealthConfig{Test: []string{"NONE"}})
		}},
		{"maintainer", "FROM a\nMAINTAINER Jane Doe <jane@example.com>\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "Author", p.Author, "Jane Doe <jane@example.com>")
		}},
		{"onbuild recorded, parent triggers run first", "FROM a\nONBUILD RUN make\nRUN own\n", nil, v1.Config{OnBuild: []string{"COPY . /src", "RUN echo parent"}}, func(t *testing.T, p *Plan) {
			equal(t, "OnBuild", p.Config.OnBuild, []string{"RUN make"})
			equal(t, "kinds", []string{p.Steps[0].Kind, p.Steps[1].Kind, p.Steps[2].Kind}, []string{"COPY", "RUN", "RUN"})
			equal(t, "trigger line", p.Steps[0].Line, 1)
			equal(t, "trigger argv", p.Steps[1].Argv, []string{"/bin/sh", "-c", "echo parent"})
		}},
		{"heredoc run", "FROM a\nRUN <<EOF\nset -e\necho $HOME\nEOF\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "argv", p.Steps[0].Argv, []string{"/bin/sh", "-c", "set -e\necho $HOME\n"})
		}},
		{"run flags", "FROM a\nARG C=/root/.cache\nRUN --mount=type=cache,target=$C --mount=type=tmpfs,target=/tmp --network=none make\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "flags", p.Steps[0].Flags, []string{"--mount=type=cache,target=/root/.cache", "--mount=type=tmpfs,target=/tmp", "--network=none"})
		}},
		{"extension kept", "FROM a\nWORKDIR /w\nUSER u\nKILN component $X arn:1\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "step", p.Steps[1], Step{Kind: "KILN", Args: []string{"component", "$X", "arn:1"}, Env: []string{testPath}, Dir: "/w", User: "u", Line: 4})
		}},
		{"history one entry per instruction", "FROM a\nENV A=1\nRUN x\nCMD [\"y\"]\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "history", p.History, []v1.History{
				{CreatedBy: "ENV A=1", EmptyLayer: true},
				{CreatedBy: "RUN /bin/sh -c x # buildkit"},
				{CreatedBy: `CMD ["y"]`, EmptyLayer: true},
			})
		}},
		{"escape directive backtick", "# escape=`\nFROM a\nENV P=C:\\dir\nRUN echo `\n  hi\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "env", p.Config.Env[1], `P=C:\dir`)
			equal(t, "argv", p.Steps[0].Argv[2], "echo   hi")
		}},
		{"comment inside continuation", "FROM a\nRUN apt-get update && \\\n# a comment\n    apt-get install -y x\n", nil, v1.Config{}, func(t *testing.T, p *Plan) {
			equal(t, "argv", p.Steps[0].Argv[2], "apt-get update &&     apt-get install -y x")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, evaluate(t, tt.text, tt.buildArgs, tt.base))
		})
	}
}

func TestEvaluateDoesNotModifyBase(t *testing.T) {
	base := v1.Config{Env: []string{"A=1"}, Labels: map[string]string{"a": "1"}, ExposedPorts: map[string]struct{}{}}
	evaluate(t, "FROM a\nENV A=2\nLABEL a=2\nEXPOSE 80\n", nil, base)
	equal(t, "Env", base.Env, []string{"A=1"})
	equal(t, "Labels", base.Labels, map[string]string{"a": "1"})
	equal(t, "ExposedPorts", len(base.ExposedPorts), 0)
}

func TestEvaluateErrors(t *testing.T) {
	tests := []struct {
		name, text string
		base       v1.Config
		line       int
		contains   string
	}{
		{"bad substitution", "FROM a\nRUN x\nENV A=${B\n", v1.Config{}, 3, "ENV"},
		{"expose bad proto", "FROM a\nEXPOSE 80/xyz\n", v1.Config{}, 2, "invalid protocol"},
		{"expose bad port", "FROM a\nEXPOSE http\n", v1.Config{}, 2, "invalid port"},
		{"expose bad range", "FROM a\nEXPOSE 90-80\n", v1.Config{}, 2, "invalid port range"},
		{"volume empty", "FROM a\nVOLUME [\"\"]\n", v1.Config{}, 2, "empty string"},
		{"user empty", "FROM a\nUSER $NOPE\n", v1.Config{}, 2, "USER is empty"},
		{"workdir empty", "FROM a\nWORKDIR ${NOPE}\n", v1.Config{}, 2, "WORKDIR is empty"},
		{"stopsignal bad", "FROM a\nSTOPSIGNAL 9x!\n", v1.Config{}, 2, "invalid signal"},
		{"healthcheck bad duration", "FROM a\nHEALTHCHECK --interval=soon CMD x\n", v1.Config{}, 2, "--interval"},
		{"healthcheck too short", "FROM a\nHEALTHCHECK --timeout=1us CMD x\n", v1.Config{}, 2, "less than 1ms"},
		{"healthcheck retries", "FROM a\nHEALTHCHECK --retries=-1 CMD x\n", v1.Config{}, 2, "--retries"},
		{"copy many into file", "FROM a\nCOPY a b /file\n", v1.Config{}, 2, "ending in /"},
		{"copy empty path", "FROM a\nCOPY $NOPE /x\n", v1.Config{}, 2, "empty after substitution"},
		{"parent trigger invalid", "\nFROM a\n", v1.Config{OnBuild: []string{"BOGUS x"}}, 2, "ONBUILD trigger"},
		{"parent trigger from", "FROM a\n", v1.Config{OnBuild: []string{"FROM x"}}, 1, "isn't allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.text, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = f.Evaluate(tt.base)
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, not *Error", err, err)
			}
			if de.Line != tt.line || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q (line %d), want line %d containing %q", err, de.Line, tt.line, tt.contains)
			}
		})
	}
}

func TestEvaluateCopyFrom(t *testing.T) {
	text := "FROM a AS one\nRUN x\nFROM b AS two\nARG S=one\nCOPY --from=$S /x /y\nCOPY --from=0 /x /z\nCOPY --from=alpine:3 /etc/os-release /\nADD --from=one /x.tar.gz /opt/\n"
	f, err := Parse(text, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.EvaluateStage(1, v1.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		kind, from string
		stage      int
	}{{"COPY", "one", 0}, {"COPY", "0", 0}, {"COPY", "alpine:3", -1}, {"ADD", "one", 0}}
	if len(p.Steps) != len(want) {
		t.Fatalf("%d steps, want %d", len(p.Steps), len(want))
	}
	for i, w := range want {
		if s := p.Steps[i]; s.Kind != w.kind || s.From != w.from || s.FromStage != w.stage {
			t.Errorf("step %d: %s --from=%q stage %d, want %+v", i, s.Kind, s.From, s.FromStage, w)
		}
	}
}

func TestEvaluateCopyFromErrors(t *testing.T) {
	tests := []struct{ name, text, contains string }{
		{"itself by index", "FROM a\nCOPY --from=0 /x /y\n", "earlier stage"},
		{"later stage", "FROM a\nCOPY --from=later /x /y\nFROM b AS later\n", "not defined before"},
		{"url", "FROM a AS s\nFROM b\nADD --from=s http://h/x /y\n", "URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.text, nil)
			if err != nil {
				t.Fatal(err)
			}
			idx := 0
			if strings.Contains(tt.text, "FROM b\n") {
				idx = 1
			}
			_, err = f.EvaluateStage(idx, v1.Config{})
			var de *Error
			if !errors.As(err, &de) || !strings.Contains(de.Msg, tt.contains) {
				t.Fatalf("error %v, want one containing %q", err, tt.contains)
			}
		})
	}
}
