package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Berkeley DB hash databases, as rpm < 4.16 keeps /var/lib/rpm/Packages
// (RHEL ≤ 8, CentOS, Amazon Linux 2): a file of equal-sized pages in the
// creating machine's byte order. Page 0 is the metadata page; the others
// have a 26-byte header (LSN, page number, previous and next page, entry
// count, high free offset, level, type). A hash page holds key/data item
// pairs, located by an array of 16-bit offsets right after the header and
// each starting with a type byte; an item too big for a page is an
// "off-page" reference to a chain of overflow pages, whose header's high
// free offset field holds the number of data bytes on that page. rpm's
// keys are 4-byte package instance numbers (0 being a bookkeeping record)
// and its values header blobs.
//
// Pages are visited in file order rather than through the bucket
// structure, which reaches every live item without computing hashes.
const (
	bdbHashMagic     = 0x061561
	bdbBtreeMagic    = 0x053162
	bdbMetaSize      = 72
	bdbPageHeader    = 26
	bdbPageHashOld   = 2  // P_HASH_UNSORTED
	bdbPageOverflow  = 7  // P_OVERFLOW
	bdbPageHashMeta  = 8  // P_HASHMETA
	bdbPageHash      = 13 // P_HASH
	bdbItemKeyData   = 1  // H_KEYDATA
	bdbItemOffPage   = 3  // H_OFFPAGE
	bdbMetaChecksum  = 0x01
	bdbOffPageLength = 12
)

var errBDB = errors.New("malformed Berkeley DB hash database")

// readRPMBerkeleyDB returns the header blobs of the Berkeley DB database
// name in root.
func readRPMBerkeleyDB(root fs.FS, name string) ([][]byte, error) {
	r, size, closeFile, err := openReaderAt(root, name)
	if err != nil {
		return nil, err
	}
	defer closeFile()
	return parseRPMBerkeleyDB(r, size)
}

// bdbFile reads pages of one Berkeley DB file.
type bdbFile struct {
	r        io.ReaderAt
	order    binary.ByteOrder
	pageSize int64
	lastPage uint32
}

func (db *bdbFile) page(n uint32) ([]byte, error) {
	if n > db.lastPage {
		return nil, fmt.Errorf("%w: page %d beyond last page %d", errBDB, n, db.lastPage)
	}
	p := make([]byte, db.pageSize)
	if _, err := db.r.ReadAt(p, int64(n)*db.pageSize); err != nil {
		return nil, fmt.Errorf("%w: page %d: %v", errBDB, n, err)
	}
	return p, nil
}

