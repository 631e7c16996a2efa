package guest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// roundTrips are requests as the engine builds them, with the argument
// lists they must produce.
var roundTrips = []struct {
	name string
	req  Request
	args []string
}{
	{"run as a user", RunRequest{User: "app", Argv: []string{"/bin/sh", "-c", "id -u"}},
		[]string{"run", "--user", "app", "--", "/bin/sh", "-c", "id -u"}},
	{"run as root", RunRequest{Argv: []string{"true"}}, []string{"run", "--", "true"}},
	{"run a command that looks like a flag", RunRequest{User: "1000:1000", Argv: []string{"--help", "--", "-x"}},
		[]string{"run", "--user", "1000:1000", "--", "--help", "--", "-x"}},
	{"copy one file", CopyRequest{Sources: []string{"/.kiln/docs/a.txt"}, Dest: "/etc/a.txt"},
		[]string{"copy", "--", "/.kiln/docs/a.txt", "/etc/a.txt"}},
	{"copy with owner and mode", CopyRequest{Sources: []string{"/s/a", "/s/b"}, Dest: "-odd/", Chown: "app:app", Chmod: "0755"},
		[]string{"copy", "--chown", "app:app", "--chmod", "0755", "--", "/s/a", "/s/b", "-odd/"}},
	{"add, unpacking archives", CopyRequest{Sources: []string{"/s/a.tar.gz"}, Dest: "/opt/", Extract: true},
		[]string{"copy", "--extract", "--", "/s/a.tar.gz", "/opt/"}},
	{"mkdir", MkdirRequest{Dir: "/srv/app"}, []string{"mkdir", "--", "/srv/app"}},
	{"mkdir of a dash name", MkdirRequest{Dir: "-v"}, []string{"mkdir", "--", "-v"}},
	{"sanitize", SanitizeRequest{WorkingDir: "/tmp/work"}, []string{"sanitize", "--working-dir", "/tmp/work"}},
	{"sanitize with user data", SanitizeRequest{WorkingDir: "/w", UserData: true},
		[]string{"sanitize", "--working-dir", "/w", "--user-data"}},
	{"inventory", InventoryRequest{}, []string{"inventory"}},
	{"agent on the default port", AgentRequest{}, []string{"guest"}},
	{"agent on a port", AgentRequest{Port: "/dev/vport0p1"}, []string{"guest", "--port", "/dev/vport0p1"}},
}

func TestProtocolRoundTrip(t *testing.T) {
	for _, tt := range roundTrips {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.req.Args()
			if !reflect.DeepEqual(args, tt.args) {
				t.Errorf("Args() = %q, want %q", args, tt.args)
			}
			got, err := Parse(args)
			if err != nil {
				t.Fatalf("Parse(%q): %v", args, err)
			}
			if !reflect.DeepEqual(got, tt.req) {
				t.Errorf("Parse(%q) = %#v, want %#v", args, got, tt.req)
			}
			argv := Argv("/.kiln/kiln", tt.req)
			if argv[0] != "/.kiln/kiln" || argv[1] != Subcommand || !reflect.DeepEqual(argv[2:], args) {
				t.Errorf("Argv = %q", argv)
			}
		})
	}
}

// TestParseAccepts covers lists the engine does not write but an older or
// hand-written caller may: flags in other spellings, defaults.
func TestParseAccepts(t *testing.T) {
	tests := []struct {
		args []string
		want Request
	}{
		{[]string{"run", "--user=app", "ls"}, RunRequest{User: "app", Argv: []string{"ls"}}},
		{[]string{"copy", "-chmod", "600", "/a", "/b"}, CopyRequest{Sources: []string{"/a"}, Dest: "/b", Chmod: "600"}},
		{[]string{"mkdir", "/x"}, MkdirRequest{Dir: "/x"}},
		{[]string{"sanitize"}, SanitizeRequest{WorkingDir: "/tmp"}},
		{[]string{"guest", "--port=org.kiln.agent"}, AgentRequest{Port: "org.kiln.agent"}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.args)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, %v; want %#v", tt.args, got, err, tt.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		says string // the error names what is wrong
	}{
		{"nothing", nil, "no verb"},
		{"unknown verb", []string{"format-disk"}, `unknown verb "format-disk"`},
		{"run without a command", []string{"run", "--user", "app", "--"}, "no command"},
		{"run with a missing flag value", []string{"run", "--user"}, "user"},
		{"run with an unknown flag", []string{"run", "--group", "x", "ls"}, "group"},
		{"copy without a destination", []string{"copy", "--", "/a"}, "destination"},
		{"mkdir of two directories", []string{"mkdir", "/a", "/b"}, "one directory"},
		{"mkdir of nothing", []string{"mkdir"}, "one directory"},
		{"sanitize with an argument", []string{"sanitize", "/w"}, "no arguments"},
		{"inventory with an argument", []string{"inventory", "x"}, "no arguments"},
		{"agent with an unknown flag", []string{"guest", "--bogus", "x"}, "bogus"},
		{"help", []string{"copy", "-h"}, "copy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.args)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want an error", tt.args, got)
			}
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.says) {
				t.Errorf("Parse(%q) error = %v, want ErrUsage mentioning %q", tt.args, err, tt.says)
			}
		})
	}
}

// FuzzParse: Parse never panics, and whatever it accepts it reads back
// the same from the request's own Args.
func FuzzParse(f *testing.F) {
	for _, tt := range roundTrips {
		f.Add(strings.Join(tt.args, "\x00"))
	}
	f.Add("run\x00--user=\x00-x")
	f.Add("sanitize\x00--working-dir=\x00--user-data=false")
	f.Add("copy\x00--chown\x00--\x00a\x00b")
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x00")
		req, err := Parse(args)
		if err != nil {
			if req != nil || !errors.Is(err, ErrUsage) {
				t.Fatalf("Parse(%q) = %#v, %v", args, req, err)
			}
			return
		}
		again, err := Parse(req.Args())
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("Parse(%q) = %#v, but Parse(its Args %q) = %#v, %v", args, req, req.Args(), again, err)
		}
	})
}
