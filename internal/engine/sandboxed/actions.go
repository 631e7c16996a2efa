package sandboxed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/kiln-build/kiln/internal/engine"
	"github.com/kiln-build/kiln/internal/sandbox"
)

// ShellDocument is the one Systems Manager document RunCommand can run
// in kiln: its commands run with /bin/sh in the instance, as SSM's
// AWS-RunShellScript runs them.
const ShellDocument = "AWS-RunShellScript"

// maxCommandOutput is how much of a command's output RunCommand
// publishes as its output, as SSM keeps the first 24,000 characters.
const maxCommandOutput = 24000

// SandboxRunner runs commands in the build's (or, with cfg from
// Config(true, …), the test instance's) sandbox.
func (in *Instance) SandboxRunner(cfg sandbox.Config) Runner {
	return func(ctx context.Context, what string, stdout, stderr io.Writer, argv ...string) error {
		c := cfg
		c.Stdout, c.Stderr = stdout, stderr
		if c.Dir == "" {
			c.Dir = "/"
		}
		if c.Env == nil {
			c.Env = in.Env
		}
		if c.Env == nil {
			c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
		}
		return in.Run(ctx, c, what, argv...)
	}
}

// shellScript reads RunCommand's inputs: documentName must be
// AWS-RunShellScript, and parameters.commands the commands (a list, or
// one string), with parameters.workingDirectory optional.
func shellScript(s *engine.Step) (script, dir string, err error) {
	doc := s.InputString("documentName")
	if doc != ShellDocument && !strings.HasSuffix(doc, ":document/"+ShellDocument) {
		return "", "", fmt.Errorf("documentName %q: kiln has no Systems Manager documents and runs only %s, whose parameters.commands run in the instance with /bin/sh", doc, ShellDocument)
	}
	params, _ := s.Input("parameters")
	m, _ := params.(map[string]any)
	var cmds []string
	switch c := m["commands"].(type) {
	case string:
		cmds = []string{c}
	case []any:
		for _, x := range c {
			str, ok := x.(string)
			if !ok {
				return "", "", fmt.Errorf("parameters.commands: each command must be a string, not %v", x)
			}
			cmds = append(cmds, str)
		}
	}
	if len(cmds) == 0 {
		return "", "", fmt.Errorf("parameters.commands: %s needs at least one command", ShellDocument)
	}
	switch d := m["workingDirectory"].(type) {
	case string:
		dir = d
	case []any:
		if len(d) > 0 {
			dir, _ = d[0].(string)
		}
	}
	return strings.Join(cmds, "\n"), dir, nil
}

// RunCommand runs a RunCommand step's shell commands through run and
// publishes runCommandId, status (Success or Failed) and output (the
// first 24,000 characters of standard output and error), as SSM does.
func RunCommand(ctx context.Context, s *engine.Step, run Runner) error {
	script, dir, err := shellScript(s)
	if err != nil {
		return err
	}
	id := make([]byte, 8)
	rand.Read(id)
	s.Outputs["runCommandId"] = "kiln-cmd-" + hex.EncodeToString(id)
	if dir != "" {
		script = "cd " + shellQuote(dir) + " || exit 1\n" + script
	}
	var out bytes.Buffer
	capture := &limitWriter{w: &out, n: maxCommandOutput}
	s.Logf("running %s in the instance", ShellDocument)
	err = run(ctx, ShellDocument, io.MultiWriter(s.Log, capture), io.MultiWriter(s.Log, capture), "/bin/sh", "-c", script)
	s.Outputs["output"] = out.String()
	if err != nil {
		s.Outputs["status"] = "Failed"
		return err
	}
	s.Outputs["status"] = "Success"
	return nil
}

// WaitForAgent is WaitForSSMAgent: kiln has no SSM agent, so it checks
// the nearest thing, that the instance runs a command.
func WaitForAgent(ctx context.Context, s *engine.Step, run Runner) error {
	s.Logf("kiln has no SSM agent: checking that the instance runs commands")
	if err := run(ctx, "the instance", s.Log, s.Log, "/bin/sh", "-c", "true"); err != nil {
		s.Outputs["status"] = "Failed"
		return err
	}
	s.Outputs["status"] = "Success"
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// limitWriter keeps the first n bytes written to it.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		q := p
		if len(q) > l.n {
			q = q[:l.n]
		}
		l.w.Write(q)
		l.n -= len(q)
	}
	return len(p), nil
}

// AMIOnly is the failure of a machine-image action in a container build.
func AMIOnly(action string) error {
	return fmt.Errorf("%s works on machine images (AMIs); this build makes a container image", action)
}

// RunInstanceAction runs the step actions that need only a command runner
// in the step's instance, RunCommand and WaitForSSMAgent, with runner the
// executor's way of finding that instance.
func RunInstanceAction(ctx context.Context, s *engine.Step, runner func(*engine.Step) (Runner, error)) error {
	run, err := runner(s)
	if err != nil {
		return err
	}
	if s.Action == "WaitForSSMAgent" {
		return WaitForAgent(ctx, s, run)
	}
	return RunCommand(ctx, s, run)
}
