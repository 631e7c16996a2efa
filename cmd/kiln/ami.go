package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/disk"
	"github.com/kiln-build/kiln/internal/fileutil"
	"github.com/kiln-build/kiln/internal/kilnapi"
	"github.com/kiln-build/kiln/internal/vm"
)

const amiUsage = `usage: kiln ami list   [--endpoint URL]
       kiln ami export [--endpoint URL] AMI-ID --format raw|qcow2|vmdk|vhdx|vhd --output FILE
       kiln ami run    [--endpoint URL] [--firmware bios|uefi] [--user-data FILE]
                       [--ssh-key FILE.pub] [--ssh-port N] [--memory MiB]
                       [--accel auto|kvm|tcg] AMI-ID
       kiln ami delete [--endpoint URL] AMI-ID

kiln's machine images (AMIs) live in the catalogue of a running kiln
(--endpoint or KILN_ENDPOINT). list shows the ones your credentials own or
may launch; export writes one's disk to a file (vmdk is streamOptimized,
for VMware and EC2 import; vhd is fixed-size, for Azure); delete
deregisters one you own (its disk goes when no other AMI uses it); run
boots it under QEMU as EC2 launches an instance, attached to the serial
console, on a throwaway copy of the disk; power the guest off, or press
Ctrl-C to kill it. run boots the image's kernel directly (fast) unless
--firmware bios (SeaBIOS) or uefi (OVMF) boots the disk through its own
bootloader. It attaches a cloud-init NoCloud seed (volume label cidata:
a new i- instance ID, an EC2-style hostname, the --user-data file, the
--ssh-key public key, else ~/.ssh/id_*.pub, DHCP on the NIC) and forwards
127.0.0.1:--ssh-port (default: a free port) to the guest's port 22; it
prints the ssh command on stderr. run's --accel (KILN_ACCEL) auto uses
KVM when a probe boot under it works, reusing the verdict kiln serve
cached in --data-dir (KILN_DATA_DIR); kvm fails when KVM does not work;
tcg never tries it.`

// amiMain is `kiln ami`.
func amiMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, amiUsage)
		return 2
	}
	fs := flag.NewFlagSet("kiln ami "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, amiUsage) }
	endpoint := fs.String("endpoint", defaultEndpoint(), "kiln's URL (KILN_ENDPOINT)")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	base := func() string { return strings.TrimRight(*endpoint, "/") + kilnapi.AMIsPath }
	switch args[0] {
	case "list":
		rest, err := parseInterleaved(fs, args[1:])
		if err != nil || len(rest) != 0 {
			fs.Usage()
			return 2
		}
		var amis []ami.AMI
		if err := getJSON(ctx, base(), &amis); err != nil {
			fmt.Fprintln(stderr, "kiln ami list:", err)
			return 1
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "IMAGE ID\tNAME\tREGION\tACCOUNT\tSIZE\tARCH\tCREATED\tIMAGE")
		for _, a := range amis {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%dG\t%s\t%s\t%s\n", a.ImageID, a.Name, a.Region, a.AccountID, a.Size>>30,
				cmp.Or(a.Architecture, "-"), a.CreationDate.Format("2006-01-02 15:04:05"), a.Image)
		}
		tw.Flush()
		return 0
	case "export":
		format := fs.String("format", "raw", "raw, qcow2, vmdk, vhdx or vhd")
		output := fs.String("output", "", "file to write")
		rest, err := parseInterleaved(fs, args[1:])
		if err != nil || len(rest) != 1 || *output == "" || !slices.Contains(ami.ExportFormats, *format) {
			fs.Usage()
			return 2
		}
		if err := exportAMI(ctx, base(), rest[0], *format, *output); err != nil {
			fmt.Fprintln(stderr, "kiln ami export:", err)
			return 1
		}
		return 0
	case "delete":
		rest, err := parseInterleaved(fs, args[1:])
		if err != nil || len(rest) != 1 {
			fs.Usage()
			return 2
		}
		resp, err := kilnCall(ctx, http.MethodDelete, base()+"?"+url.Values{"imageId": {rest[0]}}.Encode())
		if err != nil {
			fmt.Fprintln(stderr, "kiln ami delete:", err)
			return 1
		}
		resp.Body.Close()
		fmt.Fprintf(stdout, "deregistered %s\n", rest[0])
		return 0
	case "run":
		memory := fs.Int("memory", 1024, "guest memory in MiB")
		accelMode := fs.String("accel", envOr("KILN_ACCEL", vm.AccelAuto), "auto, kvm or tcg (KILN_ACCEL)")
		dataDir := fs.String("data-dir", envOr("KILN_DATA_DIR", "./kiln-data"), "data directory whose cached KVM verdict auto reuses (KILN_DATA_DIR)")
		flags := addRunFlags(fs)
		rest, err := parseInterleaved(fs, args[1:])
		if err != nil || len(rest) != 1 {
			fs.Usage()
			return 2
		}
		opts, err := flags.options(*memory, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "kiln ami run:", err)
			return 2
		}
		accel, err := vm.ChooseAccel(ctx, vm.AccelOptions{Mode: *accelMode, CacheDir: *dataDir})
		if err != nil {
			fmt.Fprintln(stderr, "kiln ami run:", err)
			return 2
		}
		opts.accel = accel.Accel
		if err := runAMI(ctx, base(), rest[0], opts, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "kiln ami run:", err)
			return 1
		}
		return 0
	}
	fs.Usage()
	return 2
}

