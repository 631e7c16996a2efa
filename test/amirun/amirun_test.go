// Package amirun tests `kiln ami run` and the test instances' cloud-init
// seed end to end: a real kiln serves a parent imported from a busybox
// root with the host's Debian kernel, and the guest itself reports what
// it finds on its cidata volume and answers on its port 22.
package amirun

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
)

func TestMain(m *testing.M) { kilntest.Main(m) }

// guestModules are the host kernel's modules the test guest loads beyond
// what its initramfs loaded: ISO 9660 for the seed, virtio-net for SSH.
var guestModules = []string{
	"kernel/drivers/cdrom/cdrom.ko",
	"kernel/fs/isofs/isofs.ko",
	"kernel/net/core/failover.ko",
	"kernel/drivers/net/net_failover.ko",
	"kernel/drivers/net/virtio_net.ko",
}

// seedCheck runs at the guest's boot (from busybox init): it finds the
// seed by its label as cloud-init does, prints its files between markers
// on the console, configures the NIC as the seed's network-config says
// (by its MAC address; slirp's DHCP address, statically: busybox has no
// netplan) and answers on port 22 with a banner naming the instance.
const seedCheck = `#!/bin/sh
for m in %s; do insmod /lib/modules/$(uname -r)/$m 2>/dev/null; done
mkdir -p /mnt/seed
dev=$(findfs LABEL=cidata)
echo "SEED-DEVICE $dev"
mount -t iso9660 -o ro "$dev" /mnt/seed || echo SEED-MOUNT-FAILED
for f in meta-data user-data network-config; do
  echo "=== BEGIN $f"; cat /mnt/seed/$f; echo "=== END $f"
done
mac=$(sed -n 's/.*macaddress: "\(.*\)"/\1/p' /mnt/seed/network-config)
for i in /sys/class/net/*; do
  if [ "$(cat $i/address)" = "$mac" ]; then
    ip link set "${i##*/}" up && ip addr add 10.0.2.15/24 dev "${i##*/}" && echo "NIC ${i##*/} UP"
  fi
done
id=$(sed -n 's/^instance-id: //p' /mnt/seed/meta-data)
printf '#!/bin/sh\necho SSH-2.0-kiln-guest %%s\n' "$id" > /etc/banner
chmod 755 /etc/banner
nc -ll -p 22 -e /etc/banner &
echo SEED-CHECK-DONE
`

// guestTarball is kilntest's bootable busybox root with the modules above
// and seedCheck started by init.
func guestTarball(t *testing.T, dir string) string {
	t.Helper()
	src := kilntest.BootableRootTarball(t, dir)
	_, _, modules := kilntest.KernelFiles(t)
	ver := filepath.Base(modules)
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "seed-guest-root.tar.gz")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	zw := gzip.NewWriter(out)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(zr)
	inittab := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "etc/inittab" {
			b, _ := io.ReadAll(tr)
			inittab = string(b)
			continue
		}
		tw.WriteHeader(h)
		io.Copy(tw, tr)
	}
	file := func(name string, mode int64, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	made := map[string]bool{}
	for _, m := range guestModules {
		b, err := os.ReadFile(filepath.Join(modules, m))
		if err != nil {
			t.Skipf("host kernel module %s: %v", m, err)
		}
		var dirs []string
		for p := filepath.Dir("lib/modules/" + ver + "/" + m); p != "lib/modules/"+ver; p = filepath.Dir(p) {
			dirs = append([]string{p}, dirs...)
		}
		for _, d := range dirs {
			if !made[d] {
				made[d] = true
				tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir})
			}
		}
		file("lib/modules/"+ver+"/"+m, 0o644, b)
	}
	file("etc/seed-check", 0o755, []byte(fmt.Sprintf(seedCheck, strings.Join(guestModules, " "))))
	file("etc/inittab", 0o644, []byte(inittab+"::sysinit:/etc/seed-check\n"))
	if err := closeTar(tw, zw); err != nil {
		t.Fatal(err)
	}
	return path
}

