// Package sandbox runs a process confined to a root filesystem.
//
// A build step's component code runs as root, but inside new mount, PID, UTS
// and IPC namespaces (and a network namespace when asked), with an overlay of
// the cached parent layers (or a plain directory) as its root, a fresh /proc,
// a minimal /dev, a private /tmp, and a capability set that cannot mount,
// load modules, reach raw devices or leave the root. Everything it writes to
// the root lands in the overlay's upper directory, which the caller later
// diffs into a layer; mounts live only in the sandbox's mount namespace, so
// the host sees nothing of them, and killing the sandbox's PID 1 kills every
// process the build started.
//
// The code that must run inside the new namespaces before the build's
// program (mount setup, pivot_root, dropping capabilities) runs in a re-exec
// of the current binary, so every program that calls [Run] must call [Init]
// first thing in main (and in TestMain).
//
// Consequences builds can notice: /tmp is a tmpfs, so nothing written there
// reaches the image; no_new_privs is set, so setuid programs (sudo run by a
// non-root user) gain nothing; device nodes in the root do not open (the
// root is mounted nodev) and new ones cannot be made.
//
// Defence in depth on top of that: a seccomp filter with the semantics of
// Docker's default profile (seccomp.go), control-group limits on CPU,
// memory and processes (cgroup_linux.go), and a private network namespace
// whose only way out is a user-mode network stack (network_linux.go).
//
// Not done: a user namespace. Root in a build is the host's root, held in
// by the namespaces, the capability allow-list, no_new_privs, the seccomp
// filter and the cgroup, not by an unprivileged host uid. Mapping it to
// one (0 -> 100000, say) needs the image's files to keep their on-disk
// owners, which means idmapped mounts of every layer, of Upper and of the
// binds. On this kernel (Linux 6.18) the first half works: open_tree with
// OPEN_TREE_CLONE and mount_setattr with MOUNT_ATTR_IDMAP give idmapped
// mounts of ext4 directories, and an overlay over an idmapped lower and
// an idmapped upper mounts. But mounted by the host's root, as the init
// mounts everything, that overlay comes up read-only: overlayfs creates
// its work directory with the mounter's credentials, host uid 0 has no
// mapping in the idmap, the mkdir fails with EOVERFLOW ("failed to create
// directory .../work (errno: 75); mounting read-only"). The overlay must
// therefore be mounted from inside the new user namespace, by its mapped
// root. That turns the init into two stages: one as host root that makes
// detached idmapped mounts of the layers, Upper, Work and the binds, and
// one started in a new user, mount and PID namespace (uid and gid maps
// written by Run) that receives them as descriptors, attaches them with
// move_mount, mounts the overlay, /proc, /dev and /tmp, pivots, and forks
// the program before the seccomp filter, which refuses CLONE_NEWUSER, is
// installed. `kiln shell`, the layer differ (which must then see on-disk
// owners, not mapped ones) and the escape tests all run through that path;
// the rework did not fit in this change.
package sandbox

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// Network says which network a sandbox sees.
type Network int

const (
	// NetworkHost shares the host's network namespace: components install
	// packages, so this is the default.
	NetworkHost Network = iota
	// NetworkNone gives the sandbox its own network namespace with only the
	// loopback interface, up.
	NetworkNone
	// NetworkPrivate gives the sandbox its own network namespace with
	// outbound access through a user-mode network stack (pasta or
	// slirp4netns, see [PrivateNetwork]) that does not reach the host's
	// own services: kiln's API, databases on its loopback.
	NetworkPrivate
)

func (n Network) String() string {
	switch n {
	case NetworkHost:
		return "host"
	case NetworkNone:
		return "none"
	case NetworkPrivate:
		return "private"
	}
	return fmt.Sprintf("Network(%d)", int(n))
}

// Bind makes a host file or directory visible inside the sandbox.
type Bind struct {
	// Source is a path on the host. It is trusted: it is resolved on the
	// host, following symlinks.
	Source string
	// Target is an absolute path inside the root. It is resolved inside the
	// root (symlinks in the root cannot lead out of it). If it does not
	// exist, an empty file or directory is created as the mountpoint and
	// removed again after Run, so it never shows up in Upper or RootDir.
	Target string
	// ReadOnly mounts the bind read-only, e.g. the kiln binary itself.
	ReadOnly bool
}

// Config describes one confined process.
type Config struct {
	// Lower are the read-only lower directories of the overlay (unpacked
	// parent layers), top first. Upper receives every change; Work is
	// overlayfs's work directory and must be on Upper's filesystem.
	Lower []string
	Upper string
	Work  string

	// RootDir, instead of Lower/Upper/Work, uses an existing directory as
	// the root directly (changes land in it).
	RootDir string

	// Binds are mounted after the root is assembled, in order.
	Binds []Bind

	Network Network

	// Hostname inside the sandbox; "localhost" if empty, so the host's
	// name does not leak into build logs or images.
	Hostname string

	// Env is the environment of the process; if nil, PATH and HOME only.
	// The program (argv[0]) is looked up in Env's PATH, inside the root.
	Env []string

	// Dir is the working directory inside the root ("/" if empty). It must
	// exist.
	Dir string

	// Stdout and Stderr receive the process's output; nil discards it.
	Stdout, Stderr io.Writer
	// Stdin is the process's standard input; nil is /dev/null. `kiln
	// shell` passes its terminal.
	Stdin io.Reader

	// Timeout, if positive, kills the whole sandbox after this long.
	Timeout time.Duration

	// Limits bound the sandbox's CPU, memory and processes; the zero
	// value is no limits.
	Limits Limits
}

