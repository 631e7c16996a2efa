package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kiln-build/kiln/internal/build/guest"
	"github.com/kiln-build/kiln/internal/vm/agent"
)

// internalMain runs the helpers the build engine starts inside a build's
// sandbox (`kiln internal run|copy|inventory`). They are not a user
// interface, so `kiln help` does not list them.
func internalMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: kiln internal run|copy|mkdir|sanitize|inventory|guest ...")
		return 2
	}
	fs := flag.NewFlagSet("kiln internal "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	switch args[0] {
	case "run":
		user := fs.String("user", "", "USER to run as")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		code, err := guest.RunAs(*user, fs.Args(), stdout, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "kiln:", err)
			return 127
		}
		return code
	case "copy":
		chown := fs.String("chown", "", "owner of the copied files")
		chmod := fs.String("chmod", "", "mode of the copied files")
		if fs.Parse(args[1:]) != nil || fs.NArg() < 2 {
			fmt.Fprintln(stderr, "usage: kiln internal copy [--chown U] [--chmod M] SRC... DEST")
			return 2
		}
		n := fs.NArg()
		if err := guest.Copy(fs.Args()[:n-1], fs.Arg(n-1), *chown, *chmod); err != nil {
			fmt.Fprintln(stderr, "kiln:", err)
			return 1
		}
		return 0
	case "mkdir":
		if fs.Parse(args[1:]) != nil || fs.NArg() != 1 {
			return 2
		}
		if err := os.MkdirAll(fs.Arg(0), 0o755); err != nil {
			fmt.Fprintln(stderr, "kiln:", err)
			return 1
		}
		return 0
	case "guest":
		port := fs.String("port", "", "virtio-serial port name or device (default org.kiln.agent)")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		if err := agent.Main(*port); err != nil {
			fmt.Fprintln(stderr, "kiln guest agent:", err)
			return 1
		}
		return 0
	case "sanitize":
		workDir := fs.String("working-dir", "/tmp", "the recipe's working directory (skip_cleanup_* markers)")
		userData := fs.Bool("user-data", false, "the recipe overrides user data")
		if fs.Parse(args[1:]) != nil {
			return 2
		}
		if err := guest.Sanitize(*workDir, *userData, stdout); err != nil {
			fmt.Fprintln(stderr, "kiln:", err)
			return 1
		}
		return 0
	case "inventory":
		if err := guest.ReadInventory(stdout); err != nil {
			fmt.Fprintln(stderr, "kiln:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "kiln internal: unknown command %q\n", args[0])
	return 2
}
