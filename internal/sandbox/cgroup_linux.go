//go:build linux

package sandbox

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A sandbox with Limits runs in a control group of its own, made for that
// one Run and removed after it, below the control group kiln itself runs
// in (so a delegated subtree, or a container's limits, still hold).
//
// cgroup v2 is preferred: one hierarchy with cpu, memory and pids, an
// oom_kill counter in memory.events and cgroup.kill. It needs the three
// controllers available in kiln's own cgroup and enabled for its children
// (cgroup.subtree_control); that fails with EBUSY when kiln's cgroup also
// holds processes ("no internal processes") and is not the root. Hosts in
// hybrid mode (v1 controllers, an empty v2 hierarchy at
// /sys/fs/cgroup/unified) and v2 hosts where that fails fall back to v1's
// memory, pids and cpu hierarchies, whichever are mounted. With neither,
// sandboxes run without limits. The choice and its reason are in
// [Cgroups], which kiln logs at start.

// CgroupMode says how sandbox limits are enforced on this host.
type CgroupMode string

const (
	CgroupV2   CgroupMode = "cgroup2"
	CgroupV1   CgroupMode = "cgroup1"
	CgroupNone CgroupMode = "none"
)

// CgroupSupport is the outcome of probing the host's control groups.
type CgroupSupport struct {
	Mode CgroupMode
	// Why says why this mode was chosen (and the better one not).
	Why string

	v2parent string            // v2: the directory new cgroups go in
	v1parent map[string]string // v1: controller -> directory new cgroups go in
}

var (
	cgroupOnce  sync.Once
	cgroupProbe CgroupSupport
)

// Cgroups probes, once, how this host can enforce [Limits].
func Cgroups() CgroupSupport {
	cgroupOnce.Do(func() {
		cgroupProbe = probeCgroups()
		cgroupProbe.sweep()
	})
	return cgroupProbe
}

// sweep removes the empty control groups of sandboxes whose kiln died
// before removing them. A group younger than a minute may belong to a
// sandbox another kiln on this host is starting right now, and a group
// with processes cannot be removed, so both are left alone.
func (s CgroupSupport) sweep() {
	var parents []string
	if s.v2parent != "" {
		parents = append(parents, s.v2parent)
	}
	for _, p := range s.v1parent {
		parents = append(parents, p)
	}
	for _, p := range parents {
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), "kiln-sandbox-") {
				continue
			}
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Minute {
				unix.Rmdir(filepath.Join(p, e.Name()))
			}
		}
	}
}

func probeCgroups() CgroupSupport {
	mounts, err := readMounts()
	if err != nil {
		return CgroupSupport{Mode: CgroupNone, Why: "reading /proc/self/mounts: " + err.Error()}
	}
	own, err := ownCgroups()
	if err != nil {
		return CgroupSupport{Mode: CgroupNone, Why: "reading /proc/self/cgroup: " + err.Error()}
	}
	var why []string
	if mp := mounts.v2; mp != "" {
		parent := filepath.Join(mp, own[""])
		err := enableV2(parent)
		moved := ""
		if errors.Is(err, unix.EBUSY) {
			// kiln's own cgroup holds processes, so its children
			// cannot have controllers. If kiln is the only one (a
			// systemd unit with Delegate=yes, a container), it moves
			// itself into a leaf beside the sandboxes' groups.
			if moved, err = moveSelfToLeaf(parent); err == nil {
				err = enableV2(parent)
			}
		}
		if err == nil {
			why := "cpu, memory and pids delegated in " + parent
			if moved != "" {
				why += " (kiln moved itself to " + moved + ")"
			}
			return CgroupSupport{Mode: CgroupV2, Why: why, v2parent: parent}
		}
		why = append(why, "cgroup2 at "+mp+": "+err.Error())
	} else {
		why = append(why, "no cgroup2 filesystem mounted")
	}
	v1 := map[string]string{}
	for _, c := range []string{"memory", "pids", "cpu"} {
		mp, ok := mounts.v1[c]
		if !ok {
			continue
		}
		dir := filepath.Join(mp, own[c])
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		v1[c] = dir
	}
	if len(v1) > 0 {
		var names []string
		for _, c := range []string{"memory", "pids", "cpu"} {
			if _, ok := v1[c]; ok {
				names = append(names, c)
			}
		}
		why = append(why, "using the cgroup v1 hierarchies of "+strings.Join(names, ", "))
		return CgroupSupport{Mode: CgroupV1, Why: strings.Join(why, "; "), v1parent: v1}
	}
	why = append(why, "no cgroup v1 memory, pids or cpu hierarchy either: builds run without limits")
	return CgroupSupport{Mode: CgroupNone, Why: strings.Join(why, "; ")}
}

