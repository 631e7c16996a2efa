package vulndb

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Zip format constants (PKWARE APPNOTE.TXT §4.3).
const (
	zipLocalHeaderSig = 0x04034b50
	zipCentralSig     = 0x02014b50
	zipEOCDSig        = 0x06054b50
	zip64EOCDSig      = 0x06064b50
	zip64LocatorSig   = 0x07064b50
	zip64ExtraID      = 0x0001

	zipLocalHeaderLen = 30
	zipCentralLen     = 46
	zipEOCDLen        = 22
	zip64LocatorLen   = 20
	zip64EOCDLen      = 56
	zipMaxComment     = 0xffff
)

var errZip = errors.New("not a readable zip archive")

// zipEntry is what the central directory says about one entry.
type zipEntry struct {
	name        string
	method      uint16
	flags       uint16
	crc         uint32
	csize       uint64
	usize       uint64
	localOffset uint64
}

func (e zipEntry) isDir() bool { return len(e.name) > 0 && e.name[len(e.name)-1] == '/' }

// walkZip calls fn with each entry of the zip archive in r (size bytes),
// in directory order. Unlike archive/zip, which reads the whole central
// directory into memory first (half a kilobyte per entry: 150 MiB for an
// archive of 300,000 records), it reads the directory one entry at a
// time, so walking an archive takes the same memory whatever its length.
// Stored and deflated entries are supported, as OSV's archives and every
// common zip tool write them; zip64 archives (more than 65,535 entries)
// too.
func walkZip(r io.ReaderAt, size int64, fn func(e zipEntry) error) error {
	dirOffset, dirSize, entries, err := zipDirectory(r, size)
	if err != nil {
		return err
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, dirOffset, dirSize), 64<<10)
	var fixed [zipCentralLen]byte
	for n := uint64(0); n < entries; n++ {
		if _, err := io.ReadFull(br, fixed[:]); err != nil {
			return fmt.Errorf("%w: central directory entry %d: %v", errZip, n, err)
		}
		le := binary.LittleEndian
		if le.Uint32(fixed[0:]) != zipCentralSig {
			return fmt.Errorf("%w: central directory entry %d has a bad signature", errZip, n)
		}
		e := zipEntry{
			flags:       le.Uint16(fixed[8:]),
			method:      le.Uint16(fixed[10:]),
			crc:         le.Uint32(fixed[16:]),
			csize:       uint64(le.Uint32(fixed[20:])),
			usize:       uint64(le.Uint32(fixed[24:])),
			localOffset: uint64(le.Uint32(fixed[42:])),
		}
		nameLen, extraLen, commentLen := int(le.Uint16(fixed[28:])), int(le.Uint16(fixed[30:])), int(le.Uint16(fixed[32:]))
		rest := make([]byte, nameLen+extraLen+commentLen)
		if _, err := io.ReadFull(br, rest); err != nil {
			return fmt.Errorf("%w: central directory entry %d: %v", errZip, n, err)
		}
		e.name = string(rest[:nameLen])
		if err := e.readZip64Extra(rest[nameLen : nameLen+extraLen]); err != nil {
			return fmt.Errorf("%w: %s: %v", errZip, e.name, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// readZip64Extra replaces the 32-bit sizes and offset that are 0xffffffff
// with their 64-bit values from the zip64 extra field, which holds, in
// this order, those of them that overflowed.
func (e *zipEntry) readZip64Extra(extra []byte) error {
	le := binary.LittleEndian
	for len(extra) >= 4 {
		id, n := le.Uint16(extra), int(le.Uint16(extra[2:]))
		extra = extra[4:]
		if n > len(extra) {
			return errors.New("extra field overruns its entry")
		}
		field := extra[:n]
		extra = extra[n:]
		if id != zip64ExtraID {
			continue
		}
		for _, v := range []*uint64{&e.usize, &e.csize, &e.localOffset} {
			if *v != 0xffffffff {
				continue
			}
			if len(field) < 8 {
				return errors.New("zip64 extra field too short")
			}
			*v = le.Uint64(field)
			field = field[8:]
		}
	}
	return nil
}

// zipDirectory finds the central directory from the end of the archive:
// the end of central directory record, and its zip64 counterpart when the
// counts or offsets overflowed 16 or 32 bits.
func zipDirectory(r io.ReaderAt, size int64) (offset, length int64, entries uint64, err error) {
	tail := int64(zipEOCDLen + zipMaxComment)
	if tail > size {
		tail = size
	}
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && !errors.Is(err, io.EOF) {
		return 0, 0, 0, err
	}
	le := binary.LittleEndian
	i := len(buf) - zipEOCDLen
	for ; i >= 0; i-- {
		if le.Uint32(buf[i:]) == zipEOCDSig && i+zipEOCDLen+int(le.Uint16(buf[i+20:])) <= len(buf) {
			break
		}
	}
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("%w: no end of central directory record", errZip)
	}
	eocd := buf[i:]
	entries = uint64(le.Uint16(eocd[10:]))
	length = int64(le.Uint32(eocd[12:]))
	offset = int64(le.Uint32(eocd[16:]))
	if entries == 0xffff || length == 0xffffffff || offset == 0xffffffff {
		eocdAt := size - tail + int64(i)
		var loc [zip64LocatorLen]byte
		if eocdAt < zip64LocatorLen {
			return 0, 0, 0, fmt.Errorf("%w: no zip64 locator", errZip)
		}
		if _, err := r.ReadAt(loc[:], eocdAt-zip64LocatorLen); err != nil {
			return 0, 0, 0, fmt.Errorf("%w: zip64 locator: %v", errZip, err)
		}
		if le.Uint32(loc[0:]) == zip64LocatorSig {
			at := le.Uint64(loc[8:])
			var rec [zip64EOCDLen]byte
			if at > uint64(size) {
				return 0, 0, 0, fmt.Errorf("%w: zip64 record outside the archive", errZip)
			}
			if _, err := r.ReadAt(rec[:], int64(at)); err != nil || le.Uint32(rec[0:]) != zip64EOCDSig {
				return 0, 0, 0, fmt.Errorf("%w: bad zip64 end of central directory record", errZip)
			}
			entries = le.Uint64(rec[32:])
			length = int64(le.Uint64(rec[40:]))
			offset = int64(le.Uint64(rec[48:]))
		}
	}
	if offset < 0 || length < 0 || offset > size || length > size-offset {
		return 0, 0, 0, fmt.Errorf("%w: central directory outside the archive", errZip)
	}
	// Every entry takes at least a fixed header in the directory.
	if entries > uint64(length)/zipCentralLen {
		return 0, 0, 0, fmt.Errorf("%w: %d entries do not fit a %d-byte directory", errZip, entries, length)
	}
	return offset, length, entries, nil
}

// zipEntryReader reads entries' contents, reusing one decompressor: a
// new flate reader allocates tens of kilobytes, per entry of an archive
// of hundreds of thousands.
type zipEntryReader struct {
	r    io.ReaderAt
	size int64
	fr   io.ReadCloser // a flate reader, once one was needed
}

// read reads one entry's content, at most limit bytes of it (an error
// beyond), checking its size and CRC-32.
func (z *zipEntryReader) read(e zipEntry, limit int64) ([]byte, error) {
	if e.flags&0x1 != 0 {
		return nil, errors.New("the entry is encrypted")
	}
	if e.localOffset > uint64(z.size) {
		return nil, errors.New("the entry lies outside the archive")
	}
	var lh [zipLocalHeaderLen]byte
	if _, err := z.r.ReadAt(lh[:], int64(e.localOffset)); err != nil {
		return nil, fmt.Errorf("local header: %v", err)
	}
	le := binary.LittleEndian
	if le.Uint32(lh[0:]) != zipLocalHeaderSig {
		return nil, errors.New("bad local header signature")
	}
	data := int64(e.localOffset) + zipLocalHeaderLen + int64(le.Uint16(lh[26:])) + int64(le.Uint16(lh[28:]))
	if e.csize > uint64(z.size) || data > z.size-int64(e.csize) {
		return nil, errors.New("the entry's data lies outside the archive")
	}
	var content io.Reader = io.NewSectionReader(z.r, data, int64(e.csize))
	switch e.method {
	case 0: // stored
	case 8: // deflated
		if z.fr == nil {
			z.fr = flate.NewReader(content)
		} else if err := z.fr.(flate.Resetter).Reset(content, nil); err != nil {
			return nil, err
		}
		content = z.fr
	default:
		return nil, fmt.Errorf("compression method %d is not supported (stored and deflated are)", e.method)
	}
	// bytes.Buffer.ReadFrom reads into the buffer itself; io.Copy through
	// a MultiWriter would allocate a 32 KiB copy buffer per entry.
	buf := bytes.NewBuffer(make([]byte, 0, min(e.usize, uint64(limit))+bytes.MinRead))
	h := crc32.NewIEEE()
	n, err := buf.ReadFrom(io.TeeReader(io.LimitReader(content, limit+1), h))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, fmt.Errorf("record is larger than %d bytes", limit)
	}
	if uint64(n) != e.usize || h.Sum32() != e.crc {
		return nil, errors.New("the entry's content does not match its size and checksum")
	}
	return buf.Bytes(), nil
}