// Limits are a sandbox's resource limits, enforced by a control group of
// its own (see [Cgroups] for how, and when they cannot be). Zero fields
// are unlimited.
type Limits struct {
	// MilliCPU is the CPU time per wall-clock time, in thousandths of a
	// CPU (2000: two CPUs' worth).
	MilliCPU int
	// Memory is the most memory, in bytes, the sandbox's processes may
	// use together, page cache and tmpfs included, with no swap. Past it
	// the kernel kills one of them and Run reports ErrOutOfMemory.
	Memory int64
	// Pids is the most processes and threads at once; forks beyond it
	// fail with EAGAIN, so a fork bomb stalls instead of filling the host.
	Pids int64
}

func (l Limits) String() string {
	return fmt.Sprintf("cpu %d.%03d, memory %d MiB, pids %d", l.MilliCPU/1000, l.MilliCPU%1000, l.Memory>>20, l.Pids)
}

// ErrOutOfMemory is returned (wrapped) by Run when the program failed and
// the memory limit had killed a process of the sandbox.
var ErrOutOfMemory = errors.New("sandbox: out of memory")

// DefaultPath is the PATH of a sandbox whose Config.Env does not set one.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrTimeout is returned (wrapped) by Run when Config.Timeout expired.
var ErrTimeout = errors.New("sandbox: timed out")

// initSpec is what the host side hands the in-namespace init, as JSON.
type initSpec struct {
	Lower      []string `json:"lower,omitempty"`
	Upper      string   `json:"upper,omitempty"`
	Work       string   `json:"work,omitempty"`
	RootDir    string   `json:"rootDir,omitempty"`
	Mountpoint string   `json:"mountpoint"`      // empty host directory the root is mounted on
	Binds      []Bind   `json:"binds,omitempty"` // Target relative to the root, clean
	NoNetwork  bool     `json:"noNetwork,omitempty"`
	Private    bool     `json:"private,omitempty"` // own namespace, connected by Run
	Hostname   string   `json:"hostname"`
	Env        []string `json:"env"`
	Dir        string   `json:"dir"` // absolute, clean
	Argv       []string `json:"argv"`
}

// spec checks a Config and turns it into what the init needs.
func (c *Config) spec(argv []string) (*initSpec, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("sandbox: no program to run")
	}
	overlay := len(c.Lower) > 0 || c.Upper != "" || c.Work != ""
	switch {
	case overlay && c.RootDir != "":
		return nil, errors.New("sandbox: RootDir and Lower/Upper/Work are exclusive")
	case !overlay && c.RootDir == "":
		return nil, errors.New("sandbox: no root: set RootDir or Lower/Upper/Work")
	case overlay && (len(c.Lower) == 0 || c.Upper == "" || c.Work == ""):
		return nil, errors.New("sandbox: an overlay root needs Lower, Upper and Work")
	}
	dirs := []string{c.RootDir}
	if overlay {
		dirs = append([]string{c.Upper, c.Work}, c.Lower...)
	}
	for _, d := range dirs {
		if !path.IsAbs(d) {
			return nil, fmt.Errorf("sandbox: root directory %q is not an absolute path", d)
		}
		// overlayfs separates options with ',' and lower layers with ':'.
		if strings.ContainsAny(d, ",:\\\n") {
			return nil, fmt.Errorf("sandbox: root directory %q contains ',', ':', '\\' or a newline", d)
		}
	}
	s := &initSpec{
		Lower:     c.Lower,
		Upper:     c.Upper,
		Work:      c.Work,
		RootDir:   c.RootDir,
		NoNetwork: c.Network == NetworkNone,
		Private:   c.Network == NetworkPrivate,
		Hostname:  c.Hostname,
		Env:       c.Env,
		Dir:       "/",
		Argv:      argv,
	}
	if c.Network != NetworkHost && c.Network != NetworkNone && c.Network != NetworkPrivate {
		return nil, fmt.Errorf("sandbox: unknown network %v", c.Network)
	}
	if s.Hostname == "" {
		s.Hostname = "localhost"
	}
	if s.Env == nil {
		s.Env = []string{"PATH=" + DefaultPath, "HOME=/root"}
	}
	for _, b := range c.Binds {
		if !path.IsAbs(b.Source) {
			return nil, fmt.Errorf("sandbox: bind source %q is not an absolute path", b.Source)
		}
		t, err := cleanTarget(b.Target)
		if err != nil {
			return nil, err
		}
		s.Binds = append(s.Binds, Bind{Source: b.Source, Target: t, ReadOnly: b.ReadOnly})
	}
	if c.Dir != "" && path.Clean(c.Dir) != "/" {
		d, err := cleanTarget(c.Dir)
		if err != nil {
			return nil, err
		}
		s.Dir = "/" + d
	}
	return s, nil
}

// cleanTarget turns an absolute in-root path into its clean form relative
// to the root ("" for the root itself is refused: nothing may be mounted
// over the whole root).
func cleanTarget(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("sandbox: path %q inside the root must be absolute", p)
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("sandbox: path %q contains NUL", p)
	}
	c := strings.TrimPrefix(path.Clean(p), "/")
	if c == "" {
		return "", fmt.Errorf("sandbox: path %q is the root itself", p)
	}
	return c, nil
}
