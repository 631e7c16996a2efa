package registry

import (
	"os"
	"path/filepath"
)

// removeLegacy clears what kiln kept on local disk before the registry
// moved onto package blob: tmp/ (half-ingested blobs, never acknowledged;
// at start no ingest of this process is running) and upload sessions that
// were single files under uploads/ (today's are directories of parts).
func removeLegacy(root string) {
	os.RemoveAll(filepath.Join(root, "tmp"))
	ents, _ := os.ReadDir(filepath.Join(root, "uploads"))
	for _, e := range ents {
		if e.Type().IsRegular() {
			os.Remove(filepath.Join(root, "uploads", e.Name()))
		}
	}
}
