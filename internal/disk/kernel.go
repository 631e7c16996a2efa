package disk

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// FindKernel finds the kernel and initrd a root tree boots: the newest
// /boot/vmlinuz-VER with its initrd (/boot/initrd.img-VER as on Debian,
// /boot/initramfs-VER.img as on Fedora and Arch, /boot/initrd-VER as on SUSE), or a
// kernel in /usr/lib/modules/VER/vmlinuz, else the /vmlinuz and /initrd.img (or
// /boot/vmlinuz and /boot/initrd.img) symlinks. A kernel with an initrd is preferred
// over a newer one without; a kernel found without any initrd is returned with
// initrd "".
//
// Symbolic links are resolved as if root were "/" (absolute targets and ".." stay
// inside root), so a hostile tree cannot point the result at a host file. The returned
// paths are host paths inside root with no symbolic link left in them; they stay
// meaningful only as long as nobody rewrites the tree.
func FindKernel(root string) (kernel, initrd string, err error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", "", err
	}
	defer r.Close()

	type candidate struct{ version, kernel, initrd string }
	var withInitrd, without []candidate
	add := func(version, k string, initrds ...string) {
		kp, ok := regularFileIn(r, k)
		if !ok {
			return
		}
		for _, i := range initrds {
			if ip, ok := regularFileIn(r, i); ok {
				withInitrd = append(withInitrd, candidate{version, kp, ip})
				return
			}
		}
		without = append(without, candidate{version, kp, ""})
	}
	initrdsFor := func(v string) []string {
		return []string{
			"/boot/initrd.img-" + v,
			"/boot/initramfs-" + v + ".img",
			"/boot/initrd-" + v,
			"/boot/initrd-" + v + ".img",
			"/usr/lib/modules/" + v + "/initrd",
		}
	}
	for _, name := range dirNamesIn(r, "/boot") {
		if v, ok := strings.CutPrefix(name, "vmlinuz-"); ok && v != "" {
			add(v, "/boot/"+name, initrdsFor(v)...)
		}
	}
	for _, v := range dirNamesIn(r, "/usr/lib/modules") {
		add(v, "/usr/lib/modules/"+v+"/vmlinuz", initrdsFor(v)...)
	}
	byVersion := func(c []candidate) {
		sort.SliceStable(c, func(i, j int) bool { return compareVersions(c[i].version, c[j].version) > 0 })
	}
	byVersion(withInitrd)
	byVersion(without)
	host := func(rel string) string {
		if rel == "" {
			return ""
		}
		return filepath.Join(root, filepath.FromSlash(rel))
	}
	if len(withInitrd) > 0 {
		return host(withInitrd[0].kernel), host(withInitrd[0].initrd), nil
	}
	var lone string
	for _, pair := range [][2]string{{"/vmlinuz", "/initrd.img"}, {"/boot/vmlinuz", "/boot/initrd.img"}} {
		k, ok := regularFileIn(r, pair[0])
		if !ok {
			continue
		}
		if i, ok := regularFileIn(r, pair[1]); ok {
			return host(k), host(i), nil
		}
		if lone == "" {
			lone = k
		}
	}
	if len(without) > 0 {
		return host(without[0].kernel), "", nil
	}
	if lone != "" {
		return host(lone), "", nil
	}
	return "", "", fmt.Errorf("no kernel in %s: looked for /boot/vmlinuz-*, /usr/lib/modules/*/vmlinuz and /vmlinuz", root)
}

// maxSymlinks is how many links one resolution follows, as Linux's MAXSYMLINKS.
const maxSymlinks = 40

// resolveIn resolves p inside r the way the kernel would after chroot(r): every
// symbolic link is followed, absolute targets restart at r's top and ".." stops there.
// It returns a clean slash path relative to r that contains no symbolic link.
func resolveIn(r *os.Root, p string) (string, error) {
	todo := strings.Split(p, "/")
	var done []string
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		rel := path.Join(append(done, c)...)
		fi, err := r.Lstat(rel)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			links++
			if links > maxSymlinks {
				return "", fmt.Errorf("%s: too many levels of symbolic links", p)
			}
			target, err := r.Readlink(rel)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				done = nil
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		if !fi.IsDir() && len(todo) > 0 && strings.Trim(strings.Join(todo, ""), "/") != "" {
			return "", fmt.Errorf("%s: %s is not a directory", p, rel)
		}
		done = append(done, c)
	}
	if len(done) == 0 {
		return ".", nil
	}
	return path.Join(done...), nil
}

// regularFileIn resolves p inside r and reports the result if it is a regular file.
func regularFileIn(r *os.Root, p string) (string, bool) {
	rel, err := resolveIn(r, p)
	if err != nil {
		return "", false
	}
	fi, err := r.Lstat(rel)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return "/" + rel, true
}

// dirNamesIn lists the directory p inside r (resolved as by resolveIn); nil if absent.
func dirNamesIn(r *os.Root, p string) []string {
	rel, err := resolveIn(r, p)
	if err != nil {
		return nil
	}
	d, err := r.Open(rel)
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1) // a partial listing is still worth searching
	return names
}

// compareVersions orders kernel versions: runs of digits compare as numbers, other
// runs as strings, so "6.1.0-18" > "6.1.0-9" and "6.10" > "6.9".
func compareVersions(a, b string) int {
	for a != "" && b != "" {
		ra, restA := versionRun(a)
		rb, restB := versionRun(b)
		da, db := isDigit(ra[0]), isDigit(rb[0])
		switch {
		case da && db:
			na, nb := strings.TrimLeft(ra, "0"), strings.TrimLeft(rb, "0")
			if len(na) != len(nb) {
				return cmpInt(len(na), len(nb))
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
		case da != db:
			if da {
				return 1 // a number beats a suffix: "6.1.1" > "6.1.rc"
			}
			return -1
		default:
			if c := strings.Compare(ra, rb); c != 0 {
				return c
			}
		}
		a, b = restA, restB
	}
	return cmpInt(len(a), len(b))
}

func versionRun(s string) (run, rest string) {
	d := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == d {
		i++
	}
	return s[:i], s[i:]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
