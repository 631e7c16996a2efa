package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func init() {
	register(rebootModule)
	register(newUpdateOS(osUpdater{lookPath: lookPathInEnv, run: runUpdateCommand}))
}

// rebootModule asks the engine to reboot. Unlike exit code 194, execution
// resumes with the next step, so the Result says so; the engine owns the
// actual reboot (SSM hand-off or crontab + reboot) and the delay.
var rebootModule = &singleModule{
	name:   "Reboot",
	schema: schema{{name: "delaySeconds", kind: kindInt}},
	extra: func(in values) []Problem {
		if v := in["delaySeconds"]; v != nil && !isPlaceholder(v) {
			if n, _ := toInt(v); n < 0 {
				return []Problem{{Path: "delaySeconds", Message: "must not be negative"}}
			}
		}
		return nil
	},
	run: func(_ context.Context, _ *Env, in values) (Result, error) {
		return Result{
			Reboot:           true,
			ResumeAtNextStep: true,
			RebootDelay:      time.Duration(in.integer("delaySeconds", 0)) * time.Second,
		}, nil
	},
}

// packageManagers is the order in which UpdateOS looks for a package
// manager: AWS documents yum and apt-get; dnf comes first because on
// AL2023 and Fedora yum is a compatibility alias for it, and zypper (SUSE)
// and apk (Alpine) cover the other families an image may be built from.
var packageManagers = []string{"dnf", "yum", "apt-get", "zypper", "apk"}

// osUpdater builds and runs UpdateOS's commands. Both functions are
// fields so tests can check detection and the command lines without
// upgrading the machine they run on.
type osUpdater struct {
	// lookPath finds an executable by name in env's PATH.
	lookPath func(env *Env, name string) (string, error)
	// run runs one command and returns its standard output.
	run func(ctx context.Context, env *Env, argv []string) (string, error)
}

func newUpdateOS(u osUpdater) Module {
	return &singleModule{
		name: "UpdateOS",
		schema: schema{
			{name: "include", kind: kindStrings},
			{name: "exclude", kind: kindStrings},
		},
		run: func(ctx context.Context, env *Env, in values) (Result, error) {
			return Result{}, u.update(ctx, env, in.strs("include"), in.strs("exclude"))
		},
	}
}

// detect returns the first package manager found.
func (u osUpdater) detect(env *Env) (name, path string, err error) {
	for _, pm := range packageManagers {
		if p, err := u.lookPath(env, pm); err == nil {
			return pm, p, nil
		}
	}
	return "", "", fmt.Errorf("no supported package manager found (looked for %s)", strings.Join(packageManagers, ", "))
}

// aptOptions keep apt from asking about changed configuration files.
var aptOptions = []string{"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}

// update installs available updates: only the include packages (minus
// the excluded ones) when include is given, otherwise everything except
// exclude. Package managers without an exclude option (apt, zypper) hold
// or lock the excluded packages for the upgrade and release only the
// holds they added.
func (u osUpdater) update(ctx context.Context, env *Env, include, exclude []string) error {
	pm, bin, err := u.detect(env)
	if err != nil {
		return err
	}
	if len(include) > 0 {
		include = subtract(include, exclude)
		if len(include) == 0 {
			return nil // every package to update is excluded
		}
		exclude = nil
	}
	run := func(args ...string) error {
		_, err := u.run(ctx, env, append([]string{bin}, args...))
		return err
	}
	switch pm {
	case "dnf", "yum":
		verb := "upgrade"
		if pm == "yum" {
			verb = "update"
		}
		args := append([]string{"-y", verb}, include...)
		for _, x := range exclude {
			args = append(args, "--exclude="+x)
		}
		return run(args...)
	case "apt-get":
		if err := run("update"); err != nil {
			return err
		}
		if len(include) > 0 {
			return run(append(append([]string{"-y"}, aptOptions...), append([]string{"install", "--only-upgrade"}, include...)...)...)
		}
		upgrade := func() error {
			return run(append(append([]string{"-y"}, aptOptions...), "--with-new-pkgs", "upgrade")...)
		}
		if len(exclude) == 0 {
			return upgrade()
		}
		aptMark := filepath.Join(filepath.Dir(bin), "apt-mark")
		held, err := u.run(ctx, env, []string{aptMark, "showhold"})
		if err != nil {
			return err
		}
		add := subtract(exclude, strings.Fields(held))
		return withTemporary(ctx, env, u, append([]string{aptMark, "hold"}, add...), append([]string{aptMark, "unhold"}, add...), len(add) > 0, upgrade)
	case "zypper":
		if len(include) > 0 {
			return run(append([]string{"--non-interactive", "update"}, include...)...)
		}
		update := func() error { return run("--non-interactive", "update") }
		return withTemporary(ctx, env, u, append([]string{bin, "--non-interactive", "addlock"}, exclude...), append([]string{bin, "--non-interactive", "removelock"}, exclude...), len(exclude) > 0, update)
	case "apk":
		if len(exclude) > 0 {
			return errors.New("apk cannot exclude packages from an upgrade; list the packages to update in include instead")
		}
		if err := run("update"); err != nil {
			return err
		}
		return run(append([]string{"upgrade"}, include...)...)
	}
	return fmt.Errorf("unsupported package manager %s", pm)
}

// withTemporary runs hold, then body, then release (even if body
// failed); with active false it runs only body.
func withTemporary(ctx context.Context, env *Env, u osUpdater, hold, release []string, active bool, body func() error) error {
	if !active {
		return body()
	}
	if _, err := u.run(ctx, env, hold); err != nil {
		return err
	}
	err := body()
	// Release with a fresh context: a timed-out upgrade must still not
	// leave the excluded packages held forever.
	if _, rerr := u.run(context.WithoutCancel(ctx), env, release); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// subtract returns the items of list not in remove, in order.
func subtract(list, remove []string) []string {
	drop := make(map[string]bool, len(remove))
	for _, r := range remove {
		drop[r] = true
	}
	var out []string
	for _, x := range list {
		if !drop[x] {
			out = append(out, x)
		}
	}
	return out
}

// envValue returns a variable from env.Environ, or from the process
// environment when the step has none of its own.
func envValue(env *Env, key string) string {
	if env.Environ == nil {
		return os.Getenv(key)
	}
	for _, kv := range env.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// lookPathInEnv finds an executable in the step's PATH (not kiln's own).
func lookPathInEnv(env *Env, name string) (string, error) {
	for _, dir := range filepath.SplitList(envValue(env, "PATH")) {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in PATH", name)
}

// runUpdateCommand runs a package-manager command non-interactively.
func runUpdateCommand(ctx context.Context, env *Env, argv []string) (string, error) {
	e := *env
	base := env.Environ
	if base == nil {
		base = os.Environ()
	}
	e.Environ = append(append([]string(nil), base...), "DEBIAN_FRONTEND=noninteractive")
	res, err := runProcess(ctx, &e, argv)
	if err == nil && res.exitCode != 0 {
		err = fmt.Errorf("exit code %d", res.exitCode)
	}
	if err != nil {
		return res.stdout, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return res.stdout, nil
}
