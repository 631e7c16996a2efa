package agent

import (
	"bufio"
	"io"
	"path"
	"strings"
)

// moduleFile is one line of modules.dep: where a module's file is
// (relative to /lib/modules/RELEASE unless absolute) and the files of the
// modules it needs.
type moduleFile struct {
	path string
	deps []string
}

// parseModulesDep reads depmod's modules.dep ("kernel/x/a.ko: kernel/y/b.ko
// ...") into a map keyed by module name. Malformed lines are skipped: the
// agent only needs the few virtio lines, and a damaged line elsewhere must
// not keep it from them.
func parseModulesDep(r io.Reader) (map[string]moduleFile, error) {
	mods := map[string]moduleFile{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, deps, ok := strings.Cut(line, ":")
		file = strings.TrimSpace(file)
		name := moduleName(file)
		if !ok || name == "" || strings.ContainsAny(file, " \t") {
			continue
		}
		mods[name] = moduleFile{path: file, deps: strings.Fields(deps)}
	}
	return mods, sc.Err()
}

// moduleName is the name the kernel knows a module file by: the base name
// without ".ko" and compression suffix, dashes as underscores.
func moduleName(file string) string {
	base := path.Base(file)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	name, ok := strings.CutSuffix(base, ".ko")
	if !ok {
		return ""
	}
	return strings.ReplaceAll(name, "-", "_")
}
