package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kiln-build/kiln/internal/ecr"
)

// checkParentImages tells a newcomer whose registry is still empty how to
// get a first parent, since a container build cannot start without one.
// It reads the registry's directory under the data directory; a registry
// kept on a blob store is not looked at (nothing is found, and the advice
// stays true).
func checkParentImages(dataDir string) doctorCheck {
	c := doctorCheck{Name: "parent images", Needed: neededUsers}
	repos := filepath.Join(dataDir, "registry", "repositories")
	if name, ok := firstTaggedRepository(repos); ok {
		c.Status, c.Found = doctorOK, "kiln's registry holds "+name+" (and maybe more) to build on"
		return c
	}
	c.Status = doctorWarn
	c.Found = "kiln's registry under " + repos + " holds no tagged image yet: a container build needs a parent"
	c.Fix = "kiln images pull-parent debian-12|ubuntu-24.04|alpine-3 (with kiln serve running) pushes one"
	return c
}

// firstTaggedRepository returns the first repository under dir, other
// than kiln's internal ones, with a tag.
func firstTaggedRepository(dir string) (string, bool) {
	var found string
	errFound := errors.New("found")
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != "_tags" {
			return nil
		}
		repo, err := filepath.Rel(dir, filepath.Dir(path))
		if err != nil || strings.HasPrefix(filepath.ToSlash(repo)+"/", ecr.InternalPrefix) {
			return filepath.SkipDir
		}
		if tags, err := os.ReadDir(path); err == nil && len(tags) > 0 {
			found = filepath.ToSlash(repo) + ":" + tags[0].Name()
			return errFound
		}
		return filepath.SkipDir
	})
	return found, found != ""
}
