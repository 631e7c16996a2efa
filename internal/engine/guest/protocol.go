package guest

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// The guest protocol: the argument lists with which the build engine, on
// the host, asks the kiln binary inside a sandbox or a booted guest to do
// one thing (`kiln internal run|copy|mkdir|sanitize|inventory|guest ...`).
// Both ends are the same kiln binary, so the lists are built and parsed
// here and nowhere else: a request written by one side is always read the
// same way by the other, and every path or command given as an argument
// is passed after "--", so one beginning with "-" is never taken for a
// flag.

// Subcommand is the kiln command that carries the protocol's requests.
// It is not a user interface, so `kiln help` does not list it.
const Subcommand = "internal"

// Request is one request of the protocol.
type Request interface {
	// Args is the request's argument list after `kiln internal`: its
	// verb, then its flags and arguments. Parse reads it back.
	Args() []string
}

// Argv is the whole command line that runs r with the kiln binary at bin.
func Argv(bin string, r Request) []string {
	return append([]string{bin, Subcommand}, r.Args()...)
}

// RunRequest runs Argv as User (a Dockerfile USER value; "" runs as the
// sandbox's user, root) and exits with its exit code.
type RunRequest struct {
	User string
	Argv []string
}

// CopyRequest copies Sources to Dest as Dockerfile COPY does, with
// COPY's --chown and --chmod ("" keeps the default).
type CopyRequest struct {
	Sources      []string
	Dest         string
	Chown, Chmod string
	// Extract is ADD of a local file: a source that is a tar archive
	// (plain, gzip, bzip2, xz or zstd) is unpacked into Dest instead.
	Extract bool
}

// MkdirRequest creates Dir and its parents (a RUN's or WORKDIR's
// directory).
type MkdirRequest struct{ Dir string }

// SanitizeRequest runs the image's cleanup script (SanitizeInstance).
// WorkingDir is the recipe's working directory, where skip_cleanup_*
// markers are looked for; UserData says the recipe overrides user data.
type SanitizeRequest struct {
	WorkingDir string
	UserData   bool
}

// InventoryRequest prints the image's inventory (os-release and
// packages) as JSON.
type InventoryRequest struct{}

// AgentRequest runs the guest agent of a booted machine image on the
// virtio-serial Port ("" means the default port).
type AgentRequest struct{ Port string }

// The verbs, the first argument after `kiln internal`.
const (
	verbRun       = "run"
	verbCopy      = "copy"
	verbMkdir     = "mkdir"
	verbSanitize  = "sanitize"
	verbInventory = "inventory"
	verbAgent     = "guest"
)

// defaultWorkingDir is a sanitize request's working directory when the
// request names none.
const defaultWorkingDir = "/tmp"

// Usage is the protocol's synopsis, for an error message.
const Usage = "usage: kiln internal run [--user USER] -- COMMAND... | copy [--chown U] [--chmod M] [--extract] -- SRC... DEST | mkdir -- DIR | sanitize [--working-dir DIR] [--user-data] | inventory | guest [--port PORT]"

func (r RunRequest) Args() []string {
	args := []string{verbRun}
	if r.User != "" {
		args = append(args, "--user", r.User)
	}
	return append(append(args, "--"), r.Argv...)
}

func (r CopyRequest) Args() []string {
	args := []string{verbCopy}
	if r.Chown != "" {
		args = append(args, "--chown", r.Chown)
	}
	if r.Chmod != "" {
		args = append(args, "--chmod", r.Chmod)
	}
	if r.Extract {
		args = append(args, "--extract")
	}
	args = append(append(args, "--"), r.Sources...)
	return append(args, r.Dest)
}

func (r MkdirRequest) Args() []string { return []string{verbMkdir, "--", r.Dir} }

func (r SanitizeRequest) Args() []string {
	args := []string{verbSanitize, "--working-dir", r.WorkingDir}
	if r.UserData {
		args = append(args, "--user-data")
	}
	return args
}

func (InventoryRequest) Args() []string { return []string{verbInventory} }

func (r AgentRequest) Args() []string {
	if r.Port == "" {
		return []string{verbAgent}
	}
	return []string{verbAgent, "--port", r.Port}
}

// ErrUsage is wrapped by every error Parse returns.
var ErrUsage = errors.New("bad kiln internal request")

// Parse reads a request from its argument list (what follows `kiln
// internal`). For every request r it returns, Parse(r.Args()) returns r
// again.
func Parse(args []string) (Request, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: no verb; %s", ErrUsage, Usage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("kiln internal "+verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	parse := func() error {
		if err := fs.Parse(args[1:]); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrUsage, verb, err)
		}
		return nil
	}
	noArgs := func() error {
		if fs.NArg() != 0 {
			return fmt.Errorf("%w: %s takes no arguments, got %q", ErrUsage, verb, fs.Args())
		}
		return nil
	}
	switch verb {
	case verbRun:
		user := fs.String("user", "", "USER to run as")
		if err := parse(); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return nil, fmt.Errorf("%w: run: no command to run", ErrUsage)
		}
		return RunRequest{User: *user, Argv: fs.Args()}, nil
	case verbCopy:
		chown := fs.String("chown", "", "owner of the copied files")
		chmod := fs.String("chmod", "", "mode of the copied files")
		extract := fs.Bool("extract", false, "unpack sources that are tar archives (ADD)")
		if err := parse(); err != nil {
			return nil, err
		}
		n := fs.NArg()
		if n < 2 {
			return nil, fmt.Errorf("%w: copy needs at least one source and a destination, got %q", ErrUsage, fs.Args())
		}
		return CopyRequest{Sources: fs.Args()[:n-1], Dest: fs.Arg(n - 1), Chown: *chown, Chmod: *chmod, Extract: *extract}, nil
	case verbMkdir:
		if err := parse(); err != nil {
			return nil, err
		}
		if fs.NArg() != 1 {
			return nil, fmt.Errorf("%w: mkdir takes one directory, got %q", ErrUsage, fs.Args())
		}
		return MkdirRequest{Dir: fs.Arg(0)}, nil
	case verbSanitize:
		workDir := fs.String("working-dir", defaultWorkingDir, "the recipe's working directory (skip_cleanup_* markers)")
		userData := fs.Bool("user-data", false, "the recipe overrides user data")
		if err := parse(); err != nil {
			return nil, err
		}
		if err := noArgs(); err != nil {
			return nil, err
		}
		return SanitizeRequest{WorkingDir: *workDir, UserData: *userData}, nil
	case verbInventory:
		if err := parse(); err != nil {
			return nil, err
		}
		if err := noArgs(); err != nil {
			return nil, err
		}
		return InventoryRequest{}, nil
	case verbAgent:
		port := fs.String("port", "", "virtio-serial port name or device (default org.kiln.agent)")
		if err := parse(); err != nil {
			return nil, err
		}
		if err := noArgs(); err != nil {
			return nil, err
		}
		return AgentRequest{Port: *port}, nil
	}
	return nil, fmt.Errorf("%w: unknown verb %q; %s", ErrUsage, verb, Usage)
}