// moveSelfToLeaf moves this process into parent/kiln-serve when it is the
// only process in parent, so that parent can delegate controllers.
func moveSelfToLeaf(parent string) (string, error) {
	b, err := os.ReadFile(filepath.Join(parent, "cgroup.procs"))
	if err != nil {
		return "", err
	}
	self := strconv.Itoa(os.Getpid())
	for _, p := range strings.Fields(string(b)) {
		if p != self {
			return "", fmt.Errorf("kiln's cgroup %s also holds process %s, so its child groups cannot have controllers (run kiln in a cgroup of its own, e.g. a systemd unit with Delegate=yes)", parent, p)
		}
	}
	leaf := filepath.Join(parent, "kiln-serve")
	if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(self), 0); err != nil {
		return "", err
	}
	return leaf, nil
}

// enableV2 checks that cpu, memory and pids are available in parent and
// enables them for its children.
func enableV2(parent string) error {
	b, err := os.ReadFile(filepath.Join(parent, "cgroup.controllers"))
	if err != nil {
		return err
	}
	have := strings.Fields(string(b))
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !contains(have, c) {
			return fmt.Errorf("controller %s not available (have %q)", c, strings.TrimSpace(string(b)))
		}
	}
	b, err = os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return err
	}
	enabled := strings.Fields(string(b))
	for _, c := range []string{"cpu", "memory", "pids"} {
		if contains(enabled, c) {
			continue
		}
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+"+c), 0); err != nil {
			return fmt.Errorf("enabling %s for child groups: %w", c, err)
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type cgroupMounts struct {
	v2 string            // "" when absent
	v1 map[string]string // controller -> mountpoint
}

func readMounts() (cgroupMounts, error) {
	m := cgroupMounts{v1: map[string]string{}}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return m, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 {
			continue
		}
		switch fs[2] {
		case "cgroup2":
			if m.v2 == "" || fs[1] == "/sys/fs/cgroup" {
				m.v2 = fs[1]
			}
		case "cgroup":
			for _, o := range strings.Split(fs[3], ",") {
				if o == "memory" || o == "pids" || o == "cpu" {
					m.v1[o] = fs[1]
				}
			}
		}
	}
	return m, sc.Err()
}

// ownCgroups maps each v1 controller (and "" for v2) to kiln's own cgroup
// path in that hierarchy.
func ownCgroups() (map[string]string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, err
	}
	return parseProcCgroup(string(b)), nil
}

// parseProcCgroup reads /proc/PID/cgroup lines "ID:controllers:path".
func parseProcCgroup(s string) map[string]string {
	own := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || !strings.HasPrefix(f[2], "/") {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			own[""] = f[2]
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			own[c] = f[2]
		}
	}
	return own
}

// cgroup is one sandbox's control group(s).
type cgroup struct {
	mode CgroupMode
	dirs map[string]string // controller ("" for v2) -> directory
}

// newCgroup makes a control group with limits l. It returns nil, nil when
// the host has no way to enforce limits (Cgroups says why).
func newCgroup(l Limits) (*cgroup, error) {
	sup := Cgroups()
	var id [8]byte
	rand.Read(id[:])
	// The creating process's ID in the name tells whose a group is (tests
	// running beside other kiln processes look only at their own).
	name := fmt.Sprintf("kiln-sandbox-%d-%s", os.Getpid(), hex.EncodeToString(id[:]))
	cg := &cgroup{mode: sup.Mode, dirs: map[string]string{}}
	switch sup.Mode {
	case CgroupNone:
		return nil, nil
	case CgroupV2:
		dir := filepath.Join(sup.v2parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: creating the cgroup: %w", err)
		}
		cg.dirs[""] = dir
		if err := cg.setV2(l); err != nil {
			cg.remove()
			return nil, err
		}
	case CgroupV1:
		for c, parent := range sup.v1parent {
			dir := filepath.Join(parent, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				cg.remove()
				return nil, fmt.Errorf("sandbox: creating the %s cgroup: %w", c, err)
			}
			cg.dirs[c] = dir
		}
		if err := cg.setV1(l); err != nil {
			cg.remove()
			return nil, err
		}
	}
	return cg, nil
}

// cpuPeriod is the CFS period limits are expressed in (100 ms, the
// kernel's default).
const cpuPeriod = 100000

