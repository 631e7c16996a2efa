package inventory

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// rpmTestPackage is what the tests put into an rpm header.
type rpmTestPackage struct {
	name, version, release, arch string
	epoch                        *int32
}

func epoch(e int32) *int32 { return &e }

var rpmTestPackages = []rpmTestPackage{
	{name: "bash", version: "5.2.15", release: "2.amzn2023.0.2", arch: "x86_64"},
	{name: "openssl-libs", version: "3.0.8", release: "1.amzn2023.0.14", arch: "x86_64", epoch: epoch(1)},
	{name: "tzdata", version: "2024a", release: "1.amzn2023.0.1", arch: "noarch", epoch: epoch(0)},
	{name: "gpg-pubkey", version: "d832c631", release: "5e9f0e1a"}, // a signing key, not a package
}

var rpmTestWant = []Package{
	{Name: "bash", Version: "5.2.15-2.amzn2023.0.2", Arch: "x86_64", Source: SourceRPM},
	{Name: "openssl-libs", Version: "1:3.0.8-1.amzn2023.0.14", Arch: "x86_64", Source: SourceRPM},
	{Name: "tzdata", Version: "0:2024a-1.amzn2023.0.1", Arch: "noarch", Source: SourceRPM},
}

// rpmHeaderEntry is one tag of a header being encoded.
type rpmHeaderEntry struct {
	tag, typ uint32
	value    any // string, []string, int32 or []byte
}

// encodeRPMHeader lays out a header as rpm stores it in its databases:
// index count, data size, index entries, data store (no magic). Integers
// are aligned in the data store as rpm aligns them.
func encodeRPMHeader(entries []rpmHeaderEntry) []byte {
	var index, data bytes.Buffer
	for _, e := range entries {
		var count uint32
		if e.typ == rpmTypeInt32 {
			for data.Len()%4 != 0 {
				data.WriteByte(0)
			}
		}
		off := uint32(data.Len())
		switch v := e.value.(type) {
		case string:
			data.WriteString(v)
			data.WriteByte(0)
			count = 1
		case []string:
			for _, s := range v {
				data.WriteString(s)
				data.WriteByte(0)
			}
			count = uint32(len(v))
		case int32:
			binary.Write(&data, binary.BigEndian, v)
			count = 1
		case []byte:
			data.Write(v)
			count = uint32(len(v))
		}
		binary.Write(&index, binary.BigEndian, [4]uint32{e.tag, e.typ, off, count})
	}
	var out bytes.Buffer
	binary.Write(&out, binary.BigEndian, [2]uint32{uint32(len(entries)), uint32(data.Len())})
	out.Write(index.Bytes())
	out.Write(data.Bytes())
	return out.Bytes()
}

// rpmBlob encodes p with some of the company real headers keep: a region
// tag first, a summary in an i18n string, a string array.
func rpmBlob(p rpmTestPackage) []byte {
	entries := []rpmHeaderEntry{
		{tag: 63, typ: 7, value: make([]byte, 16)}, // HEADERIMMUTABLE region trailer
		{tag: rpmTagName, typ: rpmTypeString, value: p.name},
		{tag: rpmTagVersion, typ: rpmTypeString, value: p.version},
		{tag: rpmTagRelease, typ: rpmTypeString, value: p.release},
	}
	if p.epoch != nil {
		entries = append(entries, rpmHeaderEntry{tag: rpmTagEpoch, typ: rpmTypeInt32, value: *p.epoch})
	}
	entries = append(entries,
		rpmHeaderEntry{tag: 1004, typ: rpmTypeI18NString, value: "summary of " + p.name},
		rpmHeaderEntry{tag: 1118, typ: rpmTypeStringArray, value: []string{"/usr", "/usr/bin"}},
	)
	if p.arch != "" {
		entries = append(entries, rpmHeaderEntry{tag: rpmTagArch, typ: rpmTypeString, value: p.arch})
	}
	return encodeRPMHeader(entries)
}

