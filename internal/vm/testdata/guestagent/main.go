// Command guestagent is kiln's guest agent alone, built static by the vm
// package's boot test and placed as /init of a test initramfs.
package main

import (
	"fmt"
	"os"

	"github.com/kiln-build/kiln/internal/vm/agent"
)

func main() {
	if err := agent.Main(""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
