package benchkit

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Command runs a program to completion, returning its combined output in
// the error if it fails: the floors' mount, mkfs and umount steps are
// only worth a message when they go wrong.
func Command(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
