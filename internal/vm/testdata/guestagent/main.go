// Command guestagent is kiln's guest agent alone, built static by the vm
// package's boot tests and placed as /init of a test initramfs. With
// -init PATH (after "--" on the kernel command line) it starts the agent
// and hands PID 1 to PATH, as `kiln internal guest --init` does.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kiln-build/kiln/internal/vm/agent"
)

func main() {
	initPath := flag.String("init", "", "exec this init after starting the agent")
	flag.Parse()
	if err := agent.MainThenInit("", *initPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
