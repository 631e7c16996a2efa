package main

import (
	"os"
	"testing"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kilntest.Cleanup() // the kiln binary the integration tests built
	os.Exit(code)
}
