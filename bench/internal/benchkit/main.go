package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Run runs a benchmark program's body with a context that SIGINT and
// SIGTERM cancel (so an interrupted run still stops its children and
// cleans up), and exits 1 with "name: error" if it fails.
func Run(name string, body func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := body(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
