package console

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kiln-build/kiln/internal/ami"
	"github.com/kiln-build/kiln/internal/store"
)

// TestAMIExport lists the AMIs an account may launch and downloads one's
// disk through the console, which bob, who may not launch it, cannot.
func TestAMIExport(t *testing.T) {
	c := startConsole(t, true)
	if err := os.MkdirAll(filepath.Join(c.dataDir, "disks"), 0o755); err != nil {
		t.Fatal(err)
	}
	disk := strings.Repeat("alice's disk ", 100)
	if err := os.WriteFile(filepath.Join(c.dataDir, "disks", "one.raw"), []byte(disk), 0o644); err != nil {
		t.Fatal(err)
	}
	const id = "ami-0123456789abcdef0"
	ctx := context.Background()
	err := c.store.Update(ctx, func(tx store.Tx) error {
		return ami.Put(ctx, tx, "us-east-1", ami.AMI{ImageID: id, Name: "alice-machine", Region: "us-east-1", AccountID: aliceAccount,
			Disk: "disks/one.raw", Size: int64(len(disk))}, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := newClient(t), newClient(t)
	c.signIn(t, alice, "AKIAALICE", "alice-secret")
	c.signIn(t, bob, "AKIABOB", "bob-secret")

	_, page := c.get(t, alice, "/console/amis")
	if !strings.Contains(page, "alice-machine") || !strings.Contains(page, `href="/console/amis/export?imageId=`+id+`&amp;format=raw"`) {
		t.Fatalf("alice's AMIs:\n%s", page)
	}
	if _, page := c.get(t, bob, "/console/amis"); strings.Contains(page, "alice-machine") || strings.Contains(page, id) {
		t.Errorf("bob's AMIs show alice's:\n%s", page)
	}

	for _, tt := range []struct {
		name   string
		client *http.Client
		query  string
		status int
	}{
		{"raw", alice, "imageId=" + id + "&format=raw", http.StatusOK},
		{"default format", alice, "imageId=" + id, http.StatusOK},
		{"bad format", alice, "imageId=" + id + "&format=iso", http.StatusBadRequest},
		{"bob", bob, "imageId=" + id + "&format=raw", http.StatusNotFound},
		{"unknown", alice, "imageId=ami-00000000000000000", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := tt.client.Get(c.URL + "/console/amis/export?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, body)
			}
			if tt.status != http.StatusOK {
				return
			}
			if string(body) != disk || resp.Header.Get("Content-Disposition") != `attachment; filename="`+id+`.img"` {
				t.Errorf("download: %q, %d bytes", resp.Header.Get("Content-Disposition"), len(body))
			}
		})
	}
}
