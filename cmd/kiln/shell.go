package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/engine/sandboxed"
	"github.com/kiln-build/kiln/internal/sandbox"
)

const shellUsage = `usage: kiln shell [--data-dir DIR] IMAGE-BUILD-VERSION-ARN [-- COMMAND [ARG...]]

Opens a shell (or runs COMMAND) in the instance of a failed build that was
kept because its infrastructure configuration has
terminateInstanceOnFailure: false. It runs on the machine kiln runs on, as
root, in the same sandbox the build used; what you change stays in the
kept instance.`

// shellMain is `kiln shell`.
func shellMain(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("kiln shell", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprintln(stderr, shellUsage) }
	dataDir := flags.String("data-dir", envOr("KILN_DATA_DIR", "./kiln-data"), "kiln's data directory (KILN_DATA_DIR)")
	rest, err := parseInterleaved(flags, args)
	if err != nil {
		return 2
	}
	if len(rest) == 0 || rest[0] == "--" {
		flags.Usage()
		return 2
	}
	if abs, err := filepath.Abs(*dataDir); err == nil {
		*dataDir = abs // the sandbox mounts by absolute path
	}
	image, argv := rest[0], rest[1:]
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if len(argv) == 0 {
		argv = []string{"/bin/sh"}
	}
	path := filepath.Join(engine.WorkDir(*dataDir, image), sandboxed.ShellInfoFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stderr, "kiln shell: no kept instance for %s in %s (only failed builds whose infrastructure configuration sets terminateInstanceOnFailure to false keep one)\n", image, *dataDir)
		return 1
	} else if err != nil {
		fmt.Fprintln(stderr, "kiln shell:", err)
		return 1
	}
	var info sandboxed.ShellInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		fmt.Fprintln(stderr, "kiln shell:", err)
		return 1
	}
	code, err := sandbox.Run(context.Background(), sandbox.Config{
		Lower: info.Lower, Upper: info.Upper, Work: info.Work,
		Env: info.Env, Dir: info.Dir, Hostname: "kiln-shell",
		Stdin: os.Stdin, Stdout: stdout, Stderr: stderr,
	}, argv...)
	if err != nil {
		fmt.Fprintln(stderr, "kiln shell:", err)
		return 1
	}
	return code
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
