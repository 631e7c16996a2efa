package arn

import (
	"errors"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/semver"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want ARN
	}{
		{"arn:aws:imagebuilder:us-east-1:123456789012:component/hello/1.0.0/1",
			ARN{"aws", "us-east-1", "123456789012", TypeComponent, "hello", "1.0.0", 1}},
		{"arn:aws:imagebuilder:us-east-1:123456789012:component/hello/1.0.0",
			ARN{"aws", "us-east-1", "123456789012", TypeComponent, "hello", "1.0.0", 0}},
		{"arn:aws:imagebuilder:us-east-1:123456789012:component/hello",
			ARN{"aws", "us-east-1", "123456789012", TypeComponent, "hello", "", 0}},
		{"arn:aws:imagebuilder:us-east-1:aws:component/update-linux/x.x.x",
			ARN{"aws", "us-east-1", "aws", TypeComponent, "update-linux", "x.x.x", 0}},
		{"arn:aws:imagebuilder:us-west-2:aws:image/amazon-linux-2-x86/2022.6.14/1",
			ARN{"aws", "us-west-2", "aws", TypeImage, "amazon-linux-2-x86", "2022.6.14", 1}},
		{"arn:aws:imagebuilder:us-east-1:third-party:component/cis-benchmark-level-1-amazon-linux/x.x.x",
			ARN{"aws", "us-east-1", "third-party", TypeComponent, "cis-benchmark-level-1-amazon-linux", "x.x.x", 0}},
		{"arn:aws:imagebuilder:eu-west-2:111122223333:image-recipe/base-windows-server-2012/0.0.2",
			ARN{"aws", "eu-west-2", "111122223333", TypeImageRecipe, "base-windows-server-2012", "0.0.2", 0}},
		{"arn:aws:imagebuilder:us-east-1:123456789012:container-recipe/my_recipe/1.2.x",
			ARN{"aws", "us-east-1", "123456789012", TypeContainerRecipe, "my_recipe", "1.2.x", 0}},
		{"arn:aws-us-gov:imagebuilder:us-gov-west-1:123456789012:image-pipeline/nightly",
			ARN{"aws-us-gov", "us-gov-west-1", "123456789012", TypeImagePipeline, "nightly", "", 0}},
		{"arn:aws-iso-b:imagebuilder:us-isob-east-1:123456789012:infrastructure-configuration/infra",
			ARN{"aws-iso-b", "us-isob-east-1", "123456789012", TypeInfrastructureConfiguration, "infra", "", 0}},
		{"arn:aws-cn:imagebuilder:cn-north-1:123456789012:distribution-configuration/dist",
			ARN{"aws-cn", "cn-north-1", "123456789012", TypeDistributionConfiguration, "dist", "", 0}},
		{"arn:aws:imagebuilder:us-east-1:123456789012:lifecycle-policy/cleanup",
			ARN{"aws", "us-east-1", "123456789012", TypeLifecyclePolicy, "cleanup", "", 0}},
		{"arn:aws:imagebuilder:us-east-1:aws:workflow/build/build-image/x.x.x",
			ARN{"aws", "us-east-1", "aws", TypeWorkflowBuild, "build-image", "x.x.x", 0}},
		{"arn:aws:imagebuilder:us-east-1:123456789012:workflow/test/t/1.0.0/2",
			ARN{"aws", "us-east-1", "123456789012", TypeWorkflowTest, "t", "1.0.0", 2}},
		{"arn:aws:imagebuilder:us-east-1:aws-marketplace:workflow/distribution/d/1.x.x",
			ARN{"aws", "us-east-1", "aws-marketplace", TypeWorkflowDistribution, "d", "1.x.x", 0}},
		// Leading zeros are accepted and canonicalised.
		{"arn:aws:imagebuilder:us-east-1:123456789012:component/c/01.0.0/007",
			ARN{"aws", "us-east-1", "123456789012", TypeComponent, "c", "1.0.0", 7}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) =\n%#v, %v\nwant %#v", tt.in, got, err, tt.want)
			continue
		}
		if err := got.Validate(); err != nil {
			t.Errorf("Validate(%q) = %v", tt.in, err)
		}
		if !strings.Contains(tt.in, "/0") && got.String() != tt.in {
			t.Errorf("String() = %q, want %q", got.String(), tt.in)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const acct = "123456789012"
	tests := []struct {
		in, wantErr string
	}{
		{"", "want arn:partition:imagebuilder:region:owner:type/name"},
		{"arn:aws:imagebuilder:us-east-1:" + acct, "want arn:"},
		{"urn:aws:imagebuilder:us-east-1:" + acct + ":component/c", "want arn:"},
		{"arn:aws:ec2:us-east-1:" + acct + ":component/c", `service is "ec2"`},
		{"arn:azure:imagebuilder:us-east-1:" + acct + ":component/c", `partition "azure"`},
		{"arn:aws-:imagebuilder:us-east-1:" + acct + ":component/c", `partition "aws-"`},
		{"arn:AWS:imagebuilder:us-east-1:" + acct + ":component/c", `partition "AWS"`},
		{"arn:aws:imagebuilder::" + acct + ":component/c", `region ""`},
		{"arn:aws:imagebuilder:local:" + acct + ":component/c", `region "local"`},
		{"arn:aws:imagebuilder:us-east:" + acct + ":component/c", `region "us-east"`},
		{"arn:aws:imagebuilder:US-east-1:" + acct + ":component/c", `region "US-east-1"`},
		{"arn:aws:imagebuilder:us-east-1:12345:component/c", `owner "12345"`},
		{"arn:aws:imagebuilder:us-east-1:amazon:component/c", `owner "amazon"`},
		{"arn:aws:imagebuilder:us-east-1:aws-:component/c", `owner "aws-"`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":widget/c", `unknown resource type "widget"`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":workflow/deploy/c/1.0.0/1", `unknown resource type "workflow/deploy"`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":workflow", `unknown resource type "workflow/"`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component", "name is empty"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/", "name is empty"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/Hello", `name "Hello" may contain only`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/a b", `name "a b"`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/a:b", `name "a:b"`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/", `version: "": want three nodes`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/1.0", `version: "1.0": want three nodes, got 2`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/x.1.x", "follows a wildcard"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/1.0.x/3", "build number cannot follow the wildcard version 1.0.x"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/1.0.0/0", "build number must be at least 1"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/1.0.0/*", "not a decimal number"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/1.0.0/", "build number is empty"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/1.0.0/1/2", `"1/2" is not a decimal number`},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":image-recipe/r/1.0.0/1", "image-recipe ARNs carry no build number"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":image-pipeline/p/1.0.0", "image-pipeline ARNs carry no version"},
		{"arn:aws:imagebuilder:us-east-1:" + acct + ":component/c/99999999999.0.0", "exceeds the maximum"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %v, %v; want ErrInvalid containing %q", tt.in, got, err, tt.wantErr)
		}
	}
}

func TestParseErrorMessage(t *testing.T) {
	_, err := Parse("arn:aws:imagebuilder:us-east-1:123456789012:component/c/1.0")
	want := `invalid Image Builder ARN "arn:aws:imagebuilder:us-east-1:123456789012:component/c/1.0": version: "1.0": want three nodes, got 2`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestNew(t *testing.T) {
	a := New("aws", "us-east-1", "123456789012", TypeComponent, "My Example_Component").WithVersion("1.0.0").WithBuild(3)
	if got, want := a.String(), "arn:aws:imagebuilder:us-east-1:123456789012:component/my-example-component/1.0.0/3"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if err := a.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	if got, want := a.WithBuild(0).String(), "arn:aws:imagebuilder:us-east-1:123456789012:component/my-example-component/1.0.0"; got != want {
		t.Errorf("WithBuild(0) = %q, want %q", got, want)
	}
	if got := a.WithVersion(""); got.Build != 0 || got.String() != "arn:aws:imagebuilder:us-east-1:123456789012:component/my-example-component" {
		t.Errorf("WithVersion(\"\") = %#v", got)
	}
	if got, want := a.WithVersion("1.x.x").WithBuild(0).String(), "arn:aws:imagebuilder:us-east-1:123456789012:component/my-example-component/1.x.x"; got != want {
		t.Errorf("wildcard = %q, want %q", got, want)
	}
}

func TestValidate(t *testing.T) {
	base := New("aws", "us-east-1", "123456789012", TypeComponent, "c")
	tests := []struct {
		a       ARN
		wantErr string
	}{
		{base, ""},
		{base.WithVersion("1.0.0").WithBuild(1), ""},
		{base.WithVersion("01.0.0"), `version "01.0.0" is not canonical, want "1.0.0"`},
		{base.WithVersion("1.x.x").WithBuild(1), "cannot follow the wildcard"},
		{base.WithBuild(1), "a build number needs a version"},
		{base.WithVersion("1.0.0").WithBuild(-1), "out of range"},
		{base.WithVersion("1.0.0").WithBuild(semver.MaxNode + 1), "out of range"},
		{base.WithVersion("bad"), "version:"},
		{New("aws", "us-east-1", "123456789012", TypeImageRecipe, "r").WithVersion("1.0.0").WithBuild(1), "carry no build number"},
		{New("aws", "us-east-1", "123456789012", TypeImagePipeline, "p").WithVersion("1.0.0"), "carry no version"},
		{New("aws", "us-east-1", "123456789012", "widget", "w"), "unknown resource type"},
		{New("aws", "us-east-1", "123456789012", TypeComponent, "né"), "may contain only"},
		{New("aws", "us-east-1", "123456789012", TypeComponent, ""), "name is empty"},
		{New("aws", "local", "123456789012", TypeComponent, "c"), "region"},
		{ARN{}, "partition"},
	}
	for _, tt := range tests {
		err := tt.a.Validate()
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("Validate(%v) = %v", tt.a, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%v) = %v, want ErrInvalid containing %q", tt.a, err, tt.wantErr)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"My Example Image", "my-example-image"},
		{"my_component", "my-component"},
		{"MiXeD-Case_and Space", "mixed-case-and-space"},
		{"already-normal-123", "already-normal-123"},
		{"\u212Aelvin", "\u212Aelvin"}, // Kelvin sign is not ASCII; left for Validate to reject
		{"Ünïcode", "Ünïcode"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeName(tt.in); got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := NormalizeName(NormalizeName(tt.in)); got != NormalizeName(tt.in) {
			t.Errorf("NormalizeName is not idempotent on %q", tt.in)
		}
	}
}

func TestVersionedTypes(t *testing.T) {
	tests := []struct {
		typ              string
		versioned, build bool
	}{
		{TypeComponent, true, true},
		{TypeImage, true, true},
		{TypeWorkflowBuild, true, true},
		{TypeWorkflowTest, true, true},
		{TypeWorkflowDistribution, true, true},
		{TypeImageRecipe, true, false},
		{TypeContainerRecipe, true, false},
		{TypeImagePipeline, false, false},
		{TypeInfrastructureConfiguration, false, false},
		{TypeDistributionConfiguration, false, false},
		{TypeLifecyclePolicy, false, false},
		{"workflow", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		if Versioned(tt.typ) != tt.versioned || BuildVersioned(tt.typ) != tt.build {
			t.Errorf("%q: Versioned=%v BuildVersioned=%v, want %v %v", tt.typ, Versioned(tt.typ), BuildVersioned(tt.typ), tt.versioned, tt.build)
		}
	}
}

func TestFilter(t *testing.T) {
	tests := []struct {
		in       string
		filter   string
		ok       bool
		exact    string
		wildcard bool
	}{
		{"arn:aws:imagebuilder:us-east-1:aws:component/c/x.x.x", "x.x.x", true, "", true},
		{"arn:aws:imagebuilder:us-east-1:aws:component/c/1.2.x", "1.2.x", true, "", true},
		{"arn:aws:imagebuilder:us-east-1:aws:component/c/1.2.3/4", "1.2.3", true, "1.2.3", false},
		{"arn:aws:imagebuilder:us-east-1:aws:component/c", "", false, "", false},
	}
	for _, tt := range tests {
		a := MustParse(tt.in)
		f, ok := a.Filter()
		if ok != tt.ok || (ok && f.String() != tt.filter) {
			t.Errorf("%s: Filter() = %v, %v; want %s, %v", tt.in, f, ok, tt.filter, tt.ok)
		}
		v, ok := a.SemanticVersion()
		if (tt.exact != "") != ok || (ok && v.String() != tt.exact) {
			t.Errorf("%s: SemanticVersion() = %v, %v; want %q", tt.in, v, ok, tt.exact)
		}
		if a.IsWildcard() != tt.wildcard {
			t.Errorf("%s: IsWildcard() = %v", tt.in, a.IsWildcard())
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"arn:aws:imagebuilder:us-east-1:123456789012:component/hello/1.0.0/1",
		"arn:aws:imagebuilder:us-east-1:aws:workflow/build/build-image/x.x.x",
		"arn:aws-us-gov:imagebuilder:us-gov-west-1:third-party:image/x/01.0.0",
		"arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/p",
		"arn:aws:imagebuilder:us-east-1:123456789012:component/c/1.0.x/3",
		"arn:aws:imagebuilder:us-east-1:aws-x:lifecycle-policy/p/1",
		"arn:::::", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("Parse(%q) = %#v, which does not validate: %v", s, a, err)
		}
		again, err := Parse(a.String())
		if err != nil || again != a {
			t.Fatalf("Parse(String()) of %q = %#v, %v; want %#v", s, again, err, a)
		}
	})
}
