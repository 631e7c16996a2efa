package benchkit

import (
	"errors"
	"os"
	"strings"
)

// RemoveUnmounted removes dir, but only when nothing is mounted at or
// under it: a forgotten bind of /dev must never be deleted through.
func RemoveUnmounted(dir string) error {
	if ms := MountsUnder(dir); len(ms) > 0 {
		return errors.New("not removing " + dir + ": still mounted under it: " + strings.Join(ms, ", "))
	}
	return os.RemoveAll(dir)
}

// ReleaseWorkDir ends a run's work directory: it detaches whatever is
// still mounted under dir, then keeps dir (saying so through logf) when
// keep is set, or removes it.
func ReleaseWorkDir(dir string, keep bool, logf func(format string, args ...any)) error {
	UnmountUnder(dir)
	if keep {
		logf("kept %s", dir)
		return nil
	}
	return RemoveUnmounted(dir)
}
