package guest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestSanitize runs the cleanup over a temporary tree standing in for
// "/" by rewriting the section globs; each case checks which files stay.
func TestSanitize(t *testing.T) {
	for _, tc := range []struct {
		name     string
		markers  []string
		userData bool
		gone     []string
		kept     []string
	}{
		{name: "everything", gone: []string{"etc/ssh/ssh_host_rsa_key", "work/TOE_2026", "var/lib/cloud/instance"}, kept: []string{"etc/ssh/sshd_config"}},
		{name: "ssh skipped", markers: []string{"skip_cleanup_ssh_files"}, gone: []string{"work/TOE_2026"}, kept: []string{"etc/ssh/ssh_host_rsa_key"}},
		{name: "user data", userData: true, kept: []string{"etc/ssh/ssh_host_rsa_key", "work/TOE_2026"}},
		{name: "user data, forced", userData: true, markers: []string{"perform_cleanup"}, gone: []string{"etc/ssh/ssh_host_rsa_key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range []string{"etc/ssh/ssh_host_rsa_key", "etc/ssh/sshd_config", "work/TOE_2026/console.log", "var/lib/cloud/instance/x", "etc/machine-id"} {
				os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755)
				os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644)
			}
			for _, m := range tc.markers {
				os.WriteFile(filepath.Join(root, "work", m), nil, 0o644)
			}
			saved := cleanupSections
			defer func() { cleanupSections = saved }()
			cleanupSections = nil
			for _, s := range saved {
				c := s
				c.remove, c.truncate = prefix(root, s.remove), prefix(root, s.truncate)
				cleanupSections = append(cleanupSections, c)
			}
			var out bytes.Buffer
			if err := Sanitize(filepath.Join(root, "work"), tc.userData, &out); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.gone {
				if _, err := os.Stat(filepath.Join(root, f)); err == nil {
					t.Errorf("%s survived:\n%s", f, out.String())
				}
			}
			for _, f := range tc.kept {
				if _, err := os.Stat(filepath.Join(root, f)); err != nil {
					t.Errorf("%s was removed:\n%s", f, out.String())
				}
			}
		})
	}
}

func prefix(root string, globs []string) []string {
	var out []string
	for _, g := range globs {
		if len(g) > 0 && g[0] == '/' {
			g = root + g
		}
		out = append(out, g)
	}
	return out
}
