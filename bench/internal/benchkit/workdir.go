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

// WorkDir is a run's temporary directory together with what must be
// undone before it goes (stopping kiln, a builder's storage), undone in
// reverse order by Close.
type WorkDir struct {
	Path     string
	keep     bool
	logf     func(format string, args ...any)
	cleanups []func()
}

// NewWorkDir makes a fresh directory prefix* under parent ("" for the
// system temp dir).
func NewWorkDir(parent, prefix string, keep bool, logf func(format string, args ...any)) (*WorkDir, error) {
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return nil, err
	}
	return &WorkDir{Path: dir, keep: keep, logf: logf}, nil
}

// OnClose registers f to run at Close, before the directory is released.
func (w *WorkDir) OnClose(f func()) { w.cleanups = append(w.cleanups, f) }

// Close runs the registered cleanups, last first, then releases the
// directory (ReleaseWorkDir).
func (w *WorkDir) Close() error {
	for i := len(w.cleanups) - 1; i >= 0; i-- {
		w.cleanups[i]()
	}
	return ReleaseWorkDir(w.Path, w.keep, w.logf)
}
