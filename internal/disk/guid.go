package disk

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// guid is a GUID in its textual byte order (the order of the hex digits in
// "0FC63DAF-8483-4772-8E79-3D69D8477DE4"). On disk GPT stores the first three
// fields little-endian; toDisk and guidFromDisk convert.
type guid [16]byte

// linuxFilesystemType is the GPT partition type "Linux filesystem data".
var linuxFilesystemType = mustParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")

// linuxRootTypes are the Discoverable Partitions root types some images use
// for their root instead of the generic Linux filesystem type.
var linuxRootTypes = []guid{
	mustParseGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"), // x86-64 root
	mustParseGUID("B921B045-1DF0-41C3-AF44-4C6F280D3FAE"), // arm64 root
	mustParseGUID("44479540-F297-41B2-9AF7-D131D5F0458A"), // x86 root
}

func newGUID() (guid, error) {
	var g guid
	if _, err := rand.Read(g[:]); err != nil {
		return g, err
	}
	g[6] = g[6]&0x0f | 0x40 // version 4
	g[8] = g[8]&0x3f | 0x80 // RFC 4122 variant
	return g, nil
}

func parseGUID(s string) (guid, error) {
	var g guid
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("malformed GUID %q", s)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return g, fmt.Errorf("malformed GUID %q", s)
	}
	copy(g[:], b)
	return g, nil
}

func mustParseGUID(s string) guid {
	g, err := parseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String formats upper-case, as the UEFI specification and sfdisk print type GUIDs.
func (g guid) String() string {
	h := strings.ToUpper(hex.EncodeToString(g[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (g guid) isZero() bool { return g == guid{} }

// toDisk returns the mixed-endian on-disk form.
func (g guid) toDisk() [16]byte {
	var d [16]byte
	d[0], d[1], d[2], d[3] = g[3], g[2], g[1], g[0]
	d[4], d[5] = g[5], g[4]
	d[6], d[7] = g[7], g[6]
	copy(d[8:], g[8:])
	return d
}

func guidFromDisk(b []byte) guid {
	var g guid
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:], b[8:16])
	return g
}
