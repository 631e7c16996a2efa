package vulndb

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// walkAll lists an archive with walkZip, reading every regular entry.
func walkAll(data []byte) ([]string, error) {
	r := bytes.NewReader(data)
	zr := &zipEntryReader{r: r, size: int64(len(data))}
	var out []string
	err := walkZip(r, int64(len(data)), func(e zipEntry) error {
		if e.isDir() {
			out = append(out, e.name)
			return nil
		}
		b, err := zr.read(e, maxRecordSize)
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		out = append(out, e.name+"="+string(b))
		return nil
	})
	return out, err
}

// stdlibAll lists an archive with archive/zip, the reference.
func stdlibAll(data []byte) ([]string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			out = append(out, f.Name)
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, f.Name+"="+string(b))
	}
	return out, nil
}

type zipFile struct {
	name, content string
	method        uint16
}

func buildZip(t testing.TB, files []zipFile, comment string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: f.method})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, f.content)
	}
	if comment != "" {
		zw.SetComment(comment)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWalkZipMatchesArchiveZip(t *testing.T) {
	big := strings.Repeat(`{"id":"X"} `, 5000)
	tests := []struct {
		name    string
		files   []zipFile
		comment string
	}{
		{"deflated", []zipFile{{"a.json", `{"id":"A"}`, zip.Deflate}, {"b.json", big, zip.Deflate}}, ""},
		{"stored", []zipFile{{"a.json", `{"id":"A"}`, zip.Store}, {"dir/", "", zip.Store}, {"dir/b.json", "b", zip.Store}}, ""},
		{"comment", []zipFile{{"a.json", "a", zip.Deflate}}, "an archive comment"},
		{"empty", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := buildZip(t, tc.files, tc.comment)
			got, err := walkAll(data)
			if err != nil {
				t.Fatal(err)
			}
			want, err := stdlibAll(data)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("walkZip =\n%q\narchive/zip =\n%q", got, want)
			}
		})
	}
}

// TestWalkZip64: past 65,535 entries a zip carries zip64 records, as
// OSV's larger archives do.
func TestWalkZip64(t *testing.T) {
	var files []zipFile
	for i := range 70000 {
		files = append(files, zipFile{fmt.Sprintf("R-%05d.json", i), "x", zip.Store})
	}
	data := buildZip(t, files, "")
	n := 0
	err := walkZip(bytes.NewReader(data), int64(len(data)), func(e zipEntry) error {
		if want := fmt.Sprintf("R-%05d.json", n); e.name != want {
			return fmt.Errorf("entry %d is %s, want %s", n, e.name, want)
		}
		n++
		return nil
	})
	if err != nil || n != 70000 {
		t.Errorf("walkZip: %d entries, %v", n, err)
	}
}

func TestWalkZipDamaged(t *testing.T) {
	good := buildZip(t, []zipFile{{"a.json", "hello", zip.Store}}, "")
	crc := bytes.Clone(good)
	crc[bytes.Index(crc, []byte("hello"))] = 'j' // content no longer matches its CRC-32
	truncated := good[:len(good)-10]
	for name, data := range map[string][]byte{"crc": crc, "truncated": truncated, "garbage": []byte("PK\x03\x04 not a zip"), "nothing": nil} {
		if _, err := walkAll(data); err == nil {
			t.Errorf("%s: walkZip accepted a damaged archive", name)
		}
	}
}

// FuzzWalkZip: on any bytes walkZip ends without panicking, and where
// both it and archive/zip read an archive whole, they agree.
func FuzzWalkZip(f *testing.F) {
	f.Add(buildZip(f, []zipFile{{"a.json", `{"id":"A"}`, zip.Deflate}, {"d/", "", zip.Store}}, "c"))
	f.Add(buildZip(f, []zipFile{{"a.json", "stored", zip.Store}}, ""))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := walkAll(data)
		if err != nil {
			return
		}
		want, err := stdlibAll(data)
		if err != nil {
			return
		}
		if !slices.Equal(got, want) {
			t.Errorf("walkZip =\n%q\narchive/zip =\n%q", got, want)
		}
	})
}
