package inventory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// RPM header tags and types used here (see rpm's rpmtag.h; the header
// format is the one described in the LSB's "Package File Format").
const (
	rpmTagName    = 1000
	rpmTagVersion = 1001
	rpmTagRelease = 1002
	rpmTagEpoch   = 1003
	rpmTagArch    = 1022
	// rpmTagSourceRPM is the file name of the source package the binary
	// was built from, "openssl-3.0.7-27.el9.src.rpm".
	rpmTagSourceRPM = 1044

	rpmTypeInt32       = 4
	rpmTypeString      = 6
	rpmTypeStringArray = 8
	rpmTypeI18NString  = 9
)

// Limits rpm itself enforces on headers (hdrchkTags, hdrchkData), so that
// a damaged blob cannot make us allocate or loop without bound.
const (
	rpmMaxIndexEntries = 0x0000ffff
	rpmMaxDataSize     = 0x0fffffff
)

// rpmIndexEntrySize is the size of one index entry: tag, type, offset and
// count, each a big-endian int32.
const rpmIndexEntrySize = 16

// rpmPackage is what one header says about one installed package.
type rpmPackage struct {
	Name, Version, Release, Arch string
	SourceRPM                    string
	Epoch                        int32
	HasEpoch                     bool
}

// evr formats the version as rpm's %{EVR} does: [epoch:]version-release,
// with the epoch shown whenever the header carries one, even 0.
func (p rpmPackage) evr() string {
	v := p.Version + "-" + p.Release
	if p.HasEpoch {
		v = strconv.Itoa(int(p.Epoch)) + ":" + v
	}
	return v
}

var errRPMHeader = errors.New("malformed rpm header")

