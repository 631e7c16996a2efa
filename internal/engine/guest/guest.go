// Package guest is the part of a build that runs inside the build's
// sandbox, from the kiln binary mounted read-only at /.kiln/kiln: running
// a Dockerfile RUN as the USER in effect, COPY/ADD, and reading the image's
// inventory. Running it inside means every path it touches is the
// image's, resolved by the kernel in the sandbox's root — nothing on the
// host is reachable, however the image's symlinks point. The requests
// the engine makes of it are built and parsed in protocol.go, so both
// ends share one definition.
package guest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/internal/fileutil"
	"github.com/kiln-build/kiln/internal/inventory"
)

// User is a resolved USER: numeric ids and the supplementary groups.
type User struct {
	UID, GID uint32
	Groups   []uint32
	Home     string
}

// LookupUser resolves a Dockerfile USER value ("name", "uid",
// "name:group", "uid:gid") against the root's /etc/passwd and /etc/group,
// as Docker does: numeric ids need no entry.
func LookupUser(spec string) (User, error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	u := User{Home: "/"}
	found := false
	if err := scanColonFile("/etc/passwd", func(f []string) bool {
		if len(f) < 7 || (f[0] != name && f[2] != name) {
			return false
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return false
		}
		u.UID, u.GID, u.Home, found = uint32(uid), uint32(gid), f[5], true
		return true
	}); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return u, err
	}
	if !found {
		n, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			return u, fmt.Errorf("unable to find user %s: no matching entries in passwd file", name)
		}
		u.UID, u.GID = uint32(n), uint32(n)
	}
	if hasGroup {
		gid, err := lookupGroup(group)
		if err != nil {
			return u, err
		}
		u.GID = gid
	}
	// Supplementary groups: every group that lists the user by name.
	_ = scanColonFile("/etc/group", func(f []string) bool {
		if len(f) < 4 {
			return false
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == name && m != "" {
				if gid, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					u.Groups = append(u.Groups, uint32(gid))
				}
			}
		}
		return false
	})
	return u, nil
}

func lookupGroup(group string) (uint32, error) {
	var gid uint32
	found := false
	if err := scanColonFile("/etc/group", func(f []string) bool {
		if len(f) >= 3 && (f[0] == group || f[2] == group) {
			if n, err := strconv.ParseUint(f[2], 10, 32); err == nil {
				gid, found = uint32(n), true
				return true
			}
		}
		return false
	}); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	if !found {
		n, err := strconv.ParseUint(group, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("unable to find group %s: no matching entries in group file", group)
		}
		gid = uint32(n)
	}
	return gid, nil
}

// scanColonFile calls fn with the fields of each line of a passwd-style
// file until fn returns true.
func scanColonFile(path string, fn func([]string) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if fn(strings.Split(line, ":")) {
			return nil
		}
	}
	return sc.Err()
}

// RunAs runs argv as user (a USER value; "" or "root" runs as root) with
// the current environment and directory, and returns its exit code.
func RunAs(user string, argv []string, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return -1, errors.New("no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if user != "" && user != "root" && user != "0" && user != "0:0" {
		u, err := LookupUser(user)
		if err != nil {
			return -1, err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups}}
		cmd.Env = setEnv(os.Environ(), "HOME", u.Home)
	}
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// setEnv sets key in env unless the environment already has it.
func setEnv(env []string, key, value string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, key+"=") {
			return env
		}
	}
	return append(env, key+"="+value)
}

// Copy copies sources (files or directory trees) to dest as Docker's COPY
// does: several sources or a dest ending in "/" make dest a directory; a
// directory source copies its contents. chown ("user[:group]", "" keeps
// root) and chmod (octal, "" keeps the source's modes) apply to
// everything copied.
func Copy(sources []string, dest, chown, chmod string) error {
	uid, gid := 0, 0
	if chown != "" {
		u, err := LookupUser(chown)
		if err != nil {
			return err
		}
		uid, gid = int(u.UID), int(u.GID)
	}
	var mode fs.FileMode
	if chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("invalid --chmod %q", chmod)
		}
		mode = fs.FileMode(m)
	}
	var expanded []string
	for _, src := range sources {
		if !strings.ContainsAny(src, "*?[") {
			expanded = append(expanded, src)
			continue
		}
		// Wildcards match as in docker build (Go's filepath.Match rules).
		matches, err := filepath.Glob(src)
		if err != nil {
			return fmt.Errorf("COPY source %s: %w", src, err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("COPY source %s: no file matches", src)
		}
		expanded = append(expanded, matches...)
	}
	intoDir := len(expanded) > 1 || strings.HasSuffix(dest, "/")
	if fi, err := os.Stat(dest); err == nil && fi.IsDir() {
		intoDir = true
	}
	for _, src := range expanded {
		fi, err := os.Lstat(src)
		if err != nil {
			return fmt.Errorf("COPY source %s: %w", src, err)
		}
		target := dest
		if intoDir && !fi.IsDir() {
			target = filepath.Join(dest, filepath.Base(src))
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Clean(target)), 0o755); err != nil {
			return err
		}
		if err := copyTree(src, target, uid, gid, mode, chmod != ""); err != nil {
			return err
		}
	}
	return nil
}

func copyTree(src, dst string, uid, gid int, mode fs.FileMode, setMode bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m := fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		if setMode {
			m = mode
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			os.Remove(out)
			if err := os.Symlink(target, out); err != nil {
				return err
			}
			return os.Lchown(out, uid, gid)
		case fi.Mode().IsRegular():
			if err := fileutil.Copy(p, out, 0o600); err != nil {
				return err
			}
		default:
			return nil // devices, sockets and fifos are not copied
		}
		if err := os.Lchown(out, uid, gid); err != nil {
			return err
		}
		return os.Chmod(out, m)
	})
}

// Inventory is what the build learns about the image from inside it.
type Inventory struct {
	OS       inventory.OS        `json:"os"`
	Packages []inventory.Package `json:"packages"`
	// Problem says what could not be read, if anything.
	Problem string `json:"problem,omitempty"`
}

// ReadInventory reads the sandbox root's os-release and package databases
// and writes them to w as JSON.
func ReadInventory(w io.Writer) error {
	var inv Inventory
	root := os.DirFS("/")
	var problems []string
	osr, err := inventory.ReadOS(root)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		problems = append(problems, err.Error())
	}
	inv.OS = osr
	pkgs, err := inventory.Packages(root)
	if err != nil {
		problems = append(problems, err.Error())
	}
	inv.Packages = pkgs
	inv.Problem = strings.Join(problems, "; ")
	return json.NewEncoder(w).Encode(inv)
}
