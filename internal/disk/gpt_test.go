package disk

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// memDisk is an in-memory disk for writeGPT.
type memDisk []byte

func (m memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m[off:], p), nil }

func gptDisk(t testing.TB, sectors int64, parts ...gptPartition) []byte {
	t.Helper()
	d := make(memDisk, sectors*sectorSize)
	if err := writeGPT(d, sectors, mustParseGUID("11111111-2222-4333-8444-555555555555"), parts); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGUIDRoundTrip(t *testing.T) {
	g := mustParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
	d := g.toDisk()
	// The on-disk bytes of the Linux filesystem type, as every GPT tool writes them.
	want := []byte{0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4}
	if !bytes.Equal(d[:], want) {
		t.Fatalf("toDisk = % x, want % x", d, want)
	}
	if back := guidFromDisk(d[:]); back != g {
		t.Fatalf("guidFromDisk = %s", back)
	}
	for _, bad := range []string{"", "0FC63DAF84834772-8E79-3D69D8477DE4-", "ZFC63DAF-8483-4772-8E79-3D69D8477DE4"} {
		if _, err := parseGUID(bad); err == nil {
			t.Errorf("parseGUID(%q) succeeded", bad)
		}
	}
}

func TestReadPartitions(t *testing.T) {
	linux := gptPartition{typ: linuxFilesystemType, id: mustParseGUID("AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"), first: 2048, end: 4061, name: "kiln-root"}
	esp := gptPartition{typ: mustParseGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B"), id: mustParseGUID("00000000-0000-4000-8000-000000000001"), first: 40, end: 2047, name: "EFI system ✓"}
	wantLinux := Partition{Number: 1, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", UUID: "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", Offset: 2048 * 512, Size: 2014 * 512, Name: "kiln-root"}
	wantESP := Partition{Number: 2, Type: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", UUID: "00000000-0000-4000-8000-000000000001", Offset: 40 * 512, Size: 2008 * 512, Name: "EFI system ✓"}
	const sectors = 4096
	good := gptDisk(t, sectors, linux, esp)
	corrupt := func(off int) []byte {
		d := bytes.Clone(good)
		d[off] ^= 0xff
		return d
	}
	bareExt := make([]byte, 8192)
	bareExt[1024+56], bareExt[1024+57] = 0x53, 0xEF
	bareExt[510], bareExt[511] = 0x55, 0xAA
	mbr := make([]byte, 1<<20)
	mbr[446+4], mbr[446+8], mbr[446+12] = 0x83, 0x08, 0xf8                                // type 83, LBA 8, 248 sectors
	mbr[446+16+4], mbr[446+16+8], mbr[446+16+12], mbr[446+16+13] = 0x82, 0x00, 0x00, 0x01 // LBA 256, 256*256 sectors: too big
	mbr[510], mbr[511] = 0x55, 0xAA
	mbrOK := bytes.Clone(mbr)
	clear(mbrOK[446+16 : 446+32])

	tests := []struct {
		name    string
		disk    []byte
		want    []Partition
		wantErr string
	}{
		{name: "two partitions", disk: good, want: []Partition{wantLinux, wantESP}},
		{name: "primary header corrupt: backup", disk: corrupt(512 + 60), want: []Partition{wantLinux, wantESP}},
		{name: "primary entries corrupt: backup", disk: corrupt(2*512 + 10), want: []Partition{wantLinux, wantESP}},
		{name: "both corrupt", disk: func() []byte { d := corrupt(2*512 + 10); d[(sectors-33)*512+10] ^= 1; return d }(), wantErr: "CRC32"},
		{name: "unpartitioned ext4", disk: bareExt, want: []Partition{{Number: 1, Size: 8192}}},
		{name: "zeros", disk: make([]byte, 4096), want: []Partition{{Number: 1, Size: 4096}}},
		{name: "empty", disk: nil, want: []Partition{{Number: 1, Size: 0}}},
		{name: "MBR", disk: mbrOK, want: []Partition{{Number: 1, Type: "0x83", Offset: 8 * 512, Size: 248 * 512}}},
		{name: "MBR entry past the end", disk: mbr, wantErr: "outside"},
		{name: "protective MBR without GPT", disk: func() []byte { d := bytes.Clone(good); clear(d[512 : 34*512]); clear(d[(sectors-33)*512:]); return d }(), wantErr: "protective"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadPartitions(bytes.NewReader(tt.disk), int64(len(tt.disk)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadPartitions = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ReadPartitions =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestWriteGPTRefuses(t *testing.T) {
	p := gptPartition{typ: linuxFilesystemType, first: 34, end: 100}
	tests := []struct {
		name    string
		sectors int64
		parts   []gptPartition
	}{
		{"too small", 60, nil},
		{"before first usable", 4096, []gptPartition{{typ: linuxFilesystemType, first: 33, end: 100}}},
		{"over the backup", 4096, []gptPartition{{typ: linuxFilesystemType, first: 34, end: 4096 - 33}}},
		{"name too long", 4096, []gptPartition{{typ: linuxFilesystemType, first: 34, end: 100, name: strings.Repeat("n", 37)}}},
		{"too many", 4096, func() []gptPartition {
			s := make([]gptPartition, 129)
			for i := range s {
				s[i] = p
			}
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := writeGPT(make(memDisk, tt.sectors*512), tt.sectors, guid{}, tt.parts); err == nil {
				t.Fatal("writeGPT succeeded")
			}
		})
	}
}

// TestReadPartitionsSfdisk reads tables written by util-linux's sfdisk.
func TestReadPartitionsSfdisk(t *testing.T) {
	requireTools(t, "sfdisk")
	tests := []struct {
		name, script string
	}{
		{"gpt", "label: gpt\n" +
			"start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=\"EFI System\"\n" +
			"start=6144, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=bios\n" +
			"start=8192, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root, uuid=6A1E5C2B-91D4-4F4B-A2D9-0E1F2A3B4C5D\n"},
		{"gpt with gaps", "label: gpt\n" +
			"start=40000, size=1000, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709\n" +
			"start=2048, size=1000, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\n"},
		{"dos", "label: dos\nstart=2048, size=8192, type=83, bootable\nstart=10240, type=82\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disk := filepath.Join(t.TempDir(), "disk")
			if err := os.WriteFile(disk, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(disk, 32<<20); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sfdisk", "--no-reread", "--no-tell-kernel", "-q", disk)
			cmd.Stdin = strings.NewReader(tt.script)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sfdisk: %v\n%s", err, out)
			}
			var tab sfdiskTable
			if err := json.Unmarshal([]byte(run(t, "sfdisk", "--json", disk)), &tab); err != nil {
				t.Fatal(err)
			}
			var want []Partition
			for _, p := range tab.PartitionTable.Partitions {
				var n int
				fmt.Sscanf(strings.TrimPrefix(p.Node, disk), "%d", &n)
				typ := p.Type
				if tab.PartitionTable.Label == "dos" {
					typ = "0x" + typ
				}
				want = append(want, Partition{Number: n, Type: typ, UUID: strings.ToLower(p.UUID), Offset: p.Start * 512, Size: p.Size * 512, Name: p.Name})
			}
			f, err := os.Open(disk)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ReadPartitions(f, 32<<20)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("ReadPartitions =\n%+v\nsfdisk says\n%+v", got, want)
			}
		})
	}
}

// sparseDisk is a disk of any size that reads as zeros except where chunks were
// placed, so the fuzzer can try huge disks without allocating them.
type sparseDisk struct {
	size   int64
	chunks map[int64][]byte
}

func (d sparseDisk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= d.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > d.size-off {
		n = int(d.size - off)
	}
	clear(p[:n])
	for at, c := range d.chunks {
		lo, hi := max(at, off), min(at+int64(len(c)), off+int64(n))
		if lo < hi {
			copy(p[lo-off:hi-off], c[lo-at:hi-at])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzReadPartitions feeds ReadPartitions a disk made of a fuzzed MBR, GPT header and
// entry array on a disk of fuzzed size. With fixCRC the header's CRCs are made right,
// so the fuzzer also reaches the checks behind them. Inputs stay small (the Go fuzzer
// crawls on large ones) while disks may be terabytes.
func FuzzReadPartitions(f *testing.F) {
	linux := gptPartition{typ: linuxFilesystemType, id: mustParseGUID("AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"), first: 34, end: 90, name: "root"}
	seed := gptDisk(f, 128, linux)
	f.Add(seed[:512], seed[512:1024], seed[1024:1024+256], uint32(128), false, false)
	f.Add(seed[:512], seed[512:1024], seed[1024:1024+256], uint32(128), true, false)
	f.Add(seed[:512], seed[127*512:], seed[1024:1024+256], uint32(128), true, true)
	f.Add(seed[:512], seed[512:1024], seed[1024:1024+256], uint32(70), true, false)
	mbr := make([]byte, 512)
	mbr[446+4], mbr[446+8], mbr[446+12] = 0x83, 1, 3
	mbr[510], mbr[511] = 0x55, 0xAA
	f.Add(mbr, []byte{}, []byte{}, uint32(8), false, false)
	f.Add([]byte{}, []byte{}, []byte{}, uint32(0), false, false)
	f.Fuzz(func(t *testing.T, mbr, header, entries []byte, sectors uint32, fixCRC, atEnd bool) {
		size := int64(sectors) * 512
		if len(mbr) > 512 || len(header) > 512 || len(entries) > 64<<10 {
			return
		}
		headerLBA, entryLBA := int64(1), int64(2)
		if atEnd {
			headerLBA, entryLBA = int64(sectors)-1, int64(sectors)-33
		}
		header = bytes.Clone(header)
		if fixCRC && len(header) >= gptHeaderSize {
			binary.LittleEndian.PutUint64(header[24:], uint64(headerLBA))
			binary.LittleEndian.PutUint64(header[72:], uint64(entryLBA))
			arr := uint64(binary.LittleEndian.Uint32(header[80:])) * uint64(binary.LittleEndian.Uint32(header[84:]))
			if arr <= gptMaxEntryArray {
				full := make([]byte, arr)
				copy(full, entries)
				entries = full
				binary.LittleEndian.PutUint32(header[88:], crc32.ChecksumIEEE(full))
			}
			hsize := int(binary.LittleEndian.Uint32(header[12:]))
			if hsize >= gptHeaderSize && hsize <= len(header) {
				binary.LittleEndian.PutUint32(header[16:], 0)
				binary.LittleEndian.PutUint32(header[16:], crc32.ChecksumIEEE(header[:hsize]))
			}
		}
		disk := sparseDisk{size: size, chunks: map[int64][]byte{0: mbr}}
		if headerLBA >= 0 && entryLBA >= 0 {
			disk.chunks[headerLBA*512] = header
			disk.chunks[entryLBA*512] = entries
		}
		parts, err := ReadPartitions(disk, size)
		if err != nil {
			return
		}
		for _, p := range parts {
			if p.Offset < 0 || p.Size < 0 || p.Offset+p.Size > size {
				t.Fatalf("partition %+v outside a disk of %d bytes", p, size)
			}
		}
	})
}

// FuzzReadPartitionsBytes is the plain form: any bytes as a whole disk.
func FuzzReadPartitionsBytes(f *testing.F) {
	f.Add(gptDisk(f, 70)[:2048])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, disk []byte) {
		size := int64(len(disk))
		parts, err := ReadPartitions(bytes.NewReader(disk), size)
		if err != nil {
			return
		}
		for _, p := range parts {
			if p.Offset < 0 || p.Size < 0 || p.Offset+p.Size > size {
				t.Fatalf("partition %+v outside a disk of %d bytes", p, size)
			}
		}
	})
}
