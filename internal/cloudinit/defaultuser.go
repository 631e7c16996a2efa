package cloudinit

import (
	"io/fs"
	"path"
	"sort"

	"go.yaml.in/yaml/v3"
)

// DefaultUser returns the user cloud-init gives the SSH keys to in the
// image whose root is fsys: system_info.default_user.name from
// /etc/cloud/cloud.cfg and then /etc/cloud/cloud.cfg.d/*.cfg in name
// order, the last that sets it winning, as cloud-init merges them
// (Debian's AMIs say admin, Amazon Linux ec2-user, Ubuntu ubuntu). It is
// "root" for an image without cloud-init, whose root account takes the
// key only if the image put it there itself, and "" when cloud-init is
// there and no file names a user. Files that do not parse are skipped:
// this only words a hint.
func DefaultUser(fsys fs.FS) string {
	base, err := fs.ReadFile(fsys, "etc/cloud/cloud.cfg")
	if err != nil {
		return "root"
	}
	user := defaultUserIn(base, "")
	names, _ := fs.Glob(fsys, "etc/cloud/cloud.cfg.d/*.cfg")
	sort.Strings(names)
	for _, n := range names {
		if b, err := fs.ReadFile(fsys, path.Clean(n)); err == nil {
			user = defaultUserIn(b, user)
		}
	}
	return user
}

// defaultUserIn returns the default user one cloud.cfg file sets, else
// prev.
func defaultUserIn(cfg []byte, prev string) string {
	var doc struct {
		SystemInfo struct {
			DefaultUser struct {
				Name string `yaml:"name"`
			} `yaml:"default_user"`
		} `yaml:"system_info"`
	}
	if len(cfg) > 1<<20 || yaml.Unmarshal(cfg, &doc) != nil {
		return prev
	}
	if n := doc.SystemInfo.DefaultUser.Name; n != "" && checkUserName(n) {
		return n
	}
	return prev
}

// checkUserName accepts the names useradd does (and that are safe to
// print in a command line).
func checkUserName(n string) bool {
	if len(n) > 32 {
		return false
	}
	for i, r := range n {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (i > 0 && (r == '-' || r == '.' || (r >= '0' && r <= '9')))
		if !ok {
			return false
		}
	}
	return true
}
