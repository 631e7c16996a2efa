package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kiln-build/kiln/internal/awsapi"
)

const awsModelUsage = `usage: kiln aws-model [DIR]

Writes the Image Builder API model kiln speaks, in botocore's format, as
DIR/imagebuilder/2019-12-02/service-2.json (DIR defaults to ./aws-models).
Debian's AWS CLI and boto3 predate ImportDiskImage, workflows and lifecycle
policies; with AWS_DATA_PATH=DIR they know every operation kiln answers:

  ./kiln aws-model && export AWS_DATA_PATH=$PWD/aws-models`

// awsModelMain is `kiln aws-model`.
func awsModelMain(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("kiln aws-model", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() { fmt.Fprintln(stderr, awsModelUsage) }
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 1 {
		flags.Usage()
		return 2
	}
	dir := "aws-models"
	if flags.NArg() == 1 {
		dir = flags.Arg(0)
	}
	target := filepath.Join(dir, "imagebuilder", "2019-12-02", "service-2.json")
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		fmt.Fprintln(stderr, "kiln aws-model:", err)
		return 1
	}
	if err := os.WriteFile(target, awsapi.BotocoreModel, 0o644); err != nil {
		fmt.Fprintln(stderr, "kiln aws-model:", err)
		return 1
	}
	fmt.Fprintln(stdout, "wrote", target)
	return 0
}
