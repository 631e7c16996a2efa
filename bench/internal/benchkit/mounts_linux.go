package benchkit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// MountsUnder lists this process's mount points at or under dir, deepest
// first.
func MountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range ParseMountinfo(string(b)) {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// UnmountUnder detaches every mount at or under dir (buildah's overlay
// storage and an interrupted floor can leave some), deepest first.
func UnmountUnder(dir string) {
	for _, m := range MountsUnder(dir) {
		syscall.Unmount(m, syscall.MNT_DETACH)
	}
}
