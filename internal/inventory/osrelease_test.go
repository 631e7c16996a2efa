package inventory

import (
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
)

const al2023OSRelease = `NAME="Amazon Linux"
VERSION="2023"
ID="amzn"
ID_LIKE="fedora"
VERSION_ID="2023"
PLATFORM_ID="platform:al2023"
PRETTY_NAME="Amazon Linux 2023.6.20241010"
ANSI_COLOR="0;33"
CPE_NAME="cpe:2.3:o:amazon:amazon_linux:2023"
HOME_URL="https://aws.amazon.com/linux/amazon-linux-2023/"
`

func TestReadOS(t *testing.T) {
	tests := []struct {
		name    string
		root    fstest.MapFS
		want    OS
		wantErr error
	}{
		{
			name: "etc",
			root: fstest.MapFS{"etc/os-release": {Data: []byte(al2023OSRelease)}},
			want: OS{ID: "amzn", VersionID: "2023", Name: "Amazon Linux", PrettyName: "Amazon Linux 2023.6.20241010", IDLike: "fedora"},
		},
		{
			name: "usr lib fallback",
			root: fstest.MapFS{"usr/lib/os-release": {Data: []byte("ID=alpine\nVERSION_ID=3.19.1\nNAME=\"Alpine Linux\"\n")}},
			want: OS{ID: "alpine", VersionID: "3.19.1", Name: "Alpine Linux"},
		},
		{
			name: "etc wins",
			root: fstest.MapFS{
				"etc/os-release":     {Data: []byte("ID=debian\n")},
				"usr/lib/os-release": {Data: []byte("ID=ubuntu\n")},
			},
			want: OS{ID: "debian"},
		},
		{
			name: "link as on Debian",
			root: fstest.MapFS{
				"etc/os-release":     symlink("../usr/lib/os-release"),
				"usr/lib/os-release": {Data: []byte("ID=debian\nVERSION_ID=\"12\"\n")},
			},
			want: OS{ID: "debian", VersionID: "12"},
		},
		{
			name: "link out of the root is read inside it",
			root: fstest.MapFS{
				"etc/os-release":     symlink("../../../../usr/lib/os-release"),
				"usr/lib/os-release": {Data: []byte("ID=inside\n")},
			},
			want: OS{ID: "inside"},
		},
		{
			name:    "scratch",
			root:    fstest.MapFS{"bin/app": {Data: []byte{0x7f}}},
			wantErr: fs.ErrNotExist,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadOS(tt.root)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ReadOS = %+v, %v; want error %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ReadOS = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseOSReleaseQuoting(t *testing.T) {
	got := parseOSRelease(`# comment
A=bare
B="double \"quoted\" \$HOME \\ \x"
C='single $x'
 D = "spaces around are not assignments"
E=
=novalue
F="unterminated
`)
	want := map[string]string{
		"A": "bare",
		"B": `double "quoted" $HOME \ \x`,
		"C": "single $x",
		"E": "",
		"F": `"unterminated`,
	}
	if len(got) != len(want) {
		t.Errorf("got %d vars %q, want %d", len(got), got, len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestImageBuilderVersion(t *testing.T) {
	tests := []struct {
		os   OS
		want string
	}{
		{OS{ID: "amzn", VersionID: "2023", Name: "Amazon Linux"}, "Amazon Linux 2023"},
		{OS{ID: "amzn", VersionID: "2", Name: "Amazon Linux"}, "Amazon Linux 2"},
		{OS{ID: "ubuntu", VersionID: "22.04", Name: "Ubuntu"}, "Ubuntu 22"},
		{OS{ID: "ubuntu", VersionID: "24.04", Name: "Ubuntu"}, "Ubuntu 24"},
		{OS{ID: "debian", VersionID: "12", Name: "Debian GNU/Linux"}, "Debian 12"},
		{OS{ID: "debian", Name: "Debian GNU/Linux", PrettyName: "Debian GNU/Linux trixie/sid"}, "Debian"},
		{OS{ID: "rhel", VersionID: "9.4", Name: "Red Hat Enterprise Linux"}, "Red Hat Enterprise Linux 9"},
		{OS{ID: "sles", VersionID: "15.5", Name: "SLES"}, "SLES 15"},
		{OS{ID: "centos", VersionID: "7", Name: "CentOS Linux"}, "CentOS 7"},
		{OS{ID: "centos", VersionID: "9", Name: "CentOS Stream"}, "CentOS Stream 9"},
		{OS{ID: "fedora", VersionID: "40", Name: "Fedora Linux"}, "Fedora 40"},
		{OS{ID: "rocky", VersionID: "9.3", Name: "Rocky Linux"}, "Rocky Linux 9"},
		{OS{ID: "alpine", VersionID: "3.19.1", Name: "Alpine Linux"}, "Alpine Linux 3.19"},
		{OS{ID: "wolfi", VersionID: "20230201", Name: "Wolfi"}, "Wolfi 20230201"},
		{OS{ID: "arch", Name: "Arch Linux"}, "Arch Linux"},
		{OS{ID: "mystery", VersionID: "1.0"}, "Linux 1"},
		{OS{}, ""},
	}
	for _, tt := range tests {
		if got := tt.os.ImageBuilderVersion(); got != tt.want {
			t.Errorf("%+v.ImageBuilderVersion() = %q, want %q", tt.os, got, tt.want)
		}
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add(al2023OSRelease)
	f.Add("A=\"\\\n")
	f.Add("ID='x'\nVERSION_ID=\"1.2\"\n")
	f.Fuzz(func(t *testing.T, text string) {
		vars := parseOSRelease(text)
		o := OS{ID: vars["ID"], VersionID: vars["VERSION_ID"], Name: vars["NAME"]}
		_ = o.ImageBuilderVersion()
	})
}