func rpmTestBlobs() [][]byte {
	var blobs [][]byte
	for _, p := range rpmTestPackages {
		blobs = append(blobs, rpmBlob(p))
	}
	return blobs
}

func TestParseRPMHeader(t *testing.T) {
	for _, p := range rpmTestPackages {
		got, err := parseRPMHeader(rpmBlob(p))
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		want := rpmPackage{Name: p.name, Version: p.version, Release: p.release, Arch: p.arch}
		if p.epoch != nil {
			want.Epoch, want.HasEpoch = *p.epoch, true
		}
		if got != want {
			t.Errorf("parseRPMHeader = %+v, want %+v", got, want)
		}
	}
}

func TestParseRPMHeaderErrors(t *testing.T) {
	good := rpmBlob(rpmTestPackages[0])
	tests := []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"short", good[:7]},
		{"truncated data", good[:len(good)-1]},
		{"no entries", []byte{0, 0, 0, 0, 0, 0, 0, 0}},
		{"huge count", []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}},
		{"no name", encodeRPMHeader([]rpmHeaderEntry{
			{tag: rpmTagVersion, typ: rpmTypeString, value: "1"},
			{tag: rpmTagRelease, typ: rpmTypeString, value: "1"},
		})},
		{"name is an int", encodeRPMHeader([]rpmHeaderEntry{
			{tag: rpmTagName, typ: rpmTypeInt32, value: int32(1)},
			{tag: rpmTagVersion, typ: rpmTypeString, value: "1"},
			{tag: rpmTagRelease, typ: rpmTypeString, value: "1"},
		})},
		{"unterminated string", encodeRPMHeader([]rpmHeaderEntry{
			{tag: rpmTagVersion, typ: rpmTypeString, value: "1"},
			{tag: rpmTagRelease, typ: rpmTypeString, value: "1"},
			{tag: rpmTagName, typ: rpmTypeBin, value: []byte("abc")},
		})},
	}
	// Make "unterminated string" really end without a NUL: NAME points at
	// the last three bytes, typed as a string.
	last := tests[len(tests)-1].blob
	binary.BigEndian.PutUint32(last[8+2*16+4:], rpmTypeString)
	for _, tt := range tests {
		if p, err := parseRPMHeader(tt.blob); !errors.Is(err, errRPMHeader) {
			t.Errorf("%s: parseRPMHeader = %+v, %v; want errRPMHeader", tt.name, p, err)
		}
	}
}

const rpmTypeBin = 7

// writeSQLiteRPMDB creates an rpmdb.sqlite with rpm's schema at path.
func writeSQLiteRPMDB(t testing.TB, path string, blobs [][]byte) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	// rpm also has index tables; one is enough to show they are ignored.
	if _, err := db.Exec(`CREATE TABLE Name (key TEXT NOT NULL, hnum INTEGER NOT NULL, idx INTEGER NOT NULL, FOREIGN KEY (hnum) REFERENCES Packages(hnum))`); err != nil {
		t.Fatal(err)
	}
	for _, b := range blobs {
		if _, err := db.Exec(`INSERT INTO Packages (blob) VALUES (?)`, b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReadRPMSQLite(t *testing.T) {
	rootDir := t.TempDir()
	dbPath := filepath.Join(rootDir, "var/lib/rpm/rpmdb.sqlite")
	mustMkdirAll(t, filepath.Dir(dbPath))
	writeSQLiteRPMDB(t, dbPath, rpmTestBlobs())
	before, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}

	got, err := Packages(os.DirFS(rootDir))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, rpmTestWant) {
		t.Errorf("Packages =\n%+v\nwant\n%+v", got, rpmTestWant)
	}
	after, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("reading changed the image's rpmdb.sqlite")
	}
	entries, _ := os.ReadDir(filepath.Dir(dbPath))
	if len(entries) != 1 {
		t.Errorf("reading left files beside the database: %v", entries)
	}
}

