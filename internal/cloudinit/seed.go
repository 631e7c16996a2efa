// Package cloudinit makes cloud-init NoCloud seeds: a small read-only
// volume labelled "cidata" holding meta-data, user-data and
// network-config. cloud-init finds it by its label at first boot and
// reads it the way it reads EC2's instance metadata service, so an image
// with cloud-init comes up under kiln as it does on EC2: a new
// instance-id, a hostname, the user data, the SSH keys, DHCP on the first
// NIC. kiln ami run attaches one to every launch and the machine build
// attaches one to every test instance.
package cloudinit

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"time"
)

// Label is the volume label NoCloud looks for.
const Label = "cidata"

// Seed is what one instance is told at first boot.
type Seed struct {
	// InstanceID is EC2-style ("i-" and 17 hex digits, NewInstanceID).
	// cloud-init runs its per-instance modules (user data, keys, host
	// keys) again whenever it changes.
	InstanceID string
	// Hostname is the local-hostname, e.g. Hostname(region).
	Hostname string
	// UserData is the user data as the user gave it (a shell script, a
	// #cloud-config, a MIME multipart message, gzip of any of these), at
	// most MaxUserData bytes; empty for none.
	UserData []byte
	// SSHKeys are public keys (authorized_keys lines) for the default
	// user; see UserData for how they join the user data.
	SSHKeys []string
	// MAC is the first NIC's address; network-config asks for DHCP on
	// the NIC with it. "" means the machine has no NIC and the seed has
	// no network-config (cloud-init then configures nothing).
	MAC string
}

// MaxUserData is EC2's limit on user data (before base64), which
// RunInstances enforces; kiln enforces it too, so user data that works
// here works there.
const MaxUserData = 16 << 10

var (
	instanceIDPattern = regexp.MustCompile(`^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$`)
	hostLabelPattern  = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
)

// NewInstanceID returns a fresh EC2-style instance ID: "i-" and 17
// random hex digits.
func NewInstanceID() string {
	b := make([]byte, 9)
	rand.Read(b)
	return "i-" + hex.EncodeToString(b)[:17]
}

// GuestAddress is the address QEMU's user-mode network hands the first
// guest by DHCP; Hostname names it.
const GuestAddress = "10.0.2.15"

// Hostname is the private DNS name EC2 gives an instance at GuestAddress
// in region: ip-10-0-2-15.ec2.internal in us-east-1,
// ip-10-0-2-15.REGION.compute.internal elsewhere.
func Hostname(region string) string {
	host := "ip-" + strings.ReplaceAll(GuestAddress, ".", "-")
	if region == "" || region == "us-east-1" {
		return host + ".ec2.internal"
	}
	if !hostLabelPattern.MatchString(region) {
		return host
	}
	return host + "." + region + ".compute.internal"
}

// check validates the seed, naming the field at fault.
func (s Seed) check() error {
	if !instanceIDPattern.MatchString(s.InstanceID) {
		return fmt.Errorf("instance-id %q: want i- and 8 or 17 lower-case hex digits", s.InstanceID)
	}
	if err := checkHostname(s.Hostname); err != nil {
		return err
	}
	if s.MAC != "" {
		hw, err := net.ParseMAC(s.MAC)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("MAC address %q: want six colon-separated hex bytes", s.MAC)
		}
	}
	return nil
}

func checkHostname(h string) error {
	if h == "" || len(h) > 253 {
		return fmt.Errorf("local-hostname %q: want 1 to 253 characters", h)
	}
	for _, l := range strings.Split(h, ".") {
		if !hostLabelPattern.MatchString(l) {
			return fmt.Errorf("local-hostname %q: label %q is not a DNS label (a-z, 0-9, inner hyphens)", h, l)
		}
	}
	return nil
}

// Files returns the seed's files: meta-data, user-data and, when the
// machine has a NIC, network-config.
func (s Seed) Files() ([]File, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ud, err := UserData(s.UserData, s.SSHKeys)
	if err != nil {
		return nil, err
	}
	meta := fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", s.InstanceID, s.Hostname)
	files := []File{{Name: "meta-data", Data: []byte(meta)}, {Name: "user-data", Data: ud}}
	if s.MAC != "" {
		hw, _ := net.ParseMAC(s.MAC)
		// Version 2 matched by MAC address, as EC2's metadata service
		// describes an instance's NICs: no guess about the guest's
		// interface names (eth0, ens3, enp0s2).
		net := fmt.Sprintf("version: 2\nethernets:\n  primary:\n    match:\n      macaddress: %q\n    dhcp4: true\n", hw.String())
		files = append(files, File{Name: "network-config", Data: []byte(net)})
	}
	return files, nil
}

// WriteFile writes the seed as an ISO 9660 volume labelled cidata to
// path, for QEMU to attach as a read-only disk.
func (s Seed) WriteFile(path string) error {
	files, err := s.Files()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := WriteISO(&b, Label, files, time.Now()); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// MACFor derives a locally administered unicast MAC address in QEMU's
// 52:54:00 range from an instance ID, so one instance's NIC and its
// network-config agree and two instances differ.
func MACFor(instanceID string) string {
	h := sha256.Sum256([]byte(instanceID))
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", h[0], h[1], h[2])
}
