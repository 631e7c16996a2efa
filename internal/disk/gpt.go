package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// GPT layout constants (UEFI specification, chapter 5). kiln writes 512-byte
// sectors and the customary 128 entries of 128 bytes, which fill 32 sectors.
const (
	sectorSize      = 512
	gptHeaderSize   = 92
	gptEntrySize    = 128
	gptEntryCount   = 128
	gptEntrySectors = gptEntryCount * gptEntrySize / sectorSize // 32
	gptRevision     = 0x00010000
	gptSignature    = "EFI PART"
	// gptMaxEntryArray bounds what a reader allocates for a foreign entry array,
	// so a corrupt or hostile header cannot ask for gigabytes.
	gptMaxEntryArray = 1 << 20
)

// Partition is one entry of a disk's partition table.
type Partition struct {
	Number int    // 1-based index in the table (GPT entry index + 1, or MBR slot)
	Type   string // GPT type GUID in upper case, or "0x83"-style MBR type; "" for a bare filesystem
	UUID   string // GPT unique partition GUID in lower case (what root=PARTUUID= matches); "" for MBR
	Offset int64  // bytes from the start of the disk
	Size   int64  // bytes
	Name   string // GPT partition name
	// Attributes are the GPT entry's attribute bits (bit 2: legacy BIOS bootable).
	Attributes uint64
}

// gptPartition is what writeGPT is asked to record.
type gptPartition struct {
	typ, id    guid
	first, end int64 // LBAs, end inclusive
	name       string
	// num is the 1-based entry number; 0 places the partition at its index in
	// the list. Cloud images number their boot partitions 14 and 15.
	num   int
	attrs uint64
}

