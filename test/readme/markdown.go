// Package readme runs the repository's Markdown guides as tests: every
// shell block of README.md runs, in order and as written, against the kiln
// its first block builds and starts on its defaults, so prose and commands
// cannot drift apart.
//
// The conventions a guide follows (they are written for readers too):
//
//   - A fenced block tagged sh, bash or shell is a command block.
//   - `<!-- readme-test: skip: REASON -->` on the line before a fence (blank
//     lines between are allowed) keeps that block out of the run.
//   - `<!-- readme-test: not runnable: REASON -->` anywhere in a file says
//     the whole guide is not run, and why.
//   - A line `NAME=VALUE   # yours: WHAT` holds something only the reader
//     has (a base image, a parent disk). The test assigns its own value to
//     NAME there and changes nothing else.
//   - A command marked `# interactive: ...` is one the reader ends with
//     Ctrl-C; the test sends SIGINT after a while, as the reader would.
//   - A block whose last command runs `./kiln serve` runs in "kiln's
//     shell": the test stops the kiln running before it (SIGINT, as Ctrl-C)
//     and waits for the new one's "kiln listening on" line. Every other
//     block runs in one second shell, so variables carry from block to
//     block as they do for a reader.
package readme

import (
	"fmt"
	"regexp"
	"strings"
)

// Block is one fenced code block of a Markdown file.
type Block struct {
	Line int    // 1-based line of the opening fence
	Lang string // the info string's first word ("sh", "ini", "")
	Body string // the lines between the fences, each ending in "\n"
	Skip string // the reason of a skip marker before the fence, if any
}

// Shell reports whether the block holds commands to run.
func (b Block) Shell() bool {
	switch b.Lang {
	case "sh", "bash", "shell":
		return true
	}
	return false
}

var (
	skipMarker        = regexp.MustCompile(`^<!--\s*readme-test:\s*skip:\s*(.*?)\s*-->\s*$`)
	notRunnableMarker = regexp.MustCompile(`(?m)^<!--\s*readme-test:\s*not runnable:\s*(.*?)\s*-->\s*$`)
	yoursLine         = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s+# yours(?::.*)?$`)
	interactiveLine   = regexp.MustCompile(`^(.*?)\s+# interactive(?::.*)?$`)
	kilnServe         = regexp.MustCompile(`(^|&&\s*|;\s*)\./kiln serve\b[^&|;]*$`)
)

// Blocks returns the fenced code blocks of a Markdown document, in order.
// A fence is three or more backticks or tildes, possibly indented (as in
// list items); it closes at a line of the same character at least as long.
// An unclosed fence is an error naming its line.
func Blocks(markdown string) ([]Block, error) {
	lines := strings.Split(markdown, "\n")
	var (
		out     []Block
		pending string // skip reason seen since the last non-blank line
	)
	for i := 0; i < len(lines); i++ {
		trimmed := strings.TrimSpace(lines[i])
		fence, info, ok := openingFence(trimmed)
		if !ok {
			if m := skipMarker.FindStringSubmatch(trimmed); m != nil {
				pending = m[1]
			} else if trimmed != "" {
				pending = ""
			}
			continue
		}
		b := Block{Line: i + 1, Lang: firstWord(info), Skip: pending}
		pending = ""
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		closed := false
		var body strings.Builder
		for i++; i < len(lines); i++ {
			t := strings.TrimSpace(lines[i])
			if strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
				closed = true
				break
			}
			line := lines[i]
			// Strip the fence's own indentation, as CommonMark does.
			for n := 0; n < indent && strings.HasPrefix(line, " "); n++ {
				line = line[1:]
			}
			body.WriteString(line)
			body.WriteByte('\n')
		}
		if !closed {
			return nil, fmt.Errorf("line %d: code fence %q is never closed", b.Line, fence)
		}
		b.Body = body.String()
		out = append(out, b)
	}
	return out, nil
}

// openingFence reports whether a trimmed line opens a code block, and
// returns the fence characters and the info string.
func openingFence(trimmed string) (fence, info string, ok bool) {
	for _, c := range []string{"`", "~"} {
		n := len(trimmed) - len(strings.TrimLeft(trimmed, c))
		if n >= 3 {
			info = strings.TrimSpace(trimmed[n:])
			if c == "`" && strings.Contains(info, "`") {
				return "", "", false // an inline code span, not a fence
			}
			return strings.Repeat(c, n), info, true
		}
	}
	return "", "", false
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// NotRunnable returns the reason a guide gives for not being run, if it
// gives one.
func NotRunnable(markdown string) (string, bool) {
	m := notRunnableMarker.FindStringSubmatch(markdown)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// StartsKiln reports whether the block's last command starts `kiln serve`
// in the foreground: such a block runs in kiln's own shell.
func StartsKiln(body string) bool {
	cmds := commands(body)
	return len(cmds) > 0 && kilnServe.MatchString(cmds[len(cmds)-1])
}

// Commands returns the block's command lines: comments and blank lines
// dropped, continuation lines joined.
func commands(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if strings.HasSuffix(t, `\`) {
			cur.WriteString(strings.TrimSuffix(t, `\`))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(t)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// Substitute returns the block with every `NAME=VALUE # yours` line
// assigning the test's own value for NAME instead, and every
// `# interactive` command run for at most interactiveSeconds before it is
// sent SIGINT, with no input. It returns the names it assigned; a name the
// test has no value for is an error naming the line.
func Substitute(body string, yours map[string]string, interactiveSeconds int) (string, []string, error) {
	var out strings.Builder
	var used []string
	for _, line := range strings.SplitAfter(body, "\n") {
		content := strings.TrimRight(line, "\n")
		nl := line[len(content):]
		if m := yoursLine.FindStringSubmatch(strings.TrimSpace(content)); m != nil {
			v, ok := yours[m[1]]
			if !ok {
				return "", nil, fmt.Errorf("%q is marked as the reader's own, but the test has no value for %s", content, m[1])
			}
			used = append(used, m[1])
			fmt.Fprintf(&out, "%s=%s%s", m[1], shellQuote(v), nl)
			continue
		}
		if m := interactiveLine.FindStringSubmatch(content); m != nil && !strings.HasPrefix(strings.TrimSpace(content), "#") {
			// timeout answers 124 when it had to send the signal: that is
			// the reader's Ctrl-C, not a failure.
			fmt.Fprintf(&out, "{ timeout -s INT %d %s </dev/null || [ $? -eq 124 ]; }%s", interactiveSeconds, m[1], nl)
			continue
		}
		out.WriteString(line)
	}
	return out.String(), used, nil
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