func closeTar(tw *tar.Writer, zw *gzip.Writer) error {
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// testKey is a well-formed ed25519 public key line.
func testKey(comment string) string {
	blob := binary.BigEndian.AppendUint32(nil, 11)
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	blob = append(blob, bytes.Repeat([]byte{9}, 32)...)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + comment
}

// fixture is one kiln with the seed-checking parent imported.
type fixture struct {
	srv    *kilntest.Server
	client *imagebuilder.Client
	infra  string
	ami    string
	dir    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	kilntest.RequireRoot(t)
	kilntest.RequireTool(t, "/usr/bin/qemu-system-x86_64", "qemu-system-x86")
	dir := t.TempDir()
	tarball := guestTarball(t, dir)
	srv := kilntest.Start(t, "--allow-import-dir", dir)
	f := &fixture{srv: srv, client: srv.Client(kilntest.DefaultCreds), dir: dir}
	ctx := kilntest.Context(t)
	infra, err := f.client.CreateInfrastructureConfiguration(ctx, &imagebuilder.CreateInfrastructureConfigurationInput{
		Name: aws.String("infra"), InstanceProfileName: aws.String("kiln"), TerminateInstanceOnFailure: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.infra = *infra.InfrastructureConfigurationArn
	out, err := f.client.ImportDiskImage(ctx, &imagebuilder.ImportDiskImageInput{
		Name: aws.String("seed-guest"), SemanticVersion: aws.String("1.0.0"), Platform: aws.String("Linux"),
		OsVersion: aws.String("Debian 12"), InfrastructureConfigurationArn: aws.String(f.infra),
		Uri: aws.String("file://" + tarball),
	})
	if err != nil {
		t.Fatalf("ImportDiskImage: %v", err)
	}
	img := f.wait(t, *out.ImageBuildVersionArn, 5*time.Minute)
	if img.State.Status != types.ImageStatusAvailable || img.OutputResources == nil || len(img.OutputResources.Amis) != 1 {
		t.Fatalf("import is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), srv.Log())
	}
	f.ami = aws.ToString(img.OutputResources.Amis[0].Image)
	return f
}

func (f *fixture) wait(t *testing.T, arn string, timeout time.Duration) *types.Image {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := f.client.GetImage(context.Background(), &imagebuilder.GetImageInput{ImageBuildVersionArn: aws.String(arn)})
		if err == nil && out.Image.State != nil && slices.Contains([]types.ImageStatus{types.ImageStatusAvailable,
			types.ImageStatusFailed, types.ImageStatusCancelled}, out.Image.State.Status) {
			return out.Image
		}
		if time.Now().After(deadline) {
			t.Fatalf("image %s did not finish within %s; server log:\n%s", arn, timeout, f.srv.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// run is one `kiln ami run` process.
type run struct {
	cmd     *exec.Cmd
	console *kilntest.SyncBuffer
	done    chan error
	stopped bool
}

func (f *fixture) startRun(t *testing.T, args ...string) *run {
	t.Helper()
	home := t.TempDir() // no ~/.ssh keys but the ones a test puts there
	cmd := exec.Command(kilntest.Binary(t), append([]string{"ami", "run", "--endpoint", f.srv.URL, "--memory", "512"}, append(args, f.ami)...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "KILN_ACCEL=tcg")
	r := &run{cmd: cmd, console: &kilntest.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = r.console, r.console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- cmd.Wait(); close(r.done) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends kiln ami run as Ctrl-C does; it must take its QEMU with it.
func (r *run) stop(t *testing.T) {
	t.Helper()
	if r.stopped {
		return
	}
	r.stopped = true
	r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
		t.Error("kiln ami run did not end on SIGINT")
	}
	if qemuChild(r.cmd.Process.Pid) != nil {
		t.Error("kiln ami run left its QEMU running")
	}
}

// waitConsole waits until the console shows every one of want.
func (r *run) waitConsole(t *testing.T, timeout time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c := r.console.String()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(c, w)
		}
		if ok {
			return c
		}
		select {
		case err, ok := <-r.done:
			if !ok {
				err = nil
			}
			t.Fatalf("kiln ami run ended (%v) before the console showed %q:\n%s", err, want, c)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console did not show %q within %s:\n%s", want, timeout, c)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// qemuChild returns the command line of the QEMU a process started.
func qemuChild(pid int) []string {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "qemu-system-x86_64" {
			return args
		}
	}
	return nil
}

// seedFile cuts one file the guest printed out of the console.
func seedFile(console, name string) string {
	_, after, ok := strings.Cut(console, "=== BEGIN "+name+"\r\n")
	if !ok {
		_, after, ok = strings.Cut(console, "=== BEGIN "+name+"\n")
	}
	if !ok {
		return ""
	}
	body, _, _ := strings.Cut(after, "=== END "+name)
	return strings.ReplaceAll(body, "\r\n", "\n")
}

var instanceIDLine = regexp.MustCompile(`(?m)^instance-id: (i-[0-9a-f]{17})$`)

func TestAMIRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	// User data and a key: the guest finds both on its cidata volume, its
	// NIC is the one network-config names, and the forwarded port reaches
	// its port 22.
	t.Run("seed and ssh", func(t *testing.T) {
		t.Parallel()
		userData := filepath.Join(f.dir, "user-data.sh")
		os.WriteFile(userData, []byte("#!/bin/sh\necho hello from user data\n"), 0o644)
		key := filepath.Join(f.dir, "id_test.pub")
		os.WriteFile(key, []byte(testKey("tester@kiln")+"\n"), 0o644)
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		start := time.Now()
		r := f.startRun(t, "--user-data", userData, "--ssh-key", key, "--ssh-port", strconv.Itoa(port))
		r.waitConsole(t, 3*time.Minute, "kiln ami run: instance ")
		t.Logf("disk exported, kernel copied out and seed written %s after kiln ami run started", time.Since(start).Round(time.Millisecond))
		console := r.waitConsole(t, 3*time.Minute, "SEED-CHECK-DONE")
		t.Logf("guest read its seed %s after kiln ami run started", time.Since(start).Round(time.Millisecond))
		if !strings.Contains(console, fmt.Sprintf("ssh -p %d root@127.0.0.1", port)) {
			t.Errorf("kiln ami run did not print the ssh command for port %d:\n%s", port, console)
		}
		if strings.Contains(console, "SEED-MOUNT-FAILED") || !strings.Contains(console, "SEED-DEVICE /dev/vdb") {
			t.Fatalf("the guest did not mount its seed at /dev/vdb:\n%s", console)
		}
		meta := seedFile(console, "meta-data")
		m := instanceIDLine.FindStringSubmatch(meta)
		if m == nil || !strings.Contains(meta, "local-hostname: ip-10-0-2-15.ec2.internal") {
			t.Errorf("meta-data = %q", meta)
		}
		if m != nil && !strings.Contains(console, "kiln ami run: instance "+m[1]) {
			t.Errorf("kiln ami run did not name instance %s", m[1])
		}
		ud := seedFile(console, "user-data")
		script := base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho hello from user data\n"))
		if !strings.Contains(ud, "multipart/mixed") || !strings.Contains(ud, "text/x-shellscript") || !strings.Contains(ud, script) ||
			!strings.Contains(ud, "text/cloud-config") || !strings.Contains(ud, `"`+testKey("tester@kiln")+`"`) {
			t.Errorf("user-data = %q", ud)
		}
		nc := seedFile(console, "network-config")
		if !strings.Contains(nc, "version: 2") || !strings.Contains(nc, "dhcp4: true") || !regexp.MustCompile(`NIC \w+ UP`).MatchString(console) {
			t.Errorf("network-config = %q; the guest's NIC did not match it:\n%s", nc, console)
		}
		// The forward reaches the guest's listener: its banner names the
		// instance. (slirp accepts on the host at once and closes the
		// connection when the guest does not answer, so retry.)
		deadline := time.Now().Add(time.Minute)
		for {
			banner, err := readBanner(port)
			if err == nil && m != nil && strings.HasPrefix(banner, "SSH-2.0-kiln-guest "+m[1]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("127.0.0.1:%d did not reach the guest's port 22: %q, %v", port, banner, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
		args := qemuChild(r.cmd.Process.Pid)
		if j := strings.Join(args, " "); !strings.Contains(j, "-kernel") || strings.Contains(j, "-bios") {
			t.Errorf("without --firmware kiln ami run should boot the kernel directly: %s", j)
		}
	})

	// --firmware uefi boots through OVMF with no -kernel: the firmware
	// starts and tries the disk (the disk boots to its init once it has a
	// bootloader); --firmware bios runs QEMU with SeaBIOS and no -kernel.
	t.Run("firmware", func(t *testing.T) {
		t.Parallel()
		if _, err := os.Stat("/usr/share/ovmf/OVMF.fd"); err != nil {
			t.Skip("no OVMF (CI installs ovmf)")
		}
		b := f.startRun(t, "--firmware", "bios")
		b.waitConsole(t, 3*time.Minute, "firmware bios")
		var args []string
		for deadline := time.Now().Add(time.Minute); args == nil && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			args = qemuChild(b.cmd.Process.Pid)
		}
		if j := strings.Join(args, " "); j == "" || strings.Contains(j, "-kernel") || strings.Contains(j, "-bios") {
			t.Errorf("QEMU for --firmware bios: %q", j)
		}
		b.stop(t)
		r := f.startRun(t, "--firmware", "uefi")
		r.waitConsole(t, 3*time.Minute, "firmware uefi", "BdsDxe")
		j := strings.Join(qemuChild(r.cmd.Process.Pid), " ")
		if strings.Contains(j, "-kernel") || !strings.Contains(j, "-bios /usr/share/ovmf/OVMF.fd") || !strings.Contains(j, "readonly=on") {
			t.Errorf("QEMU for --firmware uefi: %s", j)
		}
	})

	// Bad flags fail before anything boots, naming the flag.
	t.Run("bad input", func(t *testing.T) {
		t.Parallel()
		big := filepath.Join(f.dir, "big-user-data")
		os.WriteFile(big, bytes.Repeat([]byte("#"), 16<<10+1), 0o644)
		notKey := filepath.Join(f.dir, "not-a-key.pub")
		os.WriteFile(notKey, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600)
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--firmware", "coreboot"}, "--firmware"},
			{[]string{"--user-data", big}, "--user-data"},
			{[]string{"--user-data", filepath.Join(f.dir, "missing")}, "--user-data"},
			{[]string{"--ssh-key", notKey}, "--ssh-key"},
			{[]string{"--ssh-port", "70000"}, "--ssh-port"},
		} {
			cmd := exec.Command(kilntest.Binary(t), append(append([]string{"ami", "run", "--endpoint", f.srv.URL}, tc.args...), f.ami)...)
			out, err := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); err == nil || code != 2 || !strings.Contains(string(out), tc.want) {
				t.Errorf("kiln ami run %v: exit %d, %v\n%s", tc.args, code, err, out)
			}
		}
	})

	// A machine build's test instance gets a seed too: the test component
	// reads it inside the guest, with the recipe's userDataOverride as its
	// user data and the instance ID the build reports.
	t.Run("test instance", func(t *testing.T) {
		t.Parallel()
		f.testInstanceSeed(t)
	})
}

func readBanner(port int) (string, error) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

const seedTestComponent = `name: seed
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: ReadSeed
        action: ExecuteBash
        inputs:
          commands:
            - mount | grep -q /mnt/seed || mount -t iso9660 -o ro "$(findfs LABEL=cidata)" /mnt/seed
            - echo "GUEST-$(sed -n 's/^instance-id. /INSTANCE /p' /mnt/seed/meta-data)"
            - grep -q '^local-hostname. ip-10-0-2-15' /mnt/seed/meta-data
            - grep -q 'echo from-user-data-override' /mnt/seed/user-data
            - echo SEED-READ-IN-TEST
`

func (f *fixture) testInstanceSeed(t *testing.T) {
	ctx := kilntest.Context(t)
	comp, err := f.client.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
		Name: aws.String("seed"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux, Data: aws.String(seedTestComponent),
	})
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := f.client.CreateImageRecipe(ctx, &imagebuilder.CreateImageRecipeInput{
		Name: aws.String("seeded"), SemanticVersion: aws.String("1.0.0"), ParentImage: aws.String(f.ami),
		Components: []types.ComponentConfiguration{{ComponentArn: comp.ComponentBuildVersionArn}},
		AdditionalInstanceConfiguration: &types.AdditionalInstanceConfiguration{
			UserDataOverride: aws.String(base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho from-user-data-override\n"))),
		},
	})
	if err != nil {
		t.Fatalf("CreateImageRecipe: %v", err)
	}
	out, err := f.client.CreateImage(ctx, &imagebuilder.CreateImageInput{
		ImageRecipeArn: recipe.ImageRecipeArn, InfrastructureConfigurationArn: aws.String(f.infra),
	})
	if err != nil {
		t.Fatalf("CreateImage: %v", err)
	}
	start := time.Now()
	img := f.wait(t, *out.ImageBuildVersionArn, 8*time.Minute)
	t.Logf("machine image with a seeded test instance built and tested in %s", time.Since(start).Round(time.Millisecond))
	logs, _ := exec.Command(kilntest.Binary(t), "logs", "--endpoint", f.srv.URL, *out.ImageBuildVersionArn).CombinedOutput()
	if img.State.Status != types.ImageStatusAvailable {
		t.Fatalf("image is %s: %s\n%s", img.State.Status, aws.ToString(img.State.Reason), logs)
	}
	m := regexp.MustCompile(`cloud-init NoCloud seed: instance (i-[0-9a-f]{17})`).FindSubmatch(logs)
	if m == nil || !bytes.Contains(logs, []byte("GUEST-INSTANCE "+string(m[1]))) || !bytes.Contains(logs, []byte("SEED-READ-IN-TEST")) {
		t.Errorf("the test instance did not read its seed:\n%s", logs)
	}
}