// writeGPT writes a protective MBR, the primary header and entry array at the start of
// the disk and the backup entry array and header at its end. sectors is the disk's
// size in 512-byte sectors. It writes nothing in between, so it may run before or after
// the partitions' contents are written.
func writeGPT(w io.WriterAt, sectors int64, disk guid, parts []gptPartition) error {
	if len(parts) > gptEntryCount {
		return fmt.Errorf("too many partitions: %d", len(parts))
	}
	firstUsable := int64(2 + gptEntrySectors)
	lastUsable := sectors - 2 - gptEntrySectors
	if lastUsable < firstUsable {
		return fmt.Errorf("disk of %d sectors is too small for a GPT", sectors)
	}
	entries := make([]byte, gptEntryCount*gptEntrySize)
	for i, p := range parts {
		if p.first < firstUsable || p.end > lastUsable || p.first > p.end {
			return fmt.Errorf("partition %d (LBA %d-%d) is outside the usable LBAs %d-%d", i+1, p.first, p.end, firstUsable, lastUsable)
		}
		n := i
		if p.num > 0 {
			n = p.num - 1
		}
		if n >= gptEntryCount {
			return fmt.Errorf("partition number %d: a GPT has %d entries", n+1, gptEntryCount)
		}
		e := entries[n*gptEntrySize : (n+1)*gptEntrySize]
		if !guidFromDisk(e[0:16]).isZero() {
			return fmt.Errorf("partition number %d given twice", n+1)
		}
		t, id := p.typ.toDisk(), p.id.toDisk()
		copy(e[0:16], t[:])
		copy(e[16:32], id[:])
		binary.LittleEndian.PutUint64(e[32:], uint64(p.first))
		binary.LittleEndian.PutUint64(e[40:], uint64(p.end))
		binary.LittleEndian.PutUint64(e[48:], p.attrs)
		name := utf16.Encode([]rune(p.name))
		if len(name) > 36 {
			return fmt.Errorf("partition name %q is longer than 36 UTF-16 units", p.name)
		}
		for j, u := range name {
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	entriesCRC := crc32.ChecksumIEEE(entries)

	header := func(my, alternate, entryLBA int64) []byte {
		h := make([]byte, sectorSize)
		copy(h[0:8], gptSignature)
		binary.LittleEndian.PutUint32(h[8:], gptRevision)
		binary.LittleEndian.PutUint32(h[12:], gptHeaderSize)
		binary.LittleEndian.PutUint64(h[24:], uint64(my))
		binary.LittleEndian.PutUint64(h[32:], uint64(alternate))
		binary.LittleEndian.PutUint64(h[40:], uint64(firstUsable))
		binary.LittleEndian.PutUint64(h[48:], uint64(lastUsable))
		d := disk.toDisk()
		copy(h[56:72], d[:])
		binary.LittleEndian.PutUint64(h[72:], uint64(entryLBA))
		binary.LittleEndian.PutUint32(h[80:], gptEntryCount)
		binary.LittleEndian.PutUint32(h[84:], gptEntrySize)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:gptHeaderSize]))
		return h
	}

	// Protective MBR: one partition of type 0xEE covering the disk (capped at 2^32-1
	// sectors), so MBR-only tools see the disk as in use.
	mbr := make([]byte, sectorSize)
	pe := mbr[446:462]
	pe[1], pe[2], pe[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	pe[4] = 0xEE
	pe[5], pe[6], pe[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(pe[8:], 1)
	binary.LittleEndian.PutUint32(pe[12:], uint32(min(sectors-1, 0xFFFFFFFF)))
	mbr[510], mbr[511] = 0x55, 0xAA

	last := sectors - 1
	writes := []struct {
		lba  int64
		data []byte
	}{
		{0, mbr},
		{1, header(1, last, 2)},
		{2, entries},
		{last - gptEntrySectors, entries},
		{last, header(last, 1, last-gptEntrySectors)},
	}
	for _, wr := range writes {
		if _, err := w.WriteAt(wr.data, wr.lba*sectorSize); err != nil {
			return fmt.Errorf("writing GPT: %w", err)
		}
	}
	return nil
}

// errNoGPT says a disk has no valid GPT header at either end.
var errNoGPT = errors.New("no GPT")

// ReadPartitions lists the partitions of a disk image of size bytes. It reads a GPT
// (primary header, else the backup at the disk's end; 512- or 4096-byte sectors), else
// an MBR's four primary slots. A disk with neither — an unpartitioned filesystem image —
// is reported as one partition covering the whole disk with an empty Type. Partitions
// never extend past size: entries that would are an error, not silently clipped.
func ReadPartitions(r io.ReaderAt, size int64) ([]Partition, error) {
	if size < 0 {
		return nil, fmt.Errorf("negative disk size %d", size)
	}
	var gptErr error
	for _, ss := range []int64{512, 4096} {
		parts, err := readGPT(r, size, ss)
		if err == nil {
			return parts, nil
		}
		if !errors.Is(err, errNoGPT) {
			gptErr = err
		}
	}
	if gptErr != nil {
		return nil, gptErr
	}
	parts, err := readMBR(r, size)
	if err != nil || parts != nil {
		return parts, err
	}
	return []Partition{{Number: 1, Offset: 0, Size: size}}, nil
}

// readGPT tries the primary header at LBA 1 and then the backup at the last LBA.
// It returns errNoGPT (wrapped) when neither carries the signature, and a plain error
// when a header claims to be GPT but is inconsistent.
func readGPT(r io.ReaderAt, size, ss int64) ([]Partition, error) {
	lbas := size / ss
	if lbas < 3 {
		return nil, errNoGPT
	}
	var firstErr error
	for _, lba := range []int64{1, lbas - 1} {
		parts, err := readGPTAt(r, size, ss, lba)
		if err == nil {
			return parts, nil
		}
		if firstErr == nil || errors.Is(firstErr, errNoGPT) {
			firstErr = err
		}
	}
	return nil, firstErr
}

func readGPTAt(r io.ReaderAt, size, ss, lba int64) ([]Partition, error) {
	h := make([]byte, ss)
	if _, err := r.ReadAt(h, lba*ss); err != nil {
		return nil, fmt.Errorf("%w: reading LBA %d: %v", errNoGPT, lba, err)
	}
	if string(h[0:8]) != gptSignature {
		return nil, errNoGPT
	}
	hsize := binary.LittleEndian.Uint32(h[12:])
	if hsize < gptHeaderSize || int64(hsize) > ss {
		return nil, fmt.Errorf("GPT header at LBA %d: bad header size %d", lba, hsize)
	}
	want := binary.LittleEndian.Uint32(h[16:])
	hc := bytes.Clone(h[:hsize])
	binary.LittleEndian.PutUint32(hc[16:], 0)
	if got := crc32.ChecksumIEEE(hc); got != want {
		return nil, fmt.Errorf("GPT header at LBA %d: CRC32 %08x, header says %08x", lba, got, want)
	}
	if my := int64(binary.LittleEndian.Uint64(h[24:])); my != lba {
		return nil, fmt.Errorf("GPT header at LBA %d says it is at LBA %d", lba, my)
	}
	lbas := size / ss
	firstUsable := binary.LittleEndian.Uint64(h[40:])
	lastUsable := binary.LittleEndian.Uint64(h[48:])
	entryLBA := binary.LittleEndian.Uint64(h[72:])
	count := binary.LittleEndian.Uint32(h[80:])
	esize := binary.LittleEndian.Uint32(h[84:])
	if esize < gptEntrySize || esize%gptEntrySize != 0 || esize > 4096 {
		return nil, fmt.Errorf("GPT header at LBA %d: bad entry size %d", lba, esize)
	}
	arr := uint64(count) * uint64(esize)
	if arr > gptMaxEntryArray {
		return nil, fmt.Errorf("GPT header at LBA %d: entry array of %d bytes is implausibly large", lba, arr)
	}
	if entryLBA >= uint64(lbas) || arr > uint64(size)-entryLBA*uint64(ss) {
		return nil, fmt.Errorf("GPT header at LBA %d: entry array at LBA %d lies outside the disk", lba, entryLBA)
	}
	entries := make([]byte, arr)
	if _, err := r.ReadAt(entries, int64(entryLBA)*ss); err != nil {
		return nil, fmt.Errorf("GPT header at LBA %d: reading entries: %w", lba, err)
	}
	if got, want := crc32.ChecksumIEEE(entries), binary.LittleEndian.Uint32(h[88:]); got != want {
		return nil, fmt.Errorf("GPT header at LBA %d: entry array CRC32 %08x, header says %08x", lba, got, want)
	}
	if firstUsable > lastUsable || lastUsable >= uint64(lbas) {
		return nil, fmt.Errorf("GPT header at LBA %d: usable LBAs %d-%d do not fit a disk of %d LBAs", lba, firstUsable, lastUsable, lbas)
	}
	parts := []Partition{}
	for i := range count {
		e := entries[uint64(i)*uint64(esize):][:gptEntrySize]
		typ := guidFromDisk(e[0:16])
		if typ.isZero() {
			continue
		}
		first := binary.LittleEndian.Uint64(e[32:])
		end := binary.LittleEndian.Uint64(e[40:])
		if first > end || first < firstUsable || end > lastUsable {
			return nil, fmt.Errorf("GPT partition %d: LBAs %d-%d outside the usable %d-%d", i+1, first, end, firstUsable, lastUsable)
		}
		u := make([]uint16, 0, 36)
		for j := 56; j+1 < gptEntrySize; j += 2 {
			c := binary.LittleEndian.Uint16(e[j:])
			if c == 0 {
				break
			}
			u = append(u, c)
		}
		id := guidFromDisk(e[16:32])
		parts = append(parts, Partition{
			Number: int(i) + 1,
			Type:   typ.String(),
			UUID:   strings.ToLower(id.String()),
			Offset: int64(first) * ss,
			Size:   int64(end-first+1) * ss,
			Name:   string(utf16.Decode(u)),

			Attributes: binary.LittleEndian.Uint64(e[48:]),
		})
	}
	return parts, nil
}

// readMBR reads the four primary entries of a classic MBR. It returns nil, nil when
// sector 0 is not an MBR, or when the disk is a bare ext2/3/4 filesystem (whose boot
// sector may happen to end in 55 AA).
func readMBR(r io.ReaderAt, size int64) ([]Partition, error) {
	if size < 2048 {
		return nil, nil
	}
	b := make([]byte, 2048)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, nil
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, nil
	}
	if binary.LittleEndian.Uint16(b[1024+56:]) == 0xEF53 { // ext superblock magic
		return nil, nil
	}
	var parts []Partition
	for i := range 4 {
		e := b[446+16*i : 446+16*(i+1)]
		if e[0] != 0 && e[0] != 0x80 {
			return nil, nil // not a partition table (a FAT boot sector, say)
		}
		typ := e[4]
		start := int64(binary.LittleEndian.Uint32(e[8:]))
		count := int64(binary.LittleEndian.Uint32(e[12:]))
		if typ == 0 || count == 0 {
			continue
		}
		if typ == 0xEE {
			return nil, fmt.Errorf("protective MBR but no valid GPT")
		}
		if start == 0 || (start+count)*sectorSize > size {
			return nil, fmt.Errorf("MBR partition %d: sectors %d+%d outside a disk of %d bytes", i+1, start, count, size)
		}
		parts = append(parts, Partition{
			Number: i + 1,
			Type:   fmt.Sprintf("0x%02x", typ),
			Offset: start * sectorSize,
			Size:   count * sectorSize,
		})
	}
	return parts, nil
}