// parseRPMHeader decodes the tags we need from a header blob as rpm stores
// it in its databases (SQLite, NDB and BerkeleyDB alike): the 8-byte
// magic/reserved prefix of package files is absent, so the blob starts with
// the index entry count and data store size (big-endian uint32), followed
// by that many 16-byte index entries and then the data store. Bytes after
// the data store are ignored. NAME, VERSION and RELEASE are required.
func parseRPMHeader(blob []byte) (rpmPackage, error) {
	if len(blob) < 8 {
		return rpmPackage{}, fmt.Errorf("%w: %d bytes", errRPMHeader, len(blob))
	}
	il := binary.BigEndian.Uint32(blob[0:4])
	dl := binary.BigEndian.Uint32(blob[4:8])
	if il == 0 || il > rpmMaxIndexEntries || dl > rpmMaxDataSize {
		return rpmPackage{}, fmt.Errorf("%w: %d index entries, %d data bytes", errRPMHeader, il, dl)
	}
	indexEnd := 8 + uint64(il)*rpmIndexEntrySize
	if indexEnd+uint64(dl) > uint64(len(blob)) {
		return rpmPackage{}, fmt.Errorf("%w: %d index entries and %d data bytes do not fit in %d bytes", errRPMHeader, il, dl, len(blob))
	}
	index := blob[8:indexEnd]
	data := blob[indexEnd : indexEnd+uint64(dl)]

	var p rpmPackage
	var seen [6]bool // name, version, release, epoch, arch, sourcerpm
	for i := range il {
		e := index[i*rpmIndexEntrySize:]
		tag := binary.BigEndian.Uint32(e[0:4])
		typ := binary.BigEndian.Uint32(e[4:8])
		off := binary.BigEndian.Uint32(e[8:12])
		count := binary.BigEndian.Uint32(e[12:16])
		var slot int
		switch tag {
		case rpmTagName:
			slot = 0
		case rpmTagVersion:
			slot = 1
		case rpmTagRelease:
			slot = 2
		case rpmTagEpoch:
			slot = 3
		case rpmTagArch:
			slot = 4
		case rpmTagSourceRPM:
			slot = 5
		default:
			continue
		}
		if seen[slot] {
			continue // first entry wins, as in rpm's header lookup
		}
		if tag == rpmTagEpoch {
			if typ != rpmTypeInt32 || count < 1 || uint64(off)+4 > uint64(len(data)) {
				return rpmPackage{}, fmt.Errorf("%w: bad EPOCH entry", errRPMHeader)
			}
			p.Epoch = int32(binary.BigEndian.Uint32(data[off : off+4]))
			p.HasEpoch = true
			seen[slot] = true
			continue
		}
		if typ != rpmTypeString && typ != rpmTypeStringArray && typ != rpmTypeI18NString {
			return rpmPackage{}, fmt.Errorf("%w: tag %d has type %d, want a string", errRPMHeader, tag, typ)
		}
		s, err := rpmString(data, off)
		if err != nil {
			return rpmPackage{}, fmt.Errorf("%w: tag %d: %v", errRPMHeader, tag, err)
		}
		seen[slot] = true
		switch tag {
		case rpmTagName:
			p.Name = s
		case rpmTagVersion:
			p.Version = s
		case rpmTagRelease:
			p.Release = s
		case rpmTagArch:
			p.Arch = s
		case rpmTagSourceRPM:
			p.SourceRPM = s
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return rpmPackage{}, fmt.Errorf("%w: NAME, VERSION or RELEASE missing", errRPMHeader)
	}
	return p, nil
}

// rpmString returns the NUL-terminated string at off in the data store;
// for array types that is the first element.
func rpmString(data []byte, off uint32) (string, error) {
	if uint64(off) >= uint64(len(data)) {
		return "", fmt.Errorf("offset %d outside %d-byte data store", off, len(data))
	}
	end := bytes.IndexByte(data[off:], 0)
	if end < 0 {
		return "", fmt.Errorf("string at offset %d is not terminated", off)
	}
	return string(data[off : off+uint32(end)]), nil
}

// rpmPackagesFromBlobs decodes each header blob into a Package, skipping
// the gpg-pubkey pseudo-packages rpm uses to store imported signing keys
// (they are keys, not software, and have no architecture). A blob that
// fails to decode is reported in the returned error, the others are kept.
func rpmPackagesFromBlobs(blobs [][]byte) ([]Package, error) {
	var pkgs []Package
	var errs []error
	for i, blob := range blobs {
		p, err := parseRPMHeader(blob)
		if err != nil {
			errs = append(errs, fmt.Errorf("record %d: %w", i, err))
			continue
		}
		if p.Name == "gpg-pubkey" {
			continue
		}
		pkg := Package{Name: p.Name, Version: p.evr(), Arch: p.Arch, Source: SourceRPM}
		if name, vr, ok := splitSourceRPM(p.SourceRPM); ok {
			pkg.SourceName = name
			pkg.SourceVersion = vr
			if p.HasEpoch {
				pkg.SourceVersion = strconv.Itoa(int(p.Epoch)) + ":" + vr
			}
		}
		pkgs = append(pkgs, pkg)
	}
	return pkgs, errors.Join(errs...)
}

// splitSourceRPM reads a SOURCERPM file name, "NAME-VERSION-RELEASE.src.rpm"
// (".nosrc.rpm" for packages built without their sources), into the name
// and "VERSION-RELEASE". The name may contain hyphens; version and release
// may not. The source package's epoch is not in the file name; it is the
// binary's, as rpmbuild gives every subpackage the spec's epoch.
func splitSourceRPM(file string) (name, versionRelease string, ok bool) {
	base, found := strings.CutSuffix(file, ".src.rpm")
	if !found {
		if base, found = strings.CutSuffix(file, ".nosrc.rpm"); !found {
			return "", "", false
		}
	}
	r := strings.LastIndexByte(base, '-')
	if r <= 0 {
		return "", "", false
	}
	v := strings.LastIndexByte(base[:r], '-')
	if v <= 0 || r == len(base)-1 || v == r-1 {
		return "", "", false
	}
	return base[:v], base[v+1:], true
}
