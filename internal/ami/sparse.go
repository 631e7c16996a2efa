package ami

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Disks are sparse: an 8 GiB root volume holds a few hundred MiB of data
// and holes for the rest. Uploading one as it reads would send gigabytes
// of zeros to the bucket and back, so the bucket holds a disk as its data
// extents only:
//
//	"kiln-sparse-disk v1\n"
//	size            uint64, big-endian: the disk's length
//	then, until EOF, in increasing offset order:
//	offset, length  uint64 each, big-endian
//	length bytes    the disk's content at offset
//
// Everything between extents reads as zeros. SEEK_DATA and SEEK_HOLE
// find the extents without reading the holes.

const sparseMagic = "kiln-sparse-disk v1\n"

// Linux's lseek whences for sparse files.
const (
	seekData = 3
	seekHole = 4
)

// encodeSparse writes f's data extents to w in the format above.
func encodeSparse(w io.Writer, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(sparseMagic)
	binary.Write(bw, binary.BigEndian, uint64(size))
	for off := int64(0); off < size; {
		start, err := f.Seek(off, seekData)
		if err != nil {
			break // ENXIO: no data after off
		}
		end, err := f.Seek(start, seekHole)
		if err != nil {
			end = size
		}
		end = min(end, size)
		if end <= start {
			break
		}
		binary.Write(bw, binary.BigEndian, [2]uint64{uint64(start), uint64(end - start)})
		if _, err := io.Copy(bw, io.NewSectionReader(f, start, end-start)); err != nil {
			return err
		}
		off = end
	}
	return bw.Flush()
}

// maxDiskSize bounds a decoded disk, so a corrupt header cannot make a
// node create an absurd file: 16 TiB, ext4's limit with 4 KiB blocks.
const maxDiskSize = 16 << 40

// decodeSparse reads the format above from r into f, which must be empty;
// f ends up sparse, as the disk was.
func decodeSparse(f *os.File, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(sparseMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != sparseMagic {
		return errors.New("not a kiln sparse disk")
	}
	var size uint64
	if err := binary.Read(br, binary.BigEndian, &size); err != nil {
		return fmt.Errorf("sparse disk header: %w", err)
	}
	if size > maxDiskSize {
		return fmt.Errorf("sparse disk of %d bytes exceeds the %d-byte limit", size, uint64(maxDiskSize))
	}
	if err := f.Truncate(int64(size)); err != nil {
		return err
	}
	next := uint64(0)
	for {
		var ext [2]uint64
		if err := binary.Read(br, binary.BigEndian, &ext); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("sparse disk extent: %w", err)
		}
		off, n := ext[0], ext[1]
		if off < next || n > size || off > size-n {
			return fmt.Errorf("sparse disk extent at %d of %d bytes is out of order or past the disk's %d bytes", off, n, size)
		}
		if _, err := f.Seek(int64(off), io.SeekStart); err != nil {
			return err
		}
		if got, err := io.CopyN(f, br, int64(n)); err != nil {
			return fmt.Errorf("sparse disk extent at %d: %d of %d bytes: %w", off, got, n, err)
		}
		next = off + n
	}
}
