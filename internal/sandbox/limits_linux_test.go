//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func requireCgroups(t *testing.T) {
	t.Helper()
	if sup := Cgroups(); sup.Mode == CgroupNone {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no cgroups for limits: %s", sup.Why)
		}
		t.Skipf("no cgroups for limits: %s", sup.Why)
	}
}

func TestLimits(t *testing.T) {
	requireSandbox(t)
	requireCgroups(t)
	t.Logf("cgroups: %s (%s)", Cgroups().Mode, Cgroups().Why)
	before := sandboxCgroups()
	tests := []struct {
		name    string
		limits  Limits
		script  string
		wantErr error
		// wantFail: the script exits non-zero and its stderr says this.
		wantFail string
	}{
		{name: "within limits", limits: Limits{MilliCPU: 500, Memory: 256 << 20, Pids: 64},
			script: `dd if=/dev/zero of=/dev/null bs=1M count=16 2>/dev/null && echo ok`},
		// A bounded fork flood: 64 processes at most, so the shell's
		// forks start failing long before 500.
		{name: "fork flood", limits: Limits{Pids: 64},
			script: `i=0; while [ $i -lt 500 ]; do sleep 1000 & i=$((i+1)); done; echo spawned $i`, wantFail: "fork"},
		// The classic bomb, from a step that then waits: it cannot
		// grow past pids.max, and the sandbox's end kills all of it.
		{name: "fork bomb", limits: Limits{Pids: 128},
			script: `b() { b | b & }; b; sleep 1; exit 1`, wantFail: ""},
		{name: "memory hog", limits: Limits{Memory: 64 << 20},
			script: `dd if=/dev/zero of=/dev/null bs=512M count=1`, wantErr: ErrOutOfMemory},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLayers(t)
			cfg := l.config()
			cfg.Limits = tt.limits
			r := sh(t, cfg, tt.script)
			switch {
			case tt.wantErr != nil:
				if !errors.Is(r.err, tt.wantErr) {
					t.Fatalf("err %v (code %d), want %v\nstderr: %s", r.err, r.code, tt.wantErr, r.stderr)
				}
				t.Log(r.err)
			case tt.name == "fork bomb":
				if r.err != nil || r.code == 0 {
					t.Fatalf("code %d err %v", r.code, r.err)
				}
			case tt.wantFail != "":
				if r.err != nil || r.code == 0 || !strings.Contains(r.stderr, tt.wantFail) {
					t.Fatalf("code %d err %v stdout %q stderr %q", r.code, r.err, r.stdout, r.stderr)
				}
			default:
				if r.err != nil || r.code != 0 || strings.TrimSpace(r.stdout) != "ok" {
					t.Fatalf("code %d err %v stdout %q stderr %q", r.code, r.err, r.stdout, r.stderr)
				}
			}
			// The host still forks, and nothing of the sandbox is left.
			if out, err := runHost("/bin/true"); err != nil {
				t.Fatalf("the host cannot run a program after the sandbox: %v %s", err, out)
			}
			own := fmt.Sprintf("kiln-sandbox-%d-", os.Getpid())
			for _, g := range sandboxCgroups() {
				if !slices.Contains(before, g) && strings.HasPrefix(filepath.Base(g), own) {
					t.Errorf("cgroup left: %s", g)
				}
			}
		})
	}
}

// sandboxCgroups lists the sandbox control groups on this host (other
// kiln processes' too).
func sandboxCgroups() []string {
	sup := Cgroups()
	dirs := []string{sup.v2parent}
	for _, d := range sup.v1parent {
		dirs = append(dirs, d)
	}
	var groups []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "kiln-sandbox-") {
				groups = append(groups, d+"/"+e.Name())
			}
		}
	}
	return groups
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
	}{
		{"0::/user.slice/kiln.service\n", map[string]string{"": "/user.slice/kiln.service"}},
		{"4:memory:/a/b\n2:cpu,cpuacct:/\n8:pids:/p\n0::/\n", map[string]string{"memory": "/a/b", "cpu": "/", "cpuacct": "/", "pids": "/p", "": "/"}},
		{"garbage\n1:name=systemd:relative\n", map[string]string{}},
	}
	for _, tt := range tests {
		got := parseProcCgroup(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("%q: got %v, want %v", tt.in, got, tt.want)
			continue
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%q: [%s] = %q, want %q", tt.in, k, got[k], v)
			}
		}
	}
}

// The files each kind of control group gets, on a plain directory standing
// in for the cgroup filesystem (this host may have only one of the two).
func TestCgroupFiles(t *testing.T) {
	l := Limits{MilliCPU: 1500, Memory: 512 << 20, Pids: 1024}
	tests := []struct {
		mode  CgroupMode
		dirs  []string
		want  map[string]string // "controller/file" -> content
		oom   map[string]string // files that report oom kills
		kills int
	}{
		{CgroupV2, []string{""}, map[string]string{
			"/cpu.max": "150000 100000", "/memory.max": "536870912", "/memory.swap.max": "0", "/pids.max": "1024",
		}, map[string]string{"/memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n"}, 2},
		{CgroupV1, []string{"cpu", "memory", "pids"}, map[string]string{
			"cpu/cpu.cfs_period_us": "100000", "cpu/cpu.cfs_quota_us": "150000",
			"memory/memory.limit_in_bytes": "536870912", "memory/memory.memsw.limit_in_bytes": "536870912",
			"pids/pids.max": "1024",
		}, map[string]string{"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"}, 1},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			root := t.TempDir()
			cg := &cgroup{mode: tt.mode, dirs: map[string]string{}}
			for _, c := range tt.dirs {
				d := root + "/" + c
				os.MkdirAll(d, 0o755)
				cg.dirs[c] = d
			}
			var err error
			if tt.mode == CgroupV2 {
				err = cg.setV2(l)
			} else {
				err = cg.setV1(l)
			}
			if err != nil {
				t.Fatal(err)
			}
			for f, want := range tt.want {
				if b, _ := os.ReadFile(root + "/" + f); string(b) != want {
					t.Errorf("%s = %q, want %q", f, b, want)
				}
			}
			for f, content := range tt.oom {
				os.WriteFile(root+"/"+f, []byte(content), 0o644)
			}
			if got := cg.oomKills(); got != tt.kills {
				t.Errorf("oomKills = %d, want %d", got, tt.kills)
			}
		})
	}
}
