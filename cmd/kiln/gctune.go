package main

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/sandbox"
)

// serverGCPercent is the collector's GOGC for `kiln serve`.
//
// Why not Go's default of 100: the server's live heap is small (its
// caches are bounded at a few hundred MiB, most stores use far less) next
// to what it allocates under API load, where every request decodes,
// renders and drops its JSON; at 100 the collector runs many times a
// second and takes a share of every request. The API benchmark
// (bench/README.md) measured 12-17% more requests per second at 32
// connections with 400, and lower p99s.
const serverGCPercent = 400

// minGCLimit is the lowest memory limit tuneCollector sets, so that a
// small host or cgroup does not make the collector run continuously
// around a heap that merely holds the caches.
const minGCLimit = 256 << 20

// tuneCollector sets GOGC to serverGCPercent and a soft memory limit of a
// quarter of the memory this process may use (the host's, or its
// cgroup's when lower), so that the larger GOGC can never make the heap
// grow past that: as the heap nears the limit the collector works harder
// instead. Either setting is left alone when the operator chose it
// through GOGC or GOMEMLIMIT.
func tuneCollector(log *slog.Logger) {
	gogc, limit := "GOGC from the environment", "GOMEMLIMIT from the environment"
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
		gogc = fmt.Sprintf("GOGC=%d", serverGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		total, from := usableMemory()
		if total > 0 {
			l := max(total/4, minGCLimit)
			debug.SetMemoryLimit(l)
			limit = fmt.Sprintf("memory limit %d MiB (a quarter of the %d MiB %s allows)", l>>20, total>>20, from)
		} else {
			limit = "no memory limit (the usable memory could not be read)"
		}
	}
	log.Info("garbage collector: " + gogc + ", " + limit + "; set GOGC or GOMEMLIMIT to choose otherwise")
}

// usableMemory is the memory this process may use: the host's MemTotal,
// or its cgroup's limit (sandbox.OwnMemoryLimit) when lower. from says which.
func usableMemory() (int64, string) {
	total := int64(-1)
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		total = memTotal(data)
	}
	if n, ok := sandbox.OwnMemoryLimit(); ok && (total < 0 || n < total) {
		return n, "cgroup"
	}
	return total, "host"
}

// memTotal reads MemTotal (in bytes) from /proc/meminfo's text; -1 when
// it is missing.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return -1
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n <= 0 || n > 1<<53 {
			return -1
		}
		return n << 10
	}
	return -1
}