// TestReadRPMSQLiteWAL covers a database whose last transactions are still
// in its write-ahead log, as a build that kills rpm may leave behind.
func TestReadRPMSQLiteWAL(t *testing.T) {
	work := t.TempDir()
	src := filepath.Join(work, "rpmdb.sqlite")
	db, err := sql.Open("sqlite", src+"?_pragma=journal_mode(WAL)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, b := range rpmTestBlobs() {
		if _, err := db.Exec(`INSERT INTO Packages (blob) VALUES (?)`, b); err != nil {
			t.Fatal(err)
		}
	}
	// Snapshot the files while the connection is open, so the log has not
	// been checkpointed into the main file.
	main, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	wal, err := os.ReadFile(src + "-wal")
	if err != nil || len(wal) == 0 {
		t.Fatalf("no write-ahead log to test with: %v", err)
	}
	root := fstest.MapFS{
		"var/lib/rpm/rpmdb.sqlite":     {Data: main},
		"var/lib/rpm/rpmdb.sqlite-wal": {Data: wal},
	}
	got, err := Packages(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, rpmTestWant) {
		t.Errorf("Packages =\n%+v\nwant\n%+v", got, rpmTestWant)
	}
}

// encodeNDB lays out an NDB Packages.db holding blobs, with a free slot
// between packages as deletions leave them.
func encodeNDB(blobs [][]byte) []byte {
	le := binary.LittleEndian
	const slotPages = 1
	file := make([]byte, slotPages*ndbPageSize)
	le.PutUint32(file[0:], ndbHeaderMagic)
	le.PutUint32(file[8:], 7)          // generation
	le.PutUint32(file[12:], slotPages) // slot pages
	le.PutUint32(file[16:], uint32(len(blobs)+1))
	for i := ndbFirstSlotSlot; i < ndbSlotsPerPage; i++ {
		le.PutUint32(file[i*ndbSlotSize:], ndbSlotMagic)
	}
	slot := ndbFirstSlotSlot + 1 // leave the first slot free
	for i, blob := range blobs {
		pkgIdx := uint32(i + 1)
		span := ndbBlobHeadSize + len(blob) + ndbBlobTailSize
		span = (span + ndbBlockSize - 1) / ndbBlockSize * ndbBlockSize
		off := len(file)
		s := file[slot*ndbSlotSize:]
		le.PutUint32(s[4:], pkgIdx)
		le.PutUint32(s[8:], uint32(off/ndbBlockSize))
		le.PutUint32(s[12:], uint32(span/ndbBlockSize))
		slot++
		b := make([]byte, span)
		le.PutUint32(b[0:], ndbBlobMagic)
		le.PutUint32(b[4:], pkgIdx)
		le.PutUint32(b[8:], 7)
		le.PutUint32(b[12:], uint32(len(blob)))
		copy(b[ndbBlobHeadSize:], blob)
		tail := b[ndbBlobHeadSize+len(blob):]
		le.PutUint32(tail[4:], uint32(len(blob)))
		le.PutUint32(tail[8:], 'B'|'l'<<8|'b'<<16|'E'<<24)
		file = append(file, b...)
	}
	return file
}

func TestReadRPMNDB(t *testing.T) {
	root := fstest.MapFS{"usr/lib/sysimage/rpm/Packages.db": {Data: encodeNDB(rpmTestBlobs())}}
	got, err := Packages(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, rpmTestWant) {
		t.Errorf("Packages =\n%+v\nwant\n%+v", got, rpmTestWant)
	}
}

// bdbWriter lays out a Berkeley DB hash file page by page.
type bdbWriter struct {
	order    binary.ByteOrder
	pageSize int
	pages    [][]byte
}

func (w *bdbWriter) newPage(typ byte) (uint32, []byte) {
	n := uint32(len(w.pages))
	p := make([]byte, w.pageSize)
	w.order.PutUint32(p[8:], n)
	p[25] = typ
	w.pages = append(w.pages, p)
	return n, p
}

