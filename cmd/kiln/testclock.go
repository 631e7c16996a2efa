package main

import (
	"log/slog"
	"time"

	"github.com/kiln-build/kiln/internal/scheduler"
	"github.com/kiln-build/kiln/internal/service"
	"github.com/kiln-build/kiln/internal/testclock"
)

// useTestClock makes the service read its time from the test clock that
// KILN_TEST_CLOCK names, if any, and returns the clock for the pipeline
// scheduler (nil: the wall clock). End-to-end tests use it to bring a
// schedule due without waiting for a wall-clock minute; the build engine
// keeps wall time, as its leases are renewed on wall-time tickers.
func useTestClock(svc *service.Service, log *slog.Logger) scheduler.Clock {
	c := testclock.FromEnv()
	if c == nil {
		return nil
	}
	log.Warn("the test clock is on: service and scheduler time is offset (tests only)", "env", testclock.EnvVar, "offset", c.Offset().Round(time.Millisecond))
	svc.Now = c.Now
	return c
}
