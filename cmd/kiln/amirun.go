package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/cloudinit"
	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/vm"
)

// runFlags are kiln ami run's launch flags, beside --memory and --accel.
type runFlags struct {
	firmware, userData, sshKey *string
	sshPort                    *int
}

func addRunFlags(fs *flag.FlagSet) runFlags {
	return runFlags{
		firmware: fs.String("firmware", "", "boot through bios (SeaBIOS) or uefi (OVMF) and the disk's bootloader; default: the image's kernel directly"),
		userData: fs.String("user-data", "", "user data file for cloud-init (a script, #cloud-config, MIME multipart; at most 16 KiB)"),
		sshKey:   fs.String("ssh-key", "", "SSH public key file for the default user (default: ~/.ssh/id_*.pub)"),
		sshPort:  fs.Int("ssh-port", 0, "host port on 127.0.0.1 forwarded to the guest's port 22 (default: a free port)"),
	}
}

// runOptions is one launch, its flags checked.
type runOptions struct {
	memory   int
	accel    string
	firmware string
	userData []byte
	sshKeys  []string
	sshPort  int
}

// options checks the flags before anything is downloaded or booted, so
// bad input fails at once with a message naming the flag.
func (f runFlags) options(memory int, stderr io.Writer) (runOptions, error) {
	o := runOptions{memory: memory, firmware: *f.firmware}
	switch o.firmware {
	case "", vm.FirmwareBIOS, vm.FirmwareUEFI:
	default:
		return o, fmt.Errorf("--firmware %q: want bios or uefi", o.firmware)
	}
	if memory < 64 {
		return o, fmt.Errorf("--memory %d: want at least 64 (MiB)", memory)
	}
	if *f.userData != "" {
		b, err := readSmallFile(*f.userData, cloudinit.MaxUserData)
		if err != nil {
			return o, fmt.Errorf("--user-data: %w (EC2 takes at most %d bytes of user data)", err, cloudinit.MaxUserData)
		}
		o.userData = b
	}
	if *f.sshKey != "" {
		b, err := readSmallFile(*f.sshKey, 64<<10)
		if err != nil {
			return o, fmt.Errorf("--ssh-key: %w", err)
		}
		if o.sshKeys, err = cloudinit.ParseAuthorizedKeys(b); err != nil {
			return o, fmt.Errorf("--ssh-key %s: %w", *f.sshKey, err)
		}
	} else {
		o.sshKeys = defaultSSHKeys(stderr)
	}
	if _, err := cloudinit.UserData(o.userData, o.sshKeys); err != nil {
		return o, fmt.Errorf("--user-data: %w", err)
	}
	port, err := sshPort(*f.sshPort)
	if err != nil {
		return o, err
	}
	o.sshPort = port
	return o, nil
}

// readSmallFile reads a file of at most max bytes.
func readSmallFile(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return b, nil
}

// defaultSSHKeys are the user's ~/.ssh/id_*.pub keys, every one (ssh
// offers each default identity in turn); a file that holds no valid key
// is skipped with a warning.
func defaultSSHKeys(stderr io.Writer) []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(home, ".ssh", "id_*.pub"))
	sort.Strings(files)
	var keys []string
	for _, p := range files {
		b, err := readSmallFile(p, 64<<10)
		if err == nil {
			var k []string
			if k, err = cloudinit.ParseAuthorizedKeys(b); err == nil {
				keys = append(keys, k...)
				continue
			}
		}
		fmt.Fprintf(stderr, "kiln ami run: skipping %s: %v\n", p, err)
	}
	return keys
}

// sshPort checks --ssh-port, or picks a free port for 0. A port already
// in use fails here rather than as QEMU's "could not set up host
// forwarding rule".
func sshPort(port int) (int, error) {
	if port < 0 || port > 65535 {
		return 0, fmt.Errorf("--ssh-port %d: want 1 to 65535", port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, fmt.Errorf("--ssh-port %d: %w", port, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// launchSeed writes the instance's NoCloud seed into dir and attaches
// it, with the NIC and the SSH forward, to cfg.
func launchSeed(ctx context.Context, base, id, dir string, opts runOptions, cfg *vm.Config) (cloudinit.Seed, error) {
	region := ""
	var amis []ami.AMI
	if err := getJSON(ctx, base, &amis); err == nil {
		for _, a := range amis {
			if a.ImageID == id {
				region = a.Region
			}
		}
	}
	seed := cloudinit.Seed{
		InstanceID: cloudinit.NewInstanceID(), Hostname: cloudinit.Hostname(region),
		UserData: opts.userData, SSHKeys: opts.sshKeys,
	}
	seed.MAC = cloudinit.MACFor(seed.InstanceID)
	path := filepath.Join(dir, "seed.iso")
	if err := seed.WriteFile(path); err != nil {
		return seed, err
	}
	cfg.Seed, cfg.MAC = path, seed.MAC
	cfg.PortForwards = []vm.PortForward{{HostPort: opts.sshPort, GuestPort: 22}}
	return seed, nil
}

// rootUser is the user to ssh in as, read from a mounted image root
// (cloudinit.DefaultUser), its links confined to that root.
func rootUser(root string) string {
	r, err := os.OpenRoot(root)
	if err != nil {
		return ""
	}
	defer r.Close()
	return cloudinit.DefaultUser(r.FS())
}

// imageUser mounts a disk's root only to read rootUser; a disk kiln
// cannot mount (a filesystem this host lacks) leaves it unknown.
func imageUser(ctx context.Context, raw string) string {
	user := ""
	if err := disk.MountRoot(ctx, raw, func(root string) error {
		user = rootUser(root)
		return nil
	}); err != nil {
		return ""
	}
	return user
}

func firmwareName(f string) string {
	if f == "" {
		return "none (direct kernel boot)"
	}
	return f
}

// fetchRaw downloads an AMI's disk to raw. A disk is mostly holes (an
// imported parent's is 8 GiB), which a raw download sends as zeros: with
// qemu-img here it asks for qcow2, which carries only the data (under a
// second instead of tens of seconds for 8 GiB), and expands it locally
// into a sparse raw file. Without qemu-img it downloads raw.
func fetchRaw(ctx context.Context, base, id, raw string) error {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		return exportAMI(ctx, base, id, "raw", raw)
	}
	qcow := raw + ".qcow2"
	defer os.Remove(qcow)
	if err := exportAMI(ctx, base, id, "qcow2", qcow); err != nil {
		return err
	}
	if err := selfContainedQcow2(ctx, qemuImg, qcow); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, qemuImg, "convert", "-f", "qcow2", "-O", "raw", qcow, raw).CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img convert: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// selfContainedQcow2 refuses a downloaded qcow2 that names another file,
// a backing file or an external data file: converting it would copy a
// file of this machine into the guest's disk.
func selfContainedQcow2(ctx context.Context, qemuImg, path string) error {
	out, err := exec.CommandContext(ctx, qemuImg, "info", "-f", "qcow2", "--output=json", path).Output()
	if err != nil {
		return fmt.Errorf("qemu-img info: %v", err)
	}
	var info struct {
		BackingFilename string `json:"backing-filename"`
		FormatSpecific  struct {
			Data struct {
				DataFile string `json:"data-file"`
			} `json:"data"`
		} `json:"format-specific"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return fmt.Errorf("qemu-img info: %v", err)
	}
	if info.BackingFilename != "" || info.FormatSpecific.Data.DataFile != "" {
		return fmt.Errorf("the downloaded disk refers to another file (%q%q); refusing it", info.BackingFilename, info.FormatSpecific.Data.DataFile)
	}
	return nil
}
