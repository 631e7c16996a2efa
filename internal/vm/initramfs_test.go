package vm

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// newcWriter writes a cpio archive in the "newc" format the kernel
// unpacks as an initramfs: a 110-byte ASCII header per entry ("070701"
// and thirteen 8-digit hex fields), the NUL-terminated name and the data,
// each padded to 4 bytes, ended by a "TRAILER!!!" entry.
type newcWriter struct {
	w   io.Writer
	ino int
	err error
}

func (c *newcWriter) entry(name string, mode uint32, rdevMajor, rdevMinor int, data []byte) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	buf := []byte(hdr + name + "\x00")
	buf = append(buf, make([]byte, pad4(len(buf)))...)
	buf = append(buf, data...)
	buf = append(buf, make([]byte, pad4(len(data)))...)
	_, c.err = c.w.Write(buf)
}

func pad4(n int) int { return (4 - n%4) % 4 }

func (c *newcWriter) dir(name string) { c.entry(name, 0o040755, 0, 0, nil) }
func (c *newcWriter) file(name string, perm uint32, data []byte) {
	c.entry(name, 0o100000|perm, 0, 0, data)
}
func (c *newcWriter) symlink(name, target string) { c.entry(name, 0o120777, 0, 0, []byte(target)) }
func (c *newcWriter) charDev(name string, major, minor int) {
	c.entry(name, 0o020600, major, minor, nil)
}

func (c *newcWriter) close() error {
	c.entry("TRAILER!!!", 0, 0, 0, nil)
	return c.err
}

// testInitramfs is what the boot test's initramfs holds.
type testInitramfs struct {
	init    string            // host path of the static agent, becomes /init
	busybox string            // host path of a static busybox, becomes /bin/busybox
	applets []string          // /bin/NAME -> busybox
	files   map[string]string // more files: archive path -> content
	release string            // kernel release, for /lib/modules/RELEASE
	modules []string          // module names to include with their dependencies
}

// write builds the archive at dst.
func (r testInitramfs) write(dst string) error {
	modDir := "/lib/modules/" + r.release
	dep, err := os.ReadFile(modDir + "/modules.dep")
	if err != nil {
		return err
	}
	lines := map[string]string{} // module name -> its modules.dep line
	files := map[string]string{} // module name -> file
	deps := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(string(dep)))
	for sc.Scan() {
		file, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		name := strings.ReplaceAll(strings.TrimSuffix(path.Base(file), ".ko"), "-", "_")
		lines[name], files[name], deps[name] = sc.Text(), file, strings.Fields(rest)
	}
	want := map[string]bool{}
	var add func(string)
	add = func(name string) {
		if want[name] || files[name] == "" {
			return
		}
		want[name] = true
		for _, d := range deps[name] {
			add(strings.ReplaceAll(strings.TrimSuffix(path.Base(d), ".ko"), "-", "_"))
		}
	}
	for _, m := range r.modules {
		add(m)
	}

	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	bw := bufio.NewWriter(out)
	c := &newcWriter{w: bw}
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "root"} {
		c.dir(d)
	}
	c.charDev("dev/console", 5, 1)
	agentBin, err := os.ReadFile(r.init)
	if err != nil {
		return err
	}
	c.file("init", 0o755, agentBin)
	if r.busybox != "" {
		bb, err := os.ReadFile(r.busybox)
		if err != nil {
			return err
		}
		c.file("bin/busybox", 0o755, bb)
		for _, a := range r.applets {
			c.symlink("bin/"+a, "busybox")
		}
		c.dir("sbin")
		c.symlink("sbin/init", "../bin/busybox")
	}
	var extra []string
	for name := range r.files {
		extra = append(extra, name)
	}
	sort.Strings(extra)
	for _, name := range extra {
		c.dir(path.Dir(name))
		c.file(name, 0o644, []byte(r.files[name]))
	}
	made := map[string]bool{}
	mkdirs := func(p string) {
		parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
		for i := 1; i <= len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if !made[d] {
				made[d] = true
				c.dir(d)
			}
		}
	}
	mkdirs(modDir)
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	var depFile strings.Builder
	for _, n := range names {
		depFile.WriteString(lines[n] + "\n")
		data, err := os.ReadFile(path.Join(modDir, files[n]))
		if err != nil {
			return err
		}
		mkdirs(path.Join(modDir, path.Dir(files[n])))
		c.file(strings.TrimPrefix(path.Join(modDir, files[n]), "/"), 0o644, data)
	}
	c.file(strings.TrimPrefix(modDir, "/")+"/modules.dep", 0o644, []byte(depFile.String()))
	if err := c.close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return out.Close()
}
