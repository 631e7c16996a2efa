package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"flag"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// edKey is a well-formed ed25519 public key line.
func edKey(comment string) string {
	blob := binary.BigEndian.AppendUint32(nil, 11)
	blob = append(blob, "ssh-ed25519"...)
	blob = binary.BigEndian.AppendUint32(blob, 32)
	blob = append(blob, bytes.Repeat([]byte{3}, 32)...)
	return "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " " + comment
}

// TestAMIRunOptions checks kiln ami run's launch flags: bad input fails
// naming the flag; without --ssh-key every ~/.ssh/id_*.pub is used.
func TestAMIRunOptions(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519.pub"), []byte(edKey("a")+"\n"), 0o644)
	os.WriteFile(filepath.Join(home, ".ssh", "id_rsa.pub"), []byte("garbage\n"), 0o644)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	script := write("ud.sh", []byte("#!/bin/sh\necho hi\n"))
	big := write("big", bytes.Repeat([]byte("#"), 16<<10+1))
	key := write("k.pub", []byte(edKey("b")+"\n"))
	priv := write("id", []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	for _, tc := range []struct {
		name     string
		args     []string
		wantErr  string
		wantKeys []string
	}{
		{name: "defaults", wantKeys: []string{edKey("a")}},
		{name: "key and user data", args: []string{"--ssh-key", key, "--user-data", script, "--firmware", "uefi"}, wantKeys: []string{edKey("b")}},
		{name: "bios", args: []string{"--firmware", "bios"}, wantKeys: []string{edKey("a")}},
		{name: "unknown firmware", args: []string{"--firmware", "efi"}, wantErr: "--firmware"},
		{name: "user data too big", args: []string{"--user-data", big}, wantErr: "--user-data"},
		{name: "user data missing", args: []string{"--user-data", filepath.Join(dir, "nope")}, wantErr: "--user-data"},
		{name: "private key", args: []string{"--ssh-key", priv}, wantErr: "--ssh-key"},
		{name: "port out of range", args: []string{"--ssh-port", "65536"}, wantErr: "--ssh-port"},
		{name: "port in use", args: []string{"--ssh-port", busyPort}, wantErr: "--ssh-port " + busyPort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("run", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			rf := addRunFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			o, err := rf.options(1024, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one starting %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(o.sshKeys, "|") != strings.Join(tc.wantKeys, "|") {
				t.Errorf("keys = %q, want %q", o.sshKeys, tc.wantKeys)
			}
			if o.sshPort <= 0 {
				t.Errorf("no SSH port chosen")
			}
			if len(tc.args) == 0 && !strings.Contains(stderr.String(), "id_rsa.pub") {
				t.Errorf("the unreadable id_rsa.pub was skipped silently: %q", stderr.String())
			}
		})
	}
}

// TestSelfContainedQcow2 refuses what kiln ami run must never convert: a
// qcow2 whose backing file or data file is a file of this machine.
func TestSelfContainedQcow2(t *testing.T) {
	qemuImg, err := exec.LookPath("qemu-img")
	if err != nil {
		t.Skip("qemu-img not installed (CI installs qemu-utils)")
	}
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.raw")
	os.WriteFile(secret, make([]byte, 1<<20), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"plain", nil, true},
		{"backing file", []string{"-b", secret, "-F", "raw"}, false},
		{"data file", []string{"-o", "data_file=" + filepath.Join(dir, "data.raw")}, false},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".qcow2")
		args := append(append([]string{"create", "-q", "-f", "qcow2"}, tc.args...), p, "1M")
		if out, err := exec.Command(qemuImg, args...).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
		err := selfContainedQcow2(context.Background(), qemuImg, p)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