// parseRPMBerkeleyDB returns the values of a Berkeley DB hash database
// whose keys are not all zero, which for rpm's Packages are the header
// blobs. Checksummed and encrypted databases (which rpm never creates) and
// duplicate-key items are not supported.
func parseRPMBerkeleyDB(r io.ReaderAt, size int64) ([][]byte, error) {
	var meta [bdbMetaSize]byte
	if _, err := r.ReadAt(meta[:], 0); err != nil {
		return nil, fmt.Errorf("%w: metadata page: %v", errBDB, err)
	}
	var order binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(meta[12:16]) == bdbHashMagic:
		order = binary.LittleEndian
	case binary.BigEndian.Uint32(meta[12:16]) == bdbHashMagic:
		order = binary.BigEndian
	case binary.LittleEndian.Uint32(meta[12:16]) == bdbBtreeMagic, binary.BigEndian.Uint32(meta[12:16]) == bdbBtreeMagic:
		return nil, fmt.Errorf("%w: a btree database, not a hash", errBDB)
	default:
		return nil, fmt.Errorf("%w: bad magic", errBDB)
	}
	pageSize := int64(order.Uint32(meta[20:24]))
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("%w: page size %d", errBDB, pageSize)
	}
	if meta[24] != 0 || meta[26]&bdbMetaChecksum != 0 {
		return nil, fmt.Errorf("%w: encrypted or checksummed databases are not supported", errBDB)
	}
	if meta[25] != bdbPageHashMeta {
		return nil, fmt.Errorf("%w: page 0 has type %d, want hash metadata", errBDB, meta[25])
	}
	lastPage := order.Uint32(meta[32:36])
	if pages := size / pageSize; pages == 0 {
		return nil, fmt.Errorf("%w: file shorter than one page", errBDB)
	} else if int64(lastPage) >= pages {
		lastPage = uint32(pages - 1) // a truncated file: read what is there
	}
	db := &bdbFile{r: r, order: order, pageSize: pageSize, lastPage: lastPage}

	var blobs [][]byte
	for n := uint32(1); n <= lastPage; n++ {
		p, err := db.page(n)
		if err != nil {
			return nil, err
		}
		if t := p[25]; t != bdbPageHash && t != bdbPageHashOld {
			continue
		}
		entries := int(order.Uint16(p[20:22]))
		if bdbPageHeader+2*entries > len(p) {
			return nil, fmt.Errorf("%w: page %d: %d entries do not fit", errBDB, n, entries)
		}
		for i := 0; i+1 < entries; i += 2 {
			key, err := db.item(p, i)
			if err != nil {
				return nil, fmt.Errorf("page %d: %w", n, err)
			}
			if key[0] != bdbItemKeyData || isZero(key[1:]) {
				continue
			}
			value, err := db.item(p, i+1)
			if err != nil {
				return nil, fmt.Errorf("page %d: %w", n, err)
			}
			switch value[0] {
			case bdbItemKeyData:
				blobs = append(blobs, append([]byte(nil), value[1:]...))
			case bdbItemOffPage:
				blob, err := db.overflow(value)
				if err != nil {
					return nil, fmt.Errorf("page %d: %w", n, err)
				}
				blobs = append(blobs, blob)
			}
		}
	}
	return blobs, nil
}

// item returns item i of a hash page, type byte included. Items are packed
// from the end of the page downwards, so item i ends where item i-1 starts
// (or at the end of the page for item 0).
func (db *bdbFile) item(p []byte, i int) ([]byte, error) {
	inp := func(j int) int { return int(db.order.Uint16(p[bdbPageHeader+2*j:])) }
	entries := int(db.order.Uint16(p[20:22]))
	start, end := inp(i), len(p)
	if i > 0 {
		end = inp(i - 1)
	}
	if start < bdbPageHeader+2*entries || start >= end || end > len(p) {
		return nil, fmt.Errorf("%w: item %d at bad offset %d..%d", errBDB, i, start, end)
	}
	return p[start:end], nil
}

// overflow reads the value an off-page item refers to: type byte, three
// unused bytes, first overflow page number, total length.
func (db *bdbFile) overflow(ref []byte) ([]byte, error) {
	if len(ref) < bdbOffPageLength {
		return nil, fmt.Errorf("%w: short off-page item", errBDB)
	}
	next := db.order.Uint32(ref[4:8])
	total := int64(db.order.Uint32(ref[8:12]))
	if total > (int64(db.lastPage)+1)*db.pageSize {
		return nil, fmt.Errorf("%w: off-page item of %d bytes exceeds the file", errBDB, total)
	}
	out := make([]byte, 0, total)
	for visited := uint32(0); int64(len(out)) < total; visited++ {
		if next == 0 || visited > db.lastPage {
			return nil, fmt.Errorf("%w: overflow chain ends after %d of %d bytes", errBDB, len(out), total)
		}
		p, err := db.page(next)
		if err != nil {
			return nil, err
		}
		if p[25] != bdbPageOverflow {
			return nil, fmt.Errorf("%w: page %d has type %d, want overflow", errBDB, next, p[25])
		}
		n := int(db.order.Uint16(p[22:24]))
		if bdbPageHeader+n > len(p) {
			return nil, fmt.Errorf("%w: overflow page %d claims %d bytes", errBDB, next, n)
		}
		out = append(out, p[bdbPageHeader:bdbPageHeader+n]...)
		next = db.order.Uint32(p[16:20])
	}
	return out[:total], nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
