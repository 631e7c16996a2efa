package main

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// registryCheck pulls ref from kiln's registry (plain HTTP) and reads its
// top layer — the build's new layer — to see that the workload's files
// are all in it. Reading every byte also makes go-containerregistry
// verify the layer's digest.
func registryCheck(ctx context.Context, ref string) (layerCheck, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return layerCheck{}, err
	}
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return layerCheck{}, fmt.Errorf("pulling %s: %w", ref, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return layerCheck{}, err
	}
	if len(layers) < 2 {
		return layerCheck{}, fmt.Errorf("%s has %d layers; want the base's and at least one new one", ref, len(layers))
	}
	top := layers[len(layers)-1]
	var lc layerCheck
	if lc.Compressed, err = top.Size(); err != nil {
		return lc, err
	}
	d, err := top.Digest()
	if err != nil {
		return lc, err
	}
	lc.Digest = d.String()
	rc, err := top.Uncompressed()
	if err != nil {
		return lc, err
	}
	defer rc.Close()
	if err := countTar(rc, &lc); err != nil {
		return lc, fmt.Errorf("reading the top layer of %s: %w", ref, err)
	}
	return lc, nil
}

// countTar fills lc from a layer's tar stream.
func countTar(r io.Reader, lc *layerCheck) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch {
		case h.Typeflag != tar.TypeReg:
		case path.Dir(p) == "opt/bench/small":
			lc.SmallFiles++
		case p == "opt/bench/big":
			lc.BigBytes = h.Size
		case p == "opt/bench/done":
			lc.Done = true
		}
	}
}

// matches says whether a build made what the workload asks for.
func (lc layerCheck) matches(files, bigMiB int) error {
	if lc.SmallFiles != files || lc.BigBytes != int64(bigMiB)<<20 || !lc.Done {
		return fmt.Errorf("layer holds %d small files, a %d-byte big file, done marker %v; want %d, %d, true",
			lc.SmallFiles, lc.BigBytes, lc.Done, files, int64(bigMiB)<<20)
	}
	return nil
}
