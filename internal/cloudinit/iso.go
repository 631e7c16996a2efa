package cloudinit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// The seed is an ISO 9660 volume with Rock Ridge names, as cloud-localds
// and genisoimage -r make it, written here so kiln needs no tool for it.
// ISO 9660 rather than FAT because a guest kernel mounts it with one
// module (isofs) and Rock Ridge keeps the lower-case, hyphenated names
// cloud-init looks for ("meta-data") without Joliet's character-set
// tables. Its layout is fixed and small:
//
//	sectors 0-15   system area (zeros)
//	sector  16     primary volume descriptor
//	sector  17     volume descriptor set terminator
//	sector  18, 19 path tables (little- and big-endian; one entry, the root)
//	sector  20     root directory ("." carries the SUSP SP and RRIP ER entries)
//	sector  21...  file contents, each from a sector boundary
const (
	sectorSize   = 2048
	pvdSector    = 16
	lPathSector  = 18
	mPathSector  = 19
	rootSector   = 20
	firstFileSec = 21
	// minSectors is the smallest volume written (128 KiB).
	minSectors = 64
	// maxSeedFile bounds each file: a seed holds a few kilobytes, and the
	// reader must not allocate what a hostile image claims.
	maxSeedFile = 1 << 20
)

// File is one file of a seed volume.
type File struct {
	Name string
	Data []byte
}

// WriteISO writes an ISO 9660 volume labelled label holding files in its
// root directory. Names are kept as given through Rock Ridge NM entries;
// they must be unique, non-empty and free of '/' and NUL.
func WriteISO(w io.Writer, label string, files []File, now time.Time) error {
	if len(label) == 0 || len(label) > 32 {
		return fmt.Errorf("cloudinit: volume label %q: want 1 to 32 characters", label)
	}
	files = slicesClone(files)
	sort.Slice(files, func(i, j int) bool { return isoName(files[i].Name) < isoName(files[j].Name) })
	seen := map[string]bool{}
	for _, f := range files {
		if f.Name == "" || len(f.Name) > 200 || strings.ContainsAny(f.Name, "/\x00") || f.Name == "." || f.Name == ".." {
			return fmt.Errorf("cloudinit: file name %q is not a plain file name", f.Name)
		}
		if seen[isoName(f.Name)] {
			return fmt.Errorf("cloudinit: two files map to the ISO name %q", isoName(f.Name))
		}
		seen[isoName(f.Name)] = true
		if len(f.Data) > maxSeedFile {
			return fmt.Errorf("cloudinit: file %s is %d bytes; a seed file holds at most %d", f.Name, len(f.Data), maxSeedFile)
		}
	}
	// Where each file starts.
	extents := make([]uint32, len(files))
	next := uint32(firstFileSec)
	for i, f := range files {
		extents[i] = next
		next += uint32((len(f.Data) + sectorSize - 1) / sectorSize)
	}
	// Probers that read a fixed window from the start (busybox's
	// volume_id, used by findfs in small initramfs images, reads 68 KiB)
	// miss a volume shorter than that: pad to minSectors.
	total := max(next, minSectors)

	root := new(bytes.Buffer)
	dot := dirRecord(rootSector, sectorSize, true, []byte{0}, now, rootSUSP())
	root.Write(dot)
	root.Write(dirRecord(rootSector, sectorSize, true, []byte{1}, now, px(0o40555, 2)))
	for i, f := range files {
		rec := dirRecord(extents[i], uint32(len(f.Data)), false, []byte(isoName(f.Name)+";1"), now, append(px(0o100444, 1), nm(f.Name)...))
		root.Write(rec)
	}
	if root.Len() > sectorSize {
		return errors.New("cloudinit: too many or too long file names for a one-sector root directory")
	}

	img := make([]byte, int(firstFileSec)*sectorSize)
	copy(img[pvdSector*sectorSize:], primaryDescriptor(label, total, now))
	term := img[(pvdSector+1)*sectorSize:]
	term[0] = 255
	copy(term[1:6], "CD001")
	term[6] = 1
	// The path tables: the root only (directory number 1, its own parent).
	pt := img[lPathSector*sectorSize:]
	pt[0] = 1
	binary.LittleEndian.PutUint32(pt[2:], rootSector)
	binary.LittleEndian.PutUint16(pt[6:], 1)
	pt = img[mPathSector*sectorSize:]
	pt[0] = 1
	binary.BigEndian.PutUint32(pt[2:], rootSector)
	binary.BigEndian.PutUint16(pt[6:], 1)
	copy(img[rootSector*sectorSize:], root.Bytes())
	if _, err := w.Write(img); err != nil {
		return err
	}
	for _, f := range files {
		pad := (sectorSize - len(f.Data)%sectorSize) % sectorSize
		if _, err := w.Write(f.Data); err != nil {
			return err
		}
		if _, err := w.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	if next < total {
		if _, err := w.Write(make([]byte, int(total-next)*sectorSize)); err != nil {
			return err
		}
	}
	return nil
}

func slicesClone(f []File) []File { return append([]File(nil), f...) }

// isoName is a file's plain ISO 9660 identifier (without ";1"): upper
// case d-characters, everything else an underscore. Readers without Rock
// Ridge see these; cloud-init's guests see the NM names.
func isoName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() == 30 {
			break
		}
	}
	return b.String() + "."
}