func write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("sandbox: setting %s to %s: %w", file, value, err)
	}
	return nil
}

func (cg *cgroup) setV2(l Limits) error {
	dir := cg.dirs[""]
	if l.MilliCPU > 0 {
		if err := write(dir, "cpu.max", fmt.Sprintf("%d %d", int64(l.MilliCPU)*cpuPeriod/1000, cpuPeriod)); err != nil {
			return err
		}
	}
	if l.Memory > 0 {
		if err := write(dir, "memory.max", strconv.FormatInt(l.Memory, 10)); err != nil {
			return err
		}
		// Absent when the kernel does not account swap: nothing to cap.
		if err := write(dir, "memory.swap.max", "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if l.Pids > 0 {
		if err := write(dir, "pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (cg *cgroup) setV1(l Limits) error {
	if dir, ok := cg.dirs["cpu"]; ok && l.MilliCPU > 0 {
		if err := write(dir, "cpu.cfs_period_us", strconv.Itoa(cpuPeriod)); err != nil {
			return err
		}
		if err := write(dir, "cpu.cfs_quota_us", strconv.FormatInt(int64(l.MilliCPU)*cpuPeriod/1000, 10)); err != nil {
			return err
		}
	}
	if dir, ok := cg.dirs["memory"]; ok && l.Memory > 0 {
		if err := write(dir, "memory.limit_in_bytes", strconv.FormatInt(l.Memory, 10)); err != nil {
			return err
		}
		// memory+swap equal to memory: no swap. Absent without swap
		// accounting.
		if err := write(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(l.Memory, 10)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if dir, ok := cg.dirs["pids"]; ok && l.Pids > 0 {
		if err := write(dir, "pids.max", strconv.FormatInt(l.Pids, 10)); err != nil {
			return err
		}
	}
	return nil
}

// add moves pid (the sandbox's init, before it starts the program) into
// the group.
func (cg *cgroup) add(pid int) error {
	for _, dir := range cg.dirs {
		if err := write(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// oomKills is how many processes the memory limit has killed.
func (cg *cgroup) oomKills() int {
	var file string
	switch cg.mode {
	case CgroupV2:
		file = filepath.Join(cg.dirs[""], "memory.events")
	case CgroupV1:
		dir, ok := cg.dirs["memory"]
		if !ok {
			return 0
		}
		file = filepath.Join(dir, "memory.oom_control")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// kill kills every process in the group (v2's cgroup.kill; under v1 the
// PID namespace's end does the same).
func (cg *cgroup) kill() {
	if dir, ok := cg.dirs[""]; ok {
		os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
	}
}

// remove deletes the group once its processes are gone; the kernel frees
// an exiting process's cgroup membership shortly after its exit is
// reported, so an EBUSY is retried for a while.
func (cg *cgroup) remove() error {
	var errs []error
	for _, dir := range cg.dirs {
		var err error
		for i := 0; i < 100; i++ {
			err = unix.Rmdir(dir)
			if err == nil || errors.Is(err, unix.ENOENT) {
				err = nil
				break
			}
			if !errors.Is(err, unix.EBUSY) {
				break
			}
			if i == 0 {
				cg.kill()
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("sandbox: removing cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// OwnMemoryLimit is the memory limit of kiln's own cgroup in bytes: its
// cgroup v2 memory.max, or on a host whose memory controller is on cgroup
// v1, its memory.limit_in_bytes. ok is false when neither can be read or
// the cgroup sets no limit.
func OwnMemoryLimit() (limit int64, ok bool) {
	mounts, err := readMounts()
	if err != nil {
		return 0, false
	}
	own, err := ownCgroups()
	if err != nil {
		return 0, false
	}
	if mounts.v2 != "" && own[""] != "" {
		if b, err := os.ReadFile(filepath.Join(mounts.v2, own[""], "memory.max")); err == nil {
			return parseMemoryLimit(b)
		}
	}
	if mounts.v1["memory"] != "" && own["memory"] != "" {
		if b, err := os.ReadFile(filepath.Join(mounts.v1["memory"], own["memory"], "memory.limit_in_bytes")); err == nil {
			return parseMemoryLimit(b)
		}
	}
	return 0, false
}

// parseMemoryLimit reads a memory.max or memory.limit_in_bytes file: a
// byte count, or no limit (ok false): "max" on v2, a page-rounded
// maximum int64 on v1.
func parseMemoryLimit(data []byte) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0, false
	}
	return n, true
}
