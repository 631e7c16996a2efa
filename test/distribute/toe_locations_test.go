package distribute

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/kilntest"
	"github.com/kiln-build/kiln/internal/s3gw"
)

// toeDoc is a one-step document that says where it was read from.
func toeDoc(name, say string) string {
	return "name: " + name + `
schemaVersion: 1.0
parameters:
  - who:
      type: string
      default: nobody
phases:
  - name: build
    steps:
      - name: Say
        action: ExecuteBash
        inputs:
          commands: ["echo '` + say + ` for {{ who }}'"]
`
}

// runKilnToe runs `kiln toe ARGS` as creds and returns its exit code and
// output.
func runKilnToe(t *testing.T, creds kilntest.Creds, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(kilntest.Binary(t), append([]string{"toe"}, args...)...)
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey, "AWS_SESSION_TOKEN=",
		"AWS_PROFILE=", "AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=us-east-1", "KILN_ENDPOINT=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// TestToeDocumentLocations runs and validates documents from the places
// awstoe reads them besides local files: s3://bucket/key (in --documents,
// in --config, and as the --config file itself) through an S3 endpoint,
// component ARNs through kiln's GetComponent with the caller's
// credentials, and both as ExecuteDocument targets. Another account's
// component and a bucket of another owner are refused.
func TestToeDocumentLocations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The gateway knows alice's key: kiln toe signs for kiln and S3 alike.
	s3 := s3gw.StartAs(t, alice.AccessKeyID, alice.SecretAccessKey)
	s3.Put("docs", "hello.yaml", []byte(toeDoc("hello", "from s3")))
	comp, err := f.alice.CreateComponent(kilntest.Context(t), &imagebuilder.CreateComponentInput{
		Name: aws.String("greet"), SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
		Data: aws.String(toeDoc("greet", "from a component")),
	})
	if err != nil {
		t.Fatal(err)
	}
	arn := *comp.ComponentBuildVersionArn
	s3.Put("docs", "config.json", []byte(`{"documents":[{"path":"s3://docs/hello.yaml","parameters":[{"name":"who","value":"config"}]},{"path":"`+arn+`"}],"phases":"build"}`))
	dir := t.TempDir()
	parent := filepath.Join(dir, "parent.yaml")
	if err := os.WriteFile(parent, []byte(`name: parent
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: FromS3
        action: ExecuteDocument
        inputs:
          document: s3://docs/hello.yaml
          parameters:
            - name: who
              value: nested
      - name: FromComponent
        action: ExecuteDocument
        inputs:
          document: `+arn+`
`), 0o644); err != nil {
		t.Fatal(err)
	}
	remote := []string{"--s3-endpoint", s3.URL, "--s3-path-style", "--endpoint", f.srv.URL}

	cases := []struct {
		name   string
		creds  kilntest.Creds
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"documents", alice, []string{"run", "--documents", "s3://docs/hello.yaml," + arn, "--parameters", "who=flags"},
			0, []string{"from s3 for flags", "from a component for flags"}, ""},
		{"config in s3", alice, []string{"run", "--config", "s3://docs/config.json"},
			0, []string{"from s3 for config", "from a component for nobody"}, ""},
		{"execute document", alice, []string{"run", "--documents", parent},
			0, []string{"from s3 for nested", "from a component for nobody"}, ""},
		{"validate", alice, []string{"validate", "--documents", "s3://docs/hello.yaml," + arn + "," + parent},
			0, []string{"s3://docs/hello.yaml: valid", arn + ": valid"}, ""},
		{"expected bucket owner", alice, []string{"run", "--documents", "s3://docs/hello.yaml", "--document-s3-bucket-owner", alice.AccessKeyID},
			0, []string{"from s3 for nobody"}, ""},
		{"another bucket owner", alice, []string{"run", "--documents", "s3://docs/hello.yaml", "--document-s3-bucket-owner", "999999999999"},
			1, nil, "AccessDenied"},
		{"missing object", alice, []string{"run", "--documents", "s3://docs/absent.yaml"},
			1, nil, "s3://docs/absent.yaml"},
		{"another account's component", bob, []string{"run", "--documents", arn},
			1, nil, "ResourceNotFoundException"},
		{"not a component ARN", alice, []string{"run", "--documents", strings.Replace(arn, "component/", "workflow/build/", 1)},
			1, nil, "is not a component ARN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			work := t.TempDir()
			args := tc.args
			if args[0] == "run" {
				args = append([]string{"run", "--log-directory", work, "--cwd", work}, args[1:]...)
			}
			code, out, errOut := runKilnToe(t, tc.creds, append(args, remote...)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", s, out, errOut)
				}
			}
			if !strings.Contains(errOut, tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, errOut)
			}
		})
	}
}
