package action

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReboot(t *testing.T) {
	env, _ := testEnv(t)
	tests := []struct {
		inputs any
		delay  time.Duration
	}{
		{nil, 0},
		{map[string]any{}, 0},
		{map[string]any{"delaySeconds": 5}, 5 * time.Second},
		{map[string]any{"delaySeconds": "7"}, 7 * time.Second},
	}
	for _, tt := range tests {
		res, err := mustLookup(t, "Reboot").Run(context.Background(), env, tt.inputs)
		if err != nil {
			t.Fatal(err)
		}
		want := Result{Reboot: true, ResumeAtNextStep: true, RebootDelay: tt.delay}
		if !reflect.DeepEqual(res, want) {
			t.Errorf("Reboot(%v) = %+v, want %+v", tt.inputs, res, want)
		}
	}
}

// recordingUpdater is an osUpdater whose "system" has the named package
// managers in /usr/bin and whose commands are recorded, not run.
func recordingUpdater(installed []string, held string, fail string) (osUpdater, *[]string) {
	var cmds []string
	u := osUpdater{
		lookPath: func(_ *Env, name string) (string, error) {
			for _, n := range installed {
				if n == name {
					return "/usr/bin/" + name, nil
				}
			}
			return "", errors.New("not found")
		},
		run: func(_ context.Context, _ *Env, argv []string) (string, error) {
			line := strings.Join(argv, " ")
			cmds = append(cmds, line)
			if strings.HasSuffix(line, "showhold") {
				return held, nil
			}
			if fail != "" && strings.Contains(line, fail) {
				return "", errors.New("exit code 100")
			}
			return "", nil
		},
	}
	return u, &cmds
}

func TestUpdateOS(t *testing.T) {
	apt := "-y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
	tests := []struct {
		name      string
		installed []string
		inputs    any
		held      string
		fail      string
		want      []string
		wantErr   string
	}{
		{name: "dnf preferred over yum", installed: []string{"yum", "dnf"}, inputs: nil,
			want: []string{"/usr/bin/dnf -y upgrade"}},
		{name: "dnf include exclude", installed: []string{"dnf"}, inputs: m{"include": []any{"a", "b", "c"}, "exclude": []any{"b"}},
			want: []string{"/usr/bin/dnf -y upgrade a c"}},
		{name: "yum exclude", installed: []string{"yum"}, inputs: m{"exclude": []any{"kernel*", "glibc"}},
			want: []string{"/usr/bin/yum -y update --exclude=kernel* --exclude=glibc"}},
		{name: "apt all", installed: []string{"apt-get"}, inputs: m{},
			want: []string{"/usr/bin/apt-get update", "/usr/bin/apt-get " + apt + " --with-new-pkgs upgrade"}},
		{name: "apt include", installed: []string{"apt-get"}, inputs: m{"include": []any{"curl"}},
			want: []string{"/usr/bin/apt-get update", "/usr/bin/apt-get " + apt + " install --only-upgrade curl"}},
		{name: "apt exclude holds only new", installed: []string{"apt-get"}, inputs: m{"exclude": []any{"linux-image", "nginx"}}, held: "nginx\n",
			want: []string{"/usr/bin/apt-get update", "/usr/bin/apt-mark showhold", "/usr/bin/apt-mark hold linux-image",
				"/usr/bin/apt-get " + apt + " --with-new-pkgs upgrade", "/usr/bin/apt-mark unhold linux-image"}},
		{name: "apt exclude released on failure", installed: []string{"apt-get"}, inputs: m{"exclude": []any{"x"}}, fail: "upgrade",
			want: []string{"/usr/bin/apt-get update", "/usr/bin/apt-mark showhold", "/usr/bin/apt-mark hold x",
				"/usr/bin/apt-get " + apt + " --with-new-pkgs upgrade", "/usr/bin/apt-mark unhold x"}, wantErr: "exit code 100"},
		{name: "apt update fails", installed: []string{"apt-get"}, inputs: nil, fail: "update",
			want: []string{"/usr/bin/apt-get update"}, wantErr: "exit code 100"},
		{name: "zypper exclude", installed: []string{"zypper"}, inputs: m{"exclude": []any{"k"}},
			want: []string{"/usr/bin/zypper --non-interactive addlock k", "/usr/bin/zypper --non-interactive update", "/usr/bin/zypper --non-interactive removelock k"}},
		{name: "apk", installed: []string{"apk"}, inputs: m{"include": []any{"musl"}},
			want: []string{"/usr/bin/apk update", "/usr/bin/apk upgrade musl"}},
		{name: "apk exclude", installed: []string{"apk"}, inputs: m{"exclude": []any{"musl"}}, wantErr: "apk cannot exclude"},
		{name: "all excluded", installed: []string{"dnf"}, inputs: m{"include": []any{"a"}, "exclude": []any{"a"}}},
		{name: "none found", installed: nil, inputs: nil, wantErr: "no supported package manager"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, cmds := recordingUpdater(tt.installed, tt.held, tt.fail)
			env, _ := testEnv(t)
			_, err := newUpdateOS(u).Run(context.Background(), env, tt.inputs)
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if !reflect.DeepEqual(*cmds, tt.want) {
				t.Errorf("commands =\n%s\nwant\n%s", strings.Join(*cmds, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestUpdateOSRealCommands runs the registered UpdateOS for real against
// a PATH holding only a stand-in apt-get script, so detection, PATH
// lookup, environment and process handling are exercised without
// touching the machine's packages or the network.
func TestUpdateOSRealCommands(t *testing.T) {
	env, out := testEnv(t)
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "calls")
	script := "#!/bin/sh\necho \"$0 $* DEBIAN_FRONTEND=$DEBIAN_FRONTEND\" >> " + log + "\necho ran $1\n"
	must(t, os.WriteFile(filepath.Join(bin, "apt-get"), []byte(script), 0o755))
	env.Environ = []string{"PATH=" + bin}
	if _, err := mustLookup(t, "UpdateOS").Run(context.Background(), env, nil); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(log)
	want := bin + "/apt-get update DEBIAN_FRONTEND=noninteractive\n" +
		bin + "/apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold --with-new-pkgs upgrade DEBIAN_FRONTEND=noninteractive\n"
	if string(got) != want {
		t.Errorf("calls =\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(out.String(), "ran update") {
		t.Errorf("output not streamed: %q", out.String())
	}

	must(t, os.WriteFile(filepath.Join(bin, "apt-get"), []byte("#!/bin/sh\necho broken >&2\nexit 100\n"), 0o755))
	_, err := mustLookup(t, "UpdateOS").Run(context.Background(), env, nil)
	if err == nil || !strings.Contains(err.Error(), "exit code 100: broken") {
		t.Errorf("failing apt-get: err = %v", err)
	}

	env.Environ = []string{"PATH=" + t.TempDir()}
	if _, err := mustLookup(t, "UpdateOS").Run(context.Background(), env, nil); err == nil {
		t.Error("empty PATH: no error")
	}
}
