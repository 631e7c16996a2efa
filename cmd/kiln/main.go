// Command kiln is a self-hosted EC2 Image Builder: `kiln serve` answers the
// Image Builder API, `kiln toe` runs AWSTOE component documents. Each
// subcommand lives in its own file; this one only dispatches.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/kiln-build/kiln/internal/engine/guest"
	"github.com/kiln-build/kiln/internal/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type subcommand struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func subcommands() []subcommand {
	return []subcommand{
		{"serve", "answer the Image Builder API (and more) on one listener", serveMain},
		{"toe", "validate and run AWSTOE component documents on this host", toeMain},
		{"logs", "print (and follow) the logs of an image build", logsMain},
		{"shell", "open a shell in a failed build's kept instance", shellMain},
		{"ami", "list, export and boot kiln's machine images (AMIs)", amiMain},
		{"scan", "print the vulnerability findings of an image build", scanMain},
		{"pipeline", "list the runs of an image pipeline (why a build happened or not)", pipelineMain},
		{"vulndb", "import OSV vulnerability records into kiln's offline database, show its status", vulndbMain},
		{"lifecycle", "run a lifecycle policy now, or preview what it would do", lifecycleMain},
		{"workflow", "resume or stop an image build waiting at a WaitForAction step", workflowMain},
		{"images", "get a first parent image into kiln's registry (pull-parent debian-12|ubuntu-24.04|alpine-3)", imagesMain},
		{"doctor", "check what builds need from this host (overlayfs, namespaces, KVM, QEMU, disk) and what to install", doctorMain},
		{"migrate", "copy a SQLite data directory's state into PostgreSQL (and its blobs into a bucket)", migrateMain},
		{"aws-model", "write the API model kiln speaks for an older AWS CLI or boto3 (AWS_DATA_PATH)", awsModelMain},
		{"version", "print kiln's version", func([]string, io.Writer, io.Writer) int {
			fmt.Println("kiln", version)
			return 0
		}},
	}
}

func main() {
	sandbox.Init() // a sandbox's init when re-executed by sandbox.Run; else returns at once
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range subcommands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	if args[0] == guest.Subcommand {
		return internalMain(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "kiln: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: kiln <command> [flags]")
	fmt.Fprintln(w)
	for _, c := range subcommands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}
