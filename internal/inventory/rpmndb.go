package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// The NDB format of rpm's Packages.db (rpm ≥ 4.15, the default on SUSE):
// a little-endian file that starts with a 32-byte header (magic "RpmP",
// version, generation, number of 4 KiB slot pages, next package index),
// followed, still inside the slot pages, by 16-byte slots ("Slot", package
// index, block offset, block count; index 0 marks a free slot). A slot
// points at a blob in 16-byte blocks: a 16-byte blob head ("BlbS", package
// index, generation, length), the header blob itself, then a checksum tail.
const (
	ndbHeaderMagic   = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic     = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobMagic     = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbHeaderSize    = 32
	ndbPageSize      = 4096
	ndbSlotSize      = 16
	ndbBlockSize     = 16
	ndbBlobHeadSize  = 16
	ndbBlobTailSize  = 12
	ndbMaxSlotPages  = 1 << 16 // 16 million slots; rpm never gets near
	ndbSlotsPerPage  = ndbPageSize / ndbSlotSize
	ndbFirstSlotSlot = ndbHeaderSize / ndbSlotSize
)

var errNDB = errors.New("malformed rpm NDB database")

// readRPMNDB returns the header blobs of the NDB database name in root.
func readRPMNDB(root fs.FS, name string) ([][]byte, error) {
	r, size, closeFile, err := openReaderAt(root, name)
	if err != nil {
		return nil, err
	}
	defer closeFile()
	return parseRPMNDB(r, size)
}

// parseRPMNDB returns the header blobs of an NDB Packages.db, in slot order.
func parseRPMNDB(r io.ReaderAt, size int64) ([][]byte, error) {
	le := binary.LittleEndian
	var head [ndbHeaderSize]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return nil, fmt.Errorf("%w: header: %v", errNDB, err)
	}
	if le.Uint32(head[0:4]) != ndbHeaderMagic {
		return nil, fmt.Errorf("%w: bad magic", errNDB)
	}
	if v := le.Uint32(head[4:8]); v != 0 {
		return nil, fmt.Errorf("%w: unsupported version %d", errNDB, v)
	}
	slotPages := int64(le.Uint32(head[12:16]))
	if slotPages == 0 || slotPages > ndbMaxSlotPages || slotPages*ndbPageSize > size {
		return nil, fmt.Errorf("%w: %d slot pages in a %d-byte file", errNDB, slotPages, size)
	}
	slots := make([]byte, slotPages*ndbPageSize)
	if _, err := r.ReadAt(slots, 0); err != nil {
		return nil, fmt.Errorf("%w: slots: %v", errNDB, err)
	}
	var blobs [][]byte
	for i := int64(ndbFirstSlotSlot); i < slotPages*ndbSlotsPerPage; i++ {
		s := slots[i*ndbSlotSize : (i+1)*ndbSlotSize]
		if le.Uint32(s[0:4]) != ndbSlotMagic {
			return nil, fmt.Errorf("%w: slot %d: bad magic", errNDB, i)
		}
		pkgIdx := le.Uint32(s[4:8])
		if pkgIdx == 0 {
			continue // free slot
		}
		off := int64(le.Uint32(s[8:12])) * ndbBlockSize
		span := int64(le.Uint32(s[12:16])) * ndbBlockSize
		if off < slotPages*ndbPageSize || span < ndbBlobHeadSize+ndbBlobTailSize || off+span > size {
			return nil, fmt.Errorf("%w: package %d: blob at %d+%d outside the file", errNDB, pkgIdx, off, span)
		}
		var bh [ndbBlobHeadSize]byte
		if _, err := r.ReadAt(bh[:], off); err != nil {
			return nil, fmt.Errorf("%w: package %d: %v", errNDB, pkgIdx, err)
		}
		if le.Uint32(bh[0:4]) != ndbBlobMagic || le.Uint32(bh[4:8]) != pkgIdx {
			return nil, fmt.Errorf("%w: package %d: bad blob head", errNDB, pkgIdx)
		}
		n := int64(le.Uint32(bh[12:16]))
		if n > span-ndbBlobHeadSize-ndbBlobTailSize {
			return nil, fmt.Errorf("%w: package %d: blob length %d exceeds its %d blocks", errNDB, pkgIdx, n, span/ndbBlockSize)
		}
		blob := make([]byte, n)
		if _, err := r.ReadAt(blob, off+ndbBlobHeadSize); err != nil {
			return nil, fmt.Errorf("%w: package %d: %v", errNDB, pkgIdx, err)
		}
		blobs = append(blobs, blob)
	}
	return blobs, nil
}