// primaryDescriptor is the primary volume descriptor (ECMA-119 8.4).
func primaryDescriptor(label string, sectors uint32, now time.Time) []byte {
	d := make([]byte, sectorSize)
	d[0] = 1
	copy(d[1:6], "CD001")
	d[6] = 1
	pad(d[8:40], "LINUX")
	pad(d[40:72], label)
	both32(d[80:], sectors)
	both16(d[120:], 1) // volume set size
	both16(d[124:], 1) // volume sequence number
	both16(d[128:], sectorSize)
	both32(d[132:], 10) // path table size: one 10-byte entry
	binary.LittleEndian.PutUint32(d[140:], lPathSector)
	binary.BigEndian.PutUint32(d[148:], mPathSector)
	copy(d[156:190], dirRecord(rootSector, sectorSize, true, []byte{0}, now, nil))
	for _, f := range [][2]int{{190, 318}, {318, 446}, {446, 574}, {574, 702}, {702, 739}, {739, 776}, {776, 813}} {
		pad(d[f[0]:f[1]], "")
	}
	pad(d[574:702], "KILN")
	stamp := []byte(now.UTC().Format("20060102150405") + "00\x00")
	copy(d[813:], stamp) // creation
	copy(d[830:], stamp) // modification
	copy(d[847:], "0000000000000000\x00")
	copy(d[864:], "0000000000000000\x00")
	d[881] = 1 // file structure version
	return d
}

// dirRecord is one directory record (ECMA-119 9.1) with its system use
// area (Rock Ridge entries).
func dirRecord(extent, size uint32, dir bool, id []byte, now time.Time, sysUse []byte) []byte {
	n := 33 + len(id)
	if n%2 == 1 {
		n++
	}
	r := make([]byte, n, n+len(sysUse)+1)
	r = append(r, sysUse...)
	if len(r)%2 == 1 {
		r = append(r, 0)
	}
	r[0] = byte(len(r))
	both32(r[2:], extent)
	both32(r[10:], size)
	t := now.UTC()
	r[18], r[19], r[20] = byte(t.Year()-1900), byte(t.Month()), byte(t.Day())
	r[21], r[22], r[23] = byte(t.Hour()), byte(t.Minute()), byte(t.Second())
	if dir {
		r[25] = 2
	}
	both16(r[28:], 1)
	r[32] = byte(len(id))
	copy(r[33:], id)
	return r
}

// rootSUSP is the system use area of the root's "." record: SUSP's SP
// entry (system use is in use, no bytes skipped), a PX entry, and the ER
// entry naming the Rock Ridge extension, which is what tells Linux's
// isofs to read NM names.
func rootSUSP() []byte {
	sp := []byte{'S', 'P', 7, 1, 0xBE, 0xEF, 0}
	id, des, src := "RRIP_1991A", "THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS", "PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE"
	er := []byte{'E', 'R', byte(8 + len(id) + len(des) + len(src)), 1, byte(len(id)), byte(len(des)), byte(len(src)), 1}
	er = append(er, id...)
	er = append(er, des...)
	er = append(er, src...)
	out := append(sp, px(0o40555, 2)...)
	return append(out, er...)
}

