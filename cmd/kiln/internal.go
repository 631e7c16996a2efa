package main

import (
	"fmt"
	"io"
	"os"

	"github.com/kiln-build/kiln/internal/engine/guest"
	"github.com/kiln-build/kiln/internal/vm/agent"
)

// internalMain serves the requests the build engine makes of the kiln
// binary inside a build's sandbox or a booted guest (`kiln internal
// run|copy|...`, see guest.Parse for the protocol). They are not a user
// interface, so `kiln help` does not list them.
func internalMain(args []string, stdout, stderr io.Writer) int {
	req, err := guest.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, "kiln:", err)
		return 2
	}
	switch r := req.(type) {
	case guest.RunRequest:
		code, err := guest.RunAs(r.User, r.Argv, stdout, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "kiln:", err)
			return 127
		}
		return code
	case guest.CopyRequest:
		err = guest.CopyOrExtract(r)
	case guest.MkdirRequest:
		err = os.MkdirAll(r.Dir, 0o755)
	case guest.SanitizeRequest:
		err = guest.Sanitize(r.WorkingDir, r.UserData, stdout)
	case guest.InventoryRequest:
		err = guest.ReadInventory(stdout)
	case guest.AgentRequest:
		if err := agent.Main(r.Port); err != nil {
			fmt.Fprintln(stderr, "kiln guest agent:", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "kiln: no handler for %T\n", req)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "kiln:", err)
		return 1
	}
	return 0
}
