package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kiln-build/kiln/bench/internal/benchkit"
)

// buildahBuilder builds the workload's Dockerfile with buildah — chroot
// isolation, the way buildah runs where it cannot make containers — and
// pushes the result into kiln's registry, the same destination kiln's
// own build writes to. Its storage is private to the run.
type buildahBuilder struct {
	bin      string
	registry string // "host:port" of kiln's registry
	driver   string // the storage driver: overlay or vfs
	dir      string // root, runroot, build context, policy, logs
	logPath  string
}

func newBuildahBuilder(bin, registry, driver, dir string, steps []step) (*buildahBuilder, error) {
	b := &buildahBuilder{bin: bin, registry: registry, driver: driver, dir: dir, logPath: filepath.Join(dir, "buildah.log")}
	for _, d := range []string{"root", "runroot", "context", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	files := map[string]string{
		"context/Dockerfile": dockerfileText(registry+"/base:latest", steps),
		// Accept any image and search no registry: the run depends on no
		// host configuration but buildah's own defaults.
		"policy.json":     `{"default": [{"type": "insecureAcceptAnything"}]}` + "\n",
		"registries.conf": "unqualified-search-registries = []\n",
		// No logins; buildah push insists that the auth file exists.
		"auth.json": `{"auths": {}}` + "\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// command is buildah with the run's private storage and configuration.
func (b *buildahBuilder) command(ctx context.Context, args ...string) *exec.Cmd {
	global := []string{
		"--root", filepath.Join(b.dir, "root"),
		"--runroot", filepath.Join(b.dir, "runroot"),
		"--storage-driver", b.driver,
	}
	cmd := exec.CommandContext(ctx, b.bin, append(global, args...)...)
	cmd.Env = append(os.Environ(),
		"REGISTRY_AUTH_FILE="+filepath.Join(b.dir, "auth.json"),
		"CONTAINERS_REGISTRIES_CONF="+filepath.Join(b.dir, "registries.conf"),
		"BUILDAH_ISOLATION=chroot",
		"TMPDIR="+filepath.Join(b.dir, "tmp"),
	)
	cmd.SysProcAttr = benchkit.ChildProcAttr()
	return cmd
}

// run runs buildah, appending its output to the log; on failure the error
// carries the output.
func (b *buildahBuilder) run(ctx context.Context, args ...string) error {
	cmd := b.command(ctx, args...)
	out, err := cmd.CombinedOutput()
	if f, ferr := os.OpenFile(b.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
		fmt.Fprintf(f, "$ buildah %s\n%s\n", strings.Join(args, " "), out)
		f.Close()
	}
	if err != nil {
		tail := string(out)
		if len(tail) > 4096 {
			tail = tail[len(tail)-4096:]
		}
		return fmt.Errorf("buildah %s: %v\n%s", strings.Join(args, " "), err, tail)
	}
	return nil
}

// build runs `buildah bud` and `buildah push` for build n and returns
// their wall time and the pushed image's reference. With --layers=false
// (buildah's default, spelled out) the Dockerfile's RUN lines end in one
// new layer, as kiln's build does.
func (b *buildahBuilder) build(ctx context.Context, n int) (time.Duration, string, error) {
	local := fmt.Sprintf("localhost/buildbench:%d", n)
	ref := fmt.Sprintf("%s/bench/buildah:%d", b.registry, n)
	policy := filepath.Join(b.dir, "policy.json")
	ctxDir := filepath.Join(b.dir, "context")
	start := time.Now()
	if err := b.run(ctx, "bud", "--isolation", "chroot", "--layers=false", "--tls-verify=false",
		"--signature-policy", policy, "-f", filepath.Join(ctxDir, "Dockerfile"), "-t", local, ctxDir); err != nil {
		return 0, "", err
	}
	if err := b.run(ctx, "push", "--tls-verify=false", "--signature-policy", policy, "--quiet", local, "docker://"+ref); err != nil {
		return 0, "", err
	}
	elapsed := time.Since(start)
	// Not timed: drop the local image so storage does not grow run by run.
	if err := b.run(ctx, "rmi", local); err != nil {
		return 0, "", err
	}
	return elapsed, ref, nil
}

// cleanup removes every image and container from the private storage.
func (b *buildahBuilder) cleanup(ctx context.Context) {
	b.run(ctx, "rm", "--all")
	b.run(ctx, "rmi", "--all", "--force")
}

// version is `buildah --version`'s text.
func buildahVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(string(out))
}
