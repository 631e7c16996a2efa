package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// busyboxPath is where Debian's busybox-static installs the binary.
const busyboxPath = "/bin/busybox"

// entry is one file of the base image's root filesystem. The same list
// becomes the OCI layer (for kiln and buildah) and the unpacked directory
// the floor mounts as its overlay's lower layer, so all three start from
// the same bytes.
type entry struct {
	Name     string // relative, no leading slash
	Type     byte   // tar.TypeDir, tar.TypeReg or tar.TypeSymlink
	Mode     int64
	Data     []byte
	Linkname string
}

// baseEntries is a busybox root filesystem: Debian's static busybox, a
// symlink per applet, /etc/passwd and /etc/group, and /bin/bash as a
// two-line script running busybox's sh — component steps of type
// ExecuteBash run `bash FILE`, and busybox has no bash applet.
func baseEntries() ([]entry, error) {
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return nil, fmt.Errorf("%w (apt-get install busybox-static)", err)
	}
	list, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("busybox --list: %w", err)
	}
	var es []entry
	for _, d := range []string{"bin", "dev", "etc", "home", "opt", "proc", "root", "sys", "usr", "var"} {
		es = append(es, entry{Name: d, Type: tar.TypeDir, Mode: 0o755})
	}
	es = append(es,
		entry{Name: "tmp", Type: tar.TypeDir, Mode: 0o1777},
		entry{Name: "bin/busybox", Type: tar.TypeReg, Mode: 0o755, Data: bb},
		entry{Name: "bin/bash", Type: tar.TypeReg, Mode: 0o755, Data: []byte("#!/bin/sh\nexec /bin/sh \"$@\"\n")},
		entry{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/bin/sh\n")},
		entry{Name: "etc/group", Type: tar.TypeReg, Mode: 0o644, Data: []byte("root:x:0:\n")},
	)
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" || applet == "bash" || strings.Contains(applet, "/") {
			continue
		}
		es = append(es, entry{Name: "bin/" + applet, Type: tar.TypeSymlink, Mode: 0o777, Linkname: "busybox"})
	}
	return es, nil
}

// layerTar is the entries as an uncompressed tar stream.
func layerTar(es []entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.Name, Typeflag: e.Type, Mode: e.Mode, Linkname: e.Linkname, Format: tar.FormatPAX}
		switch e.Type {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeReg:
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeLayout writes the entries as a one-layer linux/amd64 OCI image into
// a new OCI layout directory dir, tagged "latest" (skopeo's
// oci:DIR:latest reads the ref.name annotation). OCI media types
// throughout: skopeo's oci: transport ignores entries of Docker types.
func writeLayout(dir string, es []entry) error { return writeLayoutArch(dir, es, "amd64") }

// writeLayoutArch is writeLayout for a linux image of another GOARCH.
func writeLayoutArch(dir string, es []entry, arch string) error {
	data, err := layerTar(es)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Config.Env = []string{"PATH=/bin"}
	cfg.Config.Cmd = []string{"/bin/sh"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": "latest"}))
}

// writeRootfs writes the entries as a directory tree under dir, the
// floor's read-only lower layer.
func writeRootfs(dir string, es []entry) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, e := range es {
		if strings.HasPrefix(e.Name, "/") || strings.Contains(e.Name, "..") {
			return fmt.Errorf("base entry %q is not a plain relative path", e.Name)
		}
		p := filepath.Join(dir, e.Name)
		var err error
		switch e.Type {
		case tar.TypeDir:
			if err = os.Mkdir(p, 0o755); err == nil {
				err = os.Chmod(p, os.FileMode(e.Mode&0o777)|modeBits(e.Mode))
			}
		case tar.TypeReg:
			err = os.WriteFile(p, e.Data, os.FileMode(e.Mode&0o777))
		case tar.TypeSymlink:
			err = os.Symlink(e.Linkname, p)
		default:
			err = errors.New("unsupported type")
		}
		if err != nil {
			return fmt.Errorf("base entry %s: %w", e.Name, err)
		}
	}
	return nil
}

// modeBits carries the sticky bit of a tar mode over to os.FileMode (/tmp).
func modeBits(tarMode int64) os.FileMode {
	if tarMode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}