// addItem appends an item to hash page p, returning false if it is full.
func (w *bdbWriter) addItem(p, item []byte) bool {
	entries := int(w.order.Uint16(p[20:]))
	high := int(w.order.Uint16(p[22:]))
	if high == 0 {
		high = w.pageSize
	}
	start := high - len(item)
	if start < bdbPageHeader+2*(entries+1) {
		return false
	}
	copy(p[start:], item)
	w.order.PutUint16(p[bdbPageHeader+2*entries:], uint16(start))
	w.order.PutUint16(p[20:], uint16(entries+1))
	w.order.PutUint16(p[22:], uint16(start))
	return true
}

// overflowChain stores data on overflow pages and returns the first page.
func (w *bdbWriter) overflowChain(data []byte) uint32 {
	var first, prevNum uint32
	var prev []byte
	for len(data) > 0 {
		n, p := w.newPage(bdbPageOverflow)
		chunk := min(len(data), w.pageSize-bdbPageHeader)
		copy(p[bdbPageHeader:], data[:chunk])
		w.order.PutUint16(p[22:], uint16(chunk))
		w.order.PutUint16(p[20:], 1) // reference count
		data = data[chunk:]
		if prev == nil {
			first = n
		} else {
			w.order.PutUint32(prev[16:], n)
			w.order.PutUint32(p[12:], prevNum)
		}
		prev, prevNum = p, n
	}
	return first
}

// encodeBDB lays out a hash database mapping native-order package numbers
// to blobs, plus rpm's key-0 bookkeeping record. Values larger than a
// quarter page go to overflow pages, as Berkeley DB does.
func encodeBDB(blobs [][]byte, order binary.ByteOrder, pageSize int) []byte {
	w := &bdbWriter{order: order, pageSize: pageSize}
	_, meta := w.newPage(bdbPageHashMeta)
	order.PutUint32(meta[12:], bdbHashMagic)
	order.PutUint32(meta[16:], 9) // version
	order.PutUint32(meta[20:], uint32(pageSize))

	_, page := w.newPage(bdbPageHash)
	put := func(key uint32, value []byte) {
		k := make([]byte, 5)
		k[0] = bdbItemKeyData
		order.PutUint32(k[1:], key)
		var v []byte
		if len(value) > pageSize/4 {
			v = make([]byte, bdbOffPageLength)
			v[0] = bdbItemOffPage
			order.PutUint32(v[4:], w.overflowChain(value))
			order.PutUint32(v[8:], uint32(len(value)))
		} else {
			v = append([]byte{bdbItemKeyData}, value...)
		}
		if !w.addItem(page, k) || !w.addItem(page, v) {
			_, page = w.newPage(bdbPageHash)
			if !w.addItem(page, k) || !w.addItem(page, v) {
				panic("item does not fit an empty page")
			}
		}
	}
	put(0, []byte{byte(len(blobs) + 1), 0, 0, 0})
	for i, b := range blobs {
		put(uint32(i+1), b)
	}
	order.PutUint32(meta[32:], uint32(len(w.pages)-1)) // last page
	return bytes.Join(w.pages, nil)
}