// px is a Rock Ridge PX entry (RRIP 1.10: mode, links, uid, gid).
func px(mode, links uint32) []byte {
	e := make([]byte, 36)
	e[0], e[1], e[2], e[3] = 'P', 'X', 36, 1
	both32(e[4:], mode)
	both32(e[12:], links)
	return e
}

// nm is a Rock Ridge NM entry holding a file's real name.
func nm(name string) []byte {
	return append([]byte{'N', 'M', byte(5 + len(name)), 1, 0}, name...)
}

func both16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

func pad(b []byte, s string) {
	for i := range b {
		b[i] = ' '
	}
	copy(b, s)
}

// ReadISO reads back a volume WriteISO wrote (or any single-directory ISO
// 9660 volume): its label and its root directory's files, by Rock Ridge
// name when there is one. It checks every offset against the volume's
// size, so a damaged or hostile image fails with an error.
func ReadISO(r io.ReaderAt, size int64) (label string, files []File, err error) {
	sector := func(n uint32) ([]byte, error) {
		off := int64(n) * sectorSize
		if off+sectorSize > size {
			return nil, fmt.Errorf("cloudinit: sector %d is past the end of the volume", n)
		}
		b := make([]byte, sectorSize)
		if _, err := r.ReadAt(b, off); err != nil {
			return nil, err
		}
		return b, nil
	}
	pvd, err := sector(pvdSector)
	if err != nil {
		return "", nil, err
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return "", nil, errors.New("cloudinit: no ISO 9660 primary volume descriptor at sector 16")
	}
	label = strings.TrimRight(string(pvd[40:72]), " ")
	rootRec := pvd[156:190]
	rootExtent := binary.LittleEndian.Uint32(rootRec[2:])
	rootSize := binary.LittleEndian.Uint32(rootRec[10:])
	if rootSize == 0 || rootSize > 64*sectorSize {
		return "", nil, fmt.Errorf("cloudinit: root directory size %d is out of range", rootSize)
	}
	var dir []byte
	for s := uint32(0); s < (rootSize+sectorSize-1)/sectorSize; s++ {
		b, err := sector(rootExtent + s)
		if err != nil {
			return "", nil, err
		}
		dir = append(dir, b...)
	}
	dir = dir[:rootSize]
	for off := 0; off < len(dir); {
		n := int(dir[off])
		if n == 0 { // records do not cross sectors: skip to the next one
			off = (off/sectorSize + 1) * sectorSize
			continue
		}
		if n < 34 || off+n > len(dir) {
			return "", nil, fmt.Errorf("cloudinit: directory record at %d has length %d", off, n)
		}
		rec := dir[off : off+n]
		off += n
		idLen := int(rec[32])
		if 33+idLen > n {
			return "", nil, fmt.Errorf("cloudinit: directory record identifier overruns its record")
		}
		id := rec[33 : 33+idLen]
		if rec[25]&2 != 0 { // a directory ("." and ".." included)
			continue
		}
		name := strings.TrimSuffix(strings.ToLower(string(id)), ";1")
		name = strings.TrimSuffix(name, ".")
		sysUse := rec[min(33+idLen+(1-idLen%2), n):]
		if rr, ok := rockRidgeName(sysUse); ok {
			name = rr
		}
		extent := binary.LittleEndian.Uint32(rec[2:])
		length := binary.LittleEndian.Uint32(rec[10:])
		if length > maxSeedFile {
			return "", nil, fmt.Errorf("cloudinit: file %q is %d bytes, more than a seed holds", name, length)
		}
		if int64(extent)*sectorSize+int64(length) > size {
			return "", nil, fmt.Errorf("cloudinit: file %q runs past the end of the volume", name)
		}
		data := make([]byte, length)
		if _, err := r.ReadAt(data, int64(extent)*sectorSize); err != nil {
			return "", nil, err
		}
		files = append(files, File{Name: name, Data: data})
	}
	return label, files, nil
}

// rockRidgeName returns the name in a system use area's NM entries.
func rockRidgeName(b []byte) (string, bool) {
	var name []byte
	found := false
	for len(b) >= 4 {
		n := int(b[2])
		if n < 4 || n > len(b) {
			break
		}
		if b[0] == 'N' && b[1] == 'M' && n >= 5 {
			name = append(name, b[5:n]...)
			found = true
		}
		b = b[n:]
	}
	return string(name), found
}
