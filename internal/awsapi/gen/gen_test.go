package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// TestGeneratedFilesAreFresh regenerates from the model and the overlay and
// compares with the committed files, so a hand edit or a stale generation
// fails here as well as in CI's `go generate && git diff --exit-code`.
func TestGeneratedFilesAreFresh(t *testing.T) {
	model, err := findModel()
	if err != nil {
		t.Skipf("the API model cannot be downloaded here (%v); the generated files are not checked", err)
	}
	files, skipped, err := generate(model, "overlay.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) > 0 {
		t.Errorf("patterns skipped: %+v", skipped)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Errorf("%s: %v (run go generate ./internal/awsapi)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale or edited by hand: run go generate ./internal/awsapi", name)
		}
	}
	onDisk, _ := filepath.Glob(filepath.Join("..", "*_gen.go"))
	for _, p := range onDisk {
		if _, ok := files[filepath.Base(p)]; !ok {
			t.Errorf("%s is not produced by the generator any more; delete it", p)
		}
	}
	// Determinism: a second run is byte for byte the same.
	again, _, err := generate(model, "overlay.json")
	if err != nil {
		t.Fatal(err)
	}
	for name := range files {
		if !bytes.Equal(files[name], again[name]) {
			t.Errorf("%s differs between two runs", name)
		}
	}
}

func TestTranslatePattern(t *testing.T) {
	tests := []struct {
		src           string
		match, reject string
		accept        []string
		refuse        []string
	}{
		{src: `^[0-9]+\.[0-9]+\.[0-9]+$`, match: `^(?:^[0-9]+\.[0-9]+\.[0-9]+$)$`, accept: []string{"1.2.3"}, refuse: []string{"1.2", "a1.2.3"}},
		{src: `[^\x00]+`, match: `^(?:[^\x00]+)$`, accept: []string{"abc"}, refuse: []string{"a\x00b"}},
		{src: `^(?!aws:)[a-zA-Z+-=._:/]+$`, match: `^(?:^[a-zA-Z+-=._:/]+$)$`, reject: `^(?:aws:)`, accept: []string{"Name", "x:aws:"}, refuse: []string{"aws:x"}},
		{src: `^[a-zA-Z]{1,1024}$`, match: `^(?:^[a-zA-Z]{1,1000}[a-zA-Z]{0,24}$)$`},
		{src: `^String|Integer|Boolean|StringList$`, match: `^(?:^String|Integer|Boolean|StringList$)$`, accept: []string{"Integer", "StringList"}, refuse: []string{"Integers"}},
	}
	for _, tc := range tests {
		match, reject, err := translatePattern(tc.src)
		if err != nil || match != tc.match || reject != tc.reject {
			t.Errorf("translatePattern(%s) = %q, %q, %v; want %q, %q", tc.src, match, reject, err, tc.match, tc.reject)
			continue
		}
		re := regexp.MustCompile(match)
		var rej *regexp.Regexp
		if reject != "" {
			rej = regexp.MustCompile(reject)
		}
		ok := func(s string) bool { return re.MatchString(s) && (rej == nil || !rej.MatchString(s)) }
		for _, s := range tc.accept {
			if !ok(s) {
				t.Errorf("%s refuses %q", tc.src, s)
			}
		}
		for _, s := range tc.refuse {
			if ok(s) {
				t.Errorf("%s accepts %q", tc.src, s)
			}
		}
	}
	for _, bad := range []string{`^(?!(a|b))x$`, `(?<=a)b`, `a{5000}`, `[a]{1,3000}`} {
		if _, _, err := translatePattern(bad); err == nil {
			t.Errorf("translatePattern(%s) should fail", bad)
		}
	}
}

func TestEnumConst(t *testing.T) {
	for _, tc := range []struct{ shape, value, want string }{
		{"Platform", "Linux", "PlatformLinux"},
		{"Platform", "macOS", "PlatformMacOS"},
		{"BuildType", "USER_INITIATED", "BuildTypeUserInitiated"},
		{"Ownership", "ThirdParty", "OwnershipThirdParty"},
		{"Ownership", "AWSMarketplace", "OwnershipAWSMarketplace"},
		{"EbsVolumeType", "gp2", "EbsVolumeTypeGp2"},
		{"SsmParameterDataType", "aws:ec2:image", "SsmParameterDataTypeAwsEc2Image"},
	} {
		if got := enumConst(tc.shape, tc.value); got != tc.want {
			t.Errorf("enumConst(%s, %s) = %s, want %s", tc.shape, tc.value, got, tc.want)
		}
	}
}

// TestOverlayMerge checks the merge rules on a tiny model.
func TestOverlayMerge(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "api-2.json")
	overlay := filepath.Join(dir, "overlay.json")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(model, `{"operations":{"Op":{"name":"Op","http":{"method":"PUT","requestUri":"/Op"},"input":{"shape":"In"},"output":{"shape":"Out"},"errors":[{"shape":"E1"}]}},
	"shapes":{"In":{"type":"structure","required":["a"],"members":{"a":{"shape":"S"},"b":{"shape":"S"}}},"Out":{"type":"structure","members":{}},
	"S":{"type":"string","max":36},"En":{"type":"string","enum":["A","B"]},
	"E1":{"type":"structure","members":{"message":{"shape":"S"}},"error":{"httpStatusCode":400},"exception":true}}}`)
	write(overlay, `{"operations":{"Op":{"errors":[{"shape":"E2"},{"shape":"E1"}]},
	"New":{"name":"New","http":{"method":"POST","requestUri":"/New"},"input":{"shape":"In"},"output":{"shape":"Out"},"errors":[]}},
	"shapes":{"S":{"max":64},"En":{"enum":["C","A"]},"In":{"required":["c"],"members":{"c":{"shape":"En"},"a":{"shape":"En"}}},
	"E2":{"type":"structure","members":{"message":{"shape":"S"}},"error":{"httpStatusCode":412},"exception":true}}}`)
	a, err := load(model, overlay)
	if err != nil {
		t.Fatal(err)
	}
	if got := *a.Shapes["S"].Max; got != 64 {
		t.Errorf("max = %v", got)
	}
	if got := a.Shapes["En"].Enum; !slices.Equal(got, []string{"A", "B", "C"}) {
		t.Errorf("enum = %v", got)
	}
	in := a.Shapes["In"]
	var names []string
	for _, m := range in.Members {
		names = append(names, m.Name+":"+m.Shape)
	}
	if !slices.Equal(names, []string{"a:En", "b:S", "c:En"}) || !slices.Equal(in.Required, []string{"a", "c"}) {
		t.Errorf("members %v required %v", names, in.Required)
	}
	op := a.Operations["Op"]
	if len(op.Errors) != 2 || op.Errors[1].Shape != "E2" || !op.inV1 || op.HTTP.Method != "PUT" {
		t.Errorf("Op = %+v", op)
	}
	if a.Operations["New"].inV1 {
		t.Error("New comes from the overlay")
	}
	// An overlay naming an unknown shape is refused.
	write(overlay, `{"shapes":{"In":{"members":{"d":{"shape":"Nope"}}}}}`)
	if _, err := load(model, overlay); err == nil {
		t.Error("unknown shape accepted")
	}
	// So is a key the generator does not understand.
	write(overlay, `{"shapes":{"S":{"timestampFormat":"iso8601"}}}`)
	if _, err := load(model, overlay); err == nil {
		t.Error("unknown key accepted")
	}
}
