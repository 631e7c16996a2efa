package guest

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// cleanupSection is one part of the cleanup Image Builder runs on Linux
// machine images after the build; a marker file named skip in the
// recipe's working directory skips it.
type cleanupSection struct {
	skip string
	// remove are globs whose matches are deleted; truncate are globs
	// whose matches are emptied (kept, as the system expects them).
	remove, truncate []string
}

var cleanupSections = []cleanupSection{
	{skip: "skip_cleanup_cloudinit_files", remove: []string{
		"/var/lib/cloud/instances", "/var/lib/cloud/instance", "/var/lib/cloud/data", "/var/lib/cloud/sem",
		"/var/log/cloud-init.log", "/var/log/cloud-init-output.log",
	}},
	{skip: "skip_cleanup_instance_files", remove: []string{
		"/var/lib/dbus/machine-id", "/var/lib/dhclient/*", "/var/lib/dhcp/*.leases", "/root/.bash_history", "/home/*/.bash_history",
	}, truncate: []string{"/etc/machine-id"}},
	{skip: "skip_cleanup_ssh_files", remove: []string{
		"/etc/ssh/ssh_host_*_key", "/etc/ssh/ssh_host_*_key.pub", "/root/.ssh/authorized_keys", "/home/*/.ssh/authorized_keys",
	}},
	{skip: "skip_cleanup_instance_log_files", remove: []string{"/var/log/journal/*"}, truncate: []string{
		"/var/log/audit/audit.log", "/var/log/boot.log", "/var/log/dmesg", "/var/log/cron", "/var/log/messages",
		"/var/log/secure", "/var/log/wtmp", "/var/log/btmp", "/var/log/lastlog",
	}},
	{skip: "skip_cleanup_toe_files", remove: []string{"{{workingDirectory}}/TOE_*"}},
	{skip: "skip_cleanup_ssm_log_files", remove: []string{"/var/log/amazon/ssm/*"}},
}

// Sanitize runs Image Builder's Linux cleanup inside the sandbox, telling
// w what it removed. workDir is the recipe's working directory, where
// skip_cleanup_* marker files turn sections off. userData says the recipe
// overrides user data, which turns the whole cleanup off unless a
// perform_cleanup marker asks for it, as Image Builder does.
func Sanitize(workDir string, userData bool, w io.Writer) error {
	marker := func(name string) bool {
		_, err := os.Lstat(filepath.Join(workDir, name))
		return err == nil
	}
	if userData && !marker("perform_cleanup") {
		fmt.Fprintln(w, "cleanup skipped: the recipe overrides user data and there is no perform_cleanup marker")
		return nil
	}
	for _, sec := range cleanupSections {
		if marker(sec.skip) {
			fmt.Fprintf(w, "cleanup: %s marker found, section skipped\n", sec.skip)
			continue
		}
		for _, pattern := range sec.remove {
			matches, _ := filepath.Glob(strings.ReplaceAll(pattern, "{{workingDirectory}}", workDir))
			for _, m := range matches {
				if err := os.RemoveAll(m); err != nil {
					return err
				}
				fmt.Fprintf(w, "cleanup: removed %s\n", m)
			}
		}
		for _, pattern := range sec.truncate {
			matches, _ := filepath.Glob(pattern)
			for _, m := range matches {
				if fi, err := os.Lstat(m); err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
					continue
				}
				if err := os.Truncate(m, 0); err != nil {
					return err
				}
				fmt.Fprintf(w, "cleanup: emptied %s\n", m)
			}
		}
	}
	return nil
}