func TestReadRPMBerkeleyDB(t *testing.T) {
	// A long file list makes one header span several overflow pages.
	big := encodeRPMHeader([]rpmHeaderEntry{
		{tag: rpmTagName, typ: rpmTypeString, value: "big"},
		{tag: rpmTagVersion, typ: rpmTypeString, value: "1"},
		{tag: rpmTagRelease, typ: rpmTypeString, value: "1"},
		{tag: 1117, typ: rpmTypeStringArray, value: strings.Fields(strings.Repeat("some-file-name ", 800))},
	})
	blobs := append(rpmTestBlobs(), big)
	want := append(slices.Clone(rpmTestWant), Package{Name: "big", Version: "1-1", Source: SourceRPM})
	slices.SortFunc(want, comparePackages)

	for _, tt := range []struct {
		name     string
		order    binary.ByteOrder
		pageSize int
	}{
		{"little endian 4k", binary.LittleEndian, 4096},
		{"big endian 512", binary.BigEndian, 512},
		{"little endian 64k", binary.LittleEndian, 65536},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := fstest.MapFS{"var/lib/rpm/Packages": {Data: encodeBDB(blobs, tt.order, tt.pageSize)}}
			got, err := Packages(root)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Packages =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestReadRPMBerkeleyDBErrors(t *testing.T) {
	good := encodeBDB(rpmTestBlobs(), binary.LittleEndian, 512)
	btree := bytes.Clone(good)
	binary.LittleEndian.PutUint32(btree[12:], bdbBtreeMagic)
	checksummed := bytes.Clone(good)
	checksummed[26] = bdbMetaChecksum
	brokenChain := bytes.Clone(good)
	for n := 1; n*512 < len(brokenChain); n++ { // cut every overflow chain short
		if p := brokenChain[n*512 : (n+1)*512]; p[25] == bdbPageOverflow {
			binary.LittleEndian.PutUint32(p[16:], 0)
			binary.LittleEndian.PutUint16(p[22:], 1)
		}
	}
	for name, data := range map[string][]byte{
		"empty":        nil,
		"not a bdb":    bytes.Repeat([]byte("x"), 1024),
		"btree":        btree,
		"checksummed":  checksummed,
		"broken chain": brokenChain,
	} {
		if _, err := parseRPMBerkeleyDB(bytes.NewReader(data), int64(len(data))); !errors.Is(err, errBDB) {
			t.Errorf("%s: err = %v, want errBDB", name, err)
		}
	}
}

func TestReadRPMPrefersNewestBackendAndReadsEachDBOnce(t *testing.T) {
	stale := [][]byte{rpmBlob(rpmTestPackage{name: "stale", version: "1", release: "1"})}
	root := fstest.MapFS{
		// Fedora ≥ 36: the database moved, the old path is a link to it.
		"var/lib/rpm":                       symlink("../../usr/lib/sysimage/rpm"),
		"usr/lib/sysimage/rpm/rpmdb.sqlite": {Data: sqliteFile(t, rpmTestBlobs())},
		"usr/lib/sysimage/rpm/Packages":     {Data: encodeBDB(stale, binary.LittleEndian, 4096)},
	}
	got, err := Packages(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, rpmTestWant) {
		t.Errorf("Packages =\n%+v\nwant\n%+v", got, rpmTestWant)
	}
}

func TestReadRPMDamagedDatabaseKeepsOthers(t *testing.T) {
	root := fstest.MapFS{
		"var/lib/rpm/Packages": {Data: []byte("not a database at all, not even close......")},
		"lib/apk/db/installed": {Data: []byte("P:musl\nV:1.2.4-r4\nA:x86_64\n")},
	}
	got, err := Packages(root)
	if !errors.Is(err, errBDB) || !strings.Contains(err.Error(), "/var/lib/rpm/Packages") {
		t.Errorf("err = %v, want errBDB naming the file", err)
	}
	if len(got) != 1 || got[0].Name != "musl" {
		t.Errorf("Packages = %+v, want musl from apk", got)
	}
}

// sqliteFile returns the bytes of an rpmdb.sqlite holding blobs.
func sqliteFile(t *testing.T, blobs [][]byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	writeSQLiteRPMDB(t, path, blobs)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func FuzzParseRPMHeader(f *testing.F) {
	for _, b := range rpmTestBlobs() {
		f.Add(b)
	}
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, blob []byte) {
		if p, err := parseRPMHeader(blob); err == nil && p.evr() == "" {
			t.Fatal("parsed a header with an empty version")
		}
	})
}

func FuzzParseRPMNDB(f *testing.F) {
	f.Add(encodeNDB(rpmTestBlobs()))
	f.Add(encodeNDB(nil)[:64])
	f.Fuzz(func(t *testing.T, data []byte) {
		parseRPMNDB(bytes.NewReader(data), int64(len(data)))
	})
}

func FuzzParseRPMBerkeleyDB(f *testing.F) {
	f.Add(encodeBDB(rpmTestBlobs(), binary.LittleEndian, 512))
	f.Add(encodeBDB(rpmTestBlobs()[:1], binary.BigEndian, 512))
	f.Fuzz(func(t *testing.T, data []byte) {
		parseRPMBerkeleyDB(bytes.NewReader(data), int64(len(data)))
	})
}