func getJSON(ctx context.Context, u string, v any) error {
	resp, err := kilnCall(ctx, http.MethodGet, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// exportAMI downloads an AMI's disk in format to output (atomically).
func exportAMI(ctx context.Context, base, id, format, output string) error {
	q := url.Values{"imageId": {id}, "format": {format}}
	resp, err := kilnCall(ctx, http.MethodGet, base+"/export?"+q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp := output + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(sparseWriter{f}, resp.Body); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	// A trailing hole needs the file extended to its full size.
	if off, err := f.Seek(0, io.SeekCurrent); err == nil {
		f.Truncate(off)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, output)
}

// sparseWriter skips writing all-zero 64 KiB blocks, so exported disks
// stay sparse.
type sparseWriter struct{ f *os.File }

func (w sparseWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		chunk := p
		if len(chunk) > 64<<10 {
			chunk = chunk[:64<<10]
		}
		if isZero(chunk) {
			if _, err := w.f.Seek(int64(len(chunk)), io.SeekCurrent); err != nil {
				return n, err
			}
		} else if _, err := w.f.Write(chunk); err != nil {
			return n, err
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
	return n, nil
}

// zeroBlock is what isZero compares against: bytes.Equal is memcmp,
// many times faster than a byte loop over an 8 GiB disk of mostly holes.
var zeroBlock [64 << 10]byte

// isZero reports whether b (at most 64 KiB) is all zeros.
func isZero(b []byte) bool { return bytes.Equal(b, zeroBlock[:len(b)]) }

// runAMI boots an AMI on this machine as EC2 launches one: on a
// throwaway copy of its disk, with a cloud-init NoCloud seed (a new
// instance ID, a hostname, the user data and SSH keys, DHCP on its NIC)
// and a host port forwarded to the guest's port 22; the console is on
// stdout, what kiln says on stderr. When QEMU aborts under KVM before the
// guest ran, it boots again under TCG and says so on stderr.
func runAMI(ctx context.Context, base, id string, opts runOptions, stdout, stderr io.Writer) error {
	dir, err := os.MkdirTemp("", "kiln-ami-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	arch, err := amiArch(ctx, base, id)
	if err != nil {
		return err
	}
	cfg := vm.Config{
		MemoryMB: opts.memory, Firmware: opts.firmware,
		Console: stdout, ConsoleInput: os.Stdin, Snapshot: true, Accel: opts.accel,
	}
	if err := archVM(arch, opts.firmware, &cfg); err != nil {
		return err
	}
	raw := filepath.Join(dir, "disk.raw")
	if err := fetchRaw(ctx, base, id, raw); err != nil {
		return err
	}
	cfg.Disks = []string{raw}
	user := ""
	if cfg.Firmware == "" {
		kernel, initrd, partUUID, u, err := bootFiles(ctx, raw, dir)
		if err != nil {
			return err
		}
		cfg.Kernel, cfg.Initrd, user = kernel, initrd, u
		cfg.Append = "root=PARTUUID=" + partUUID + " rw console=" + vm.ConsoleDevice(arch)
	} else {
		user = imageUser(ctx, raw)
	}
	inst, err := launchSeed(ctx, base, id, dir, opts, &cfg)
	if err != nil {
		return err
	}
	if user == "" {
		user = "USER"
	}
	fw := firmwareName(cfg.Firmware)
	if cfg.AAVMF != "" {
		fw = "AAVMF (UEFI) loading the image's kernel"
	}
	fmt.Fprintf(stderr, "kiln ami run: instance %s (%s), %s, firmware %s, accelerator %s\n", inst.InstanceID, inst.Hostname, arch, fw, cfg.Accel)
	fmt.Fprintf(stderr, "kiln ami run: ssh -p %d %s@127.0.0.1\n", opts.sshPort, user)
	for {
		m, err := vm.Boot(ctx, cfg)
		if err == nil {
			go func() { <-ctx.Done(); m.Kill() }()
			err = m.Wait()
		}
		if errors.Is(err, vm.ErrKVMAborted) && cfg.Accel != vm.AccelTCG {
			fmt.Fprintf(stderr, "kiln ami run: QEMU aborted under KVM; booting again under TCG: %v\n", err)
			cfg.Accel = vm.AccelTCG
			continue
		}
		return err
	}
}

// bootFiles copies a disk's kernel and initrd out, finds its root
// partition's PARTUUID, and reads the user cloud-init gives SSH keys to.
func bootFiles(ctx context.Context, raw, dir string) (kernel, initrd, partUUID, user string, err error) {
	f, err := os.Open(raw)
	if err != nil {
		return "", "", "", "", err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return "", "", "", "", err
	}
	parts, err := disk.ReadPartitions(f, fi.Size())
	f.Close()
	if err != nil {
		return "", "", "", "", err
	}
	for _, p := range parts {
		if strings.EqualFold(p.Type, "0FC63DAF-8483-4772-8E79-3D69D8477DE4") {
			partUUID = p.UUID
			break
		}
	}
	if partUUID == "" {
		return "", "", "", "", errors.New("the disk has no Linux root partition")
	}
	err = disk.MountRoot(ctx, raw, func(root string) error {
		user = rootUser(root)
		k, i, err := disk.FindKernel(root)
		if err != nil {
			return err
		}
		kernel = filepath.Join(dir, "vmlinuz")
		if err := fileutil.Copy(k, kernel, 0o644); err != nil {
			return err
		}
		if i != "" {
			initrd = filepath.Join(dir, "initrd.img")
			return fileutil.Copy(i, initrd, 0o644)
		}
		return nil
	})
	return kernel, initrd, partUUID, user, err
}
