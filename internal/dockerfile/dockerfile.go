// Package dockerfile turns the Dockerfile of a container recipe into a build plan for kiln's
// daemonless build engine.
//
// Parsing is done by buildkit's low-level Dockerfile parser (line continuations, comments,
// parser directives, JSON forms, heredoc detection) and word expansion by buildkit's shell
// lexer, so that quoting and ${VAR:-x} behave exactly as users know them from docker build.
// Both sit behind this package: no exported name mentions a buildkit type, so the engine can
// swap the parser without touching its callers.
//
// Parse checks the structure (stages, known instructions, flags) and resolves each FROM
// reference; EvaluateStage walks one stage's instructions over its base image's config the
// way docker build does and returns the filesystem-changing steps plus the final config.
//
// Multi-stage files work as in docker build: named stages, FROM an earlier stage, COPY
// --from=STAGE|INDEX|IMAGE, ARGs before the first FROM usable in every FROM, and the last
// stage as the result. ADD --from=STAGE|IMAGE is a kiln extension: an Image Builder recipe has
// no local build context, so a local archive to extract can only come from a stage or image.
package dockerfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// File is a parsed Dockerfile. From, Platform, FromLine and Instructions are those of the
// last stage, the one whose image is the result.
type File struct {
	From         string // the FROM image reference, after substituting ARGs declared before FROM
	Platform     string // FROM --platform value, after substitution ("" when absent)
	FromLine     int    // 1-based line of the FROM instruction
	Instructions []Instruction
	// Stages are every stage in order; the last is the result.
	Stages []Stage

	escape     rune              // escape token from the parser directive
	buildArgs  map[string]string // --build-arg values, as given
	globalArgs map[string]string // ARGs declared before FROM (and automatic ones), with their values
}

// Stage is one FROM and the instructions up to the next FROM.
type Stage struct {
	// Name is the "AS name", lower-cased as docker compares it ("" when unnamed).
	Name string
	// From is the base: an image reference after substituting the global ARGs, or the name
	// of an earlier stage (then BaseStage is its index).
	From      string
	BaseStage int // index of the earlier stage From names, or -1 when From is an image
	Platform  string
	FromLine  int
	// Instructions are the stage's instructions after FROM.
	Instructions []Instruction
}

// Instruction is one instruction after FROM, as written (before variable substitution,
// which depends on the config being built and so happens in Evaluate).
type Instruction struct {
	Command string   // upper case: RUN, ENV, ...
	Args    []string // arguments; ENV and LABEL give "key=value" per pair, ONBUILD the trigger text
	JSON    bool     // exec (JSON array) form
	Flags   []string // e.g. "--chown=1:1"
	Line    int      // 1-based line in the text
	// Original is the instruction's text with continuation lines joined.
	Original string
	// Heredoc is the body of a `RUN <<EOF` script (the only heredoc form kiln supports).
	Heredoc string
}

// Error is a problem in a Dockerfile, located at a 1-based line (0 when the file as a whole
// is at fault).
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line <= 0 {
		return "dockerfile: " + e.Msg
	}
	return fmt.Sprintf("dockerfile line %d: %s", e.Line, e.Msg)
}

func errorf(line int, format string, a ...any) error {
	return &Error{Line: line, Msg: fmt.Sprintf(format, a...)}
}

// reStageName is what docker accepts as a stage name.
var reStageName = regexp.MustCompile(`^[a-z][a-z0-9_.-]*$`)

// known lists the Dockerfile instructions kiln evaluates after FROM.
var known = map[string]bool{
	"ADD": true, "ARG": true, "CMD": true, "COPY": true, "ENTRYPOINT": true, "ENV": true,
	"EXPOSE": true, "HEALTHCHECK": true, "LABEL": true, "MAINTAINER": true, "ONBUILD": true,
	"RUN": true, "SHELL": true, "STOPSIGNAL": true, "USER": true, "VOLUME": true, "WORKDIR": true,
}

// allowedFlags is, per instruction, the flags kiln accepts and whether each is boolean.
// Flags are validated here so that a typo fails the parse rather than being ignored.
var allowedFlags = map[string]map[string]bool{
	"FROM": {"platform": false},
	"COPY": {"chown": false, "chmod": false, "link": true, "from": false},
	// ADD --from is kiln's: see the package documentation.
	"ADD": {"chown": false, "chmod": false, "link": true, "checksum": false, "keep-git-dir": true, "from": false},
	// RUN flags are handed to the engine in Step.Flags; it refuses those it cannot honour.
	"RUN":         {"mount": false, "network": false, "security": false},
	"HEALTHCHECK": {"interval": false, "timeout": false, "start-period": false, "start-interval": false, "retries": false},
}

// automaticArgs are the platform ARGs buildkit defines in the global scope. kiln builds for
// the host platform; a --build-arg overrides them.
func automaticArgs() map[string]string {
	p := runtime.GOOS + "/" + runtime.GOARCH
	return map[string]string{
		"TARGETPLATFORM": p, "TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH, "TARGETVARIANT": "",
		"BUILDPLATFORM": p, "BUILDOS": runtime.GOOS, "BUILDARCH": runtime.GOARCH, "BUILDVARIANT": "",
	}
}

// Parse parses text. buildArgs are --build-arg values. Errors are *Error and name the line.
// Instructions whose name is in
// extensions (e.g. "KILN", matched case-insensitively) are kept as-is for the caller: their
// Args are the whitespace-separated words (or the JSON array) after any --flags, unexpanded.
func Parse(text string, buildArgs map[string]string, extensions ...string) (*File, error) {
	res, err := parser.Parse(strings.NewReader(text))
	if err != nil {
		return nil, fromParserError(err)
	}
	ext := map[string]bool{}
	for _, e := range extensions {
		ext[strings.ToUpper(e)] = true
	}
	f := &File{
		escape:     res.EscapeToken,
		buildArgs:  map[string]string{},
		globalArgs: automaticArgs(),
	}
	for k, v := range buildArgs {
		f.buildArgs[k] = v
	}
	for k := range f.globalArgs {
		if v, ok := f.buildArgs[k]; ok {
			f.globalArgs[k] = v
		}
	}
	lex := shell.NewLex(f.escape)
	seenFrom := false
	for _, node := range res.AST.Children {
		cmd := strings.ToUpper(node.Value)
		line := node.StartLine
		switch {
		case cmd == "FROM":
			seenFrom = true
			if err := f.parseFrom(node, lex); err != nil {
				return nil, err
			}
		case !seenFrom && cmd == "ARG":
			if err := f.parseGlobalArg(node, lex); err != nil {
				return nil, err
			}
		case !seenFrom:
			return nil, errorf(line, "%s before FROM: only ARG may precede FROM", cmd)
		default:
			in, err := convert(node, cmd, ext)
			if err != nil {
				return nil, err
			}
			st := &f.Stages[len(f.Stages)-1]
			st.Instructions = append(st.Instructions, in)
		}
	}
	if !seenFrom {
		return nil, errorf(0, "no FROM instruction")
	}
	last := f.Stages[len(f.Stages)-1]
	f.From, f.Platform, f.FromLine, f.Instructions = last.From, last.Platform, last.FromLine, last.Instructions
	return f, nil
}

// fromParserError turns the parser's located error into an *Error with the first line.
func fromParserError(err error) error {
	line := 0
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		line = le.Locations[0][0].Start.Line
	}
	msg := err.Error()
	if le != nil {
		msg = le.Unwrap().Error()
	}
	switch {
	case strings.Contains(msg, "no instructions"):
		line = 0 // the whole file is at fault
	case strings.Contains(msg, "parser directive"), strings.Contains(msg, "escape token"),
		strings.Contains(msg, "max allowed size"):
		// The parser locates errors found while reading a line by the count of lines read
		// before it, i.e. 0-based.
		line++
	}
	return &Error{Line: line, Msg: msg}
}

// words returns the values of a node's argument chain.
func words(node *parser.Node) []string {
	var out []string
	for n := node.Next; n != nil; n = n.Next {
		out = append(out, n.Value)
	}
	return out
}

// parseFlags splits --name=value flags, refusing those not in allowed and repeats.
// Boolean flags may be given bare.
func parseFlags(cmd string, line int, flags []string) (map[string]string, error) {
	out := map[string]string{}
	allowed := allowedFlags[cmd]
	for _, fl := range flags {
		if !strings.HasPrefix(fl, "--") {
			return nil, errorf(line, "%s: malformed flag %q", cmd, fl)
		}
		name, value, hasValue := strings.Cut(fl[2:], "=")
		isBool, ok := allowed[name]
		if !ok {
			return nil, errorf(line, "%s: unknown flag --%s", cmd, name)
		}
		if _, dup := out[name]; dup && name != "mount" {
			return nil, errorf(line, "%s: flag --%s given twice", cmd, name)
		}
		switch {
		case isBool && !hasValue:
			value = "true"
		case isBool && value != "true" && value != "false":
			return nil, errorf(line, "%s: --%s expects true or false, not %q", cmd, name, value)
		case !isBool && !hasValue:
			return nil, errorf(line, "%s: --%s needs a value", cmd, name)
		}
		if name == "mount" && out[name] != "" {
			value = out[name] + "\x00" + value
		}
		out[name] = value
	}
	return out, nil
}

func (f *File) parseFrom(node *parser.Node, lex *shell.Lex) error {
	line := node.StartLine
	st := Stage{FromLine: line, BaseStage: -1}
	flags, err := parseFlags("FROM", line, node.Flags)
	if err != nil {
		return err
	}
	args := words(node)
	switch {
	case len(args) == 1:
	case len(args) == 3 && strings.EqualFold(args[1], "AS"):
		st.Name = strings.ToLower(args[2])
		if !reStageName.MatchString(st.Name) {
			return errorf(line, "FROM: invalid stage name %q: it must start with a letter and contain only letters, digits, '_', '.' and '-'", args[2])
		}
		if f.stageIndex(st.Name) >= 0 {
			return errorf(line, "FROM: a stage named %q is already defined", st.Name)
		}
	default:
		return errorf(line, "FROM requires one argument, or three as in FROM image AS name")
	}
	env := newEnv(f.globalArgs)
	ref, _, err := lex.ProcessWord(args[0], env)
	if err != nil {
		return errorf(line, "FROM: %v", err)
	}
	if ref == "" {
		return errorf(line, "FROM: image reference %q is empty after substitution", args[0])
	}
	st.From = ref
	st.BaseStage = f.stageIndex(strings.ToLower(ref))
	if p, ok := flags["platform"]; ok {
		if st.Platform, _, err = lex.ProcessWord(p, env); err != nil {
			return errorf(line, "FROM --platform: %v", err)
		}
	}
	f.Stages = append(f.Stages, st)
	return nil
}

// stageIndex is the index of the stage named name (lower case), or -1.
func (f *File) stageIndex(name string) int {
	for i, s := range f.Stages {
		if s.Name != "" && s.Name == name {
			return i
		}
	}
	return -1
}

// parseGlobalArg records an ARG before FROM: usable in FROM, and as the default of a
// same-named ARG redeclared after FROM. A --build-arg wins over the default.
func (f *File) parseGlobalArg(node *parser.Node, lex *shell.Lex) error {
	line := node.StartLine
	args := words(node)
	if len(args) == 0 {
		return errorf(line, "ARG requires at least one argument")
	}
	for _, a := range args {
		name, def, hasDef := strings.Cut(a, "=")
		if name == "" {
			return errorf(line, "ARG: empty name in %q", a)
		}
		if v, ok := f.buildArgs[name]; ok {
			f.globalArgs[name] = v
			continue
		}
		if !hasDef {
			continue
		}
		v, _, err := lex.ProcessWord(def, newEnv(f.globalArgs))
		if err != nil {
			return errorf(line, "ARG %s: %v", name, err)
		}
		f.globalArgs[name] = v
	}
	return nil
}

// reHeredocOnly matches a RUN whose whole command is one heredoc word, e.g. "<<EOF", "<<-'EOF'".
var reHeredocOnly = regexp.MustCompile(`^<<-?\S+$`)

// convert turns a parser node after FROM into an Instruction, checking its structure.
func convert(node *parser.Node, cmd string, ext map[string]bool) (Instruction, error) {
	line := node.StartLine
	in := Instruction{
		Command:  cmd,
		JSON:     node.Attributes["json"],
		Flags:    append([]string(nil), node.Flags...),
		Line:     line,
		Original: node.Original,
	}
	if ext[cmd] {
		in.Args, in.JSON = extensionArgs(node)
		return in, nil
	}
	if !known[cmd] {
		return in, errorf(line, "unknown instruction: %s", cmd)
	}
	if _, ok := allowedFlags[cmd]; !ok && len(node.Flags) > 0 {
		return in, errorf(line, "%s takes no flags, got %s", cmd, node.Flags[0])
	}
	flags, err := parseFlags(cmd, line, node.Flags)
	if err != nil {
		return in, err
	}
	if len(node.Heredocs) > 0 {
		if cmd != "RUN" || len(node.Heredocs) != 1 || in.JSON || node.Next == nil ||
			!reHeredocOnly.MatchString(strings.TrimSpace(node.Next.Value)) {
			return in, errorf(line, "heredocs are supported only as a whole RUN script (RUN <<EOF)")
		}
		h := node.Heredocs[0]
		body := h.Content
		if h.Chomp {
			body = parser.ChompHeredocContent(body)
		}
		if strings.HasPrefix(body, "#!") {
			return in, errorf(line, "RUN heredoc with a #! interpreter line is not supported; run the interpreter explicitly")
		}
		in.Heredoc = body
	}
	switch cmd {
	case "ENV", "LABEL":
		ws := words(node)
		if len(ws) == 0 {
			return in, errorf(line, "%s requires at least one argument", cmd)
		}
		// The parser gives (key, value, separator) triples.
		for i := 0; i+1 < len(ws); i += 3 {
			if ws[i] == "" {
				return in, errorf(line, "%s: empty name", cmd)
			}
			in.Args = append(in.Args, ws[i]+"="+ws[i+1])
		}
	case "ONBUILD":
		if node.Next == nil || len(node.Next.Children) == 0 {
			return in, errorf(line, "ONBUILD requires at least one argument")
		}
		trigger := strings.ToUpper(node.Next.Children[0].Value)
		switch trigger {
		case "ONBUILD", "FROM", "MAINTAINER":
			return in, errorf(line, "ONBUILD %s isn't allowed", trigger)
		}
		in.Args = []string{strings.TrimSpace(node.Next.Children[0].Original)}
	default:
		in.Args = words(node)
	}
	if err := checkArity(in, flags); err != nil {
		return in, err
	}
	return in, nil
}

// checkArity refuses instructions with the wrong number or form of arguments.
func checkArity(in Instruction, flags map[string]string) error {
	n, line, cmd := len(in.Args), in.Line, in.Command
	switch cmd {
	case "COPY", "ADD":
		if v, ok := flags["from"]; ok && v == "" {
			return errorf(line, "%s --from needs a stage name, index or image", cmd)
		}
		if n < 2 {
			return errorf(line, "%s requires at least two arguments: source(s) and destination", cmd)
		}
	case "WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER", "ARG", "EXPOSE", "VOLUME":
		if n == 0 {
			return errorf(line, "%s requires an argument", cmd)
		}
	case "RUN":
		if n == 0 && in.Heredoc == "" {
			return errorf(line, "RUN requires a command")
		}
	case "SHELL":
		if !in.JSON {
			return errorf(line, "SHELL requires the arguments to be in JSON form")
		}
		if n == 0 {
			return errorf(line, "SHELL requires at least one argument")
		}
	case "HEALTHCHECK":
		if n == 0 {
			return errorf(line, "HEALTHCHECK requires NONE or CMD")
		}
		switch strings.ToUpper(in.Args[0]) {
		case "NONE":
			if n > 1 || len(flags) > 0 {
				return errorf(line, "HEALTHCHECK NONE takes no other arguments")
			}
		case "CMD":
			if n < 2 {
				return errorf(line, "HEALTHCHECK CMD requires a command")
			}
		default:
			return errorf(line, "HEALTHCHECK: unknown type %q (want NONE or CMD)", in.Args[0])
		}
	}
	return nil
}

// extensionArgs recovers an extension instruction's arguments from its text, since the
// parser drops the arguments of instructions it does not know. Flags were already lifted
// off by the parser and are skipped here.
func extensionArgs(node *parser.Node) ([]string, bool) {
	rest := strings.TrimSpace(node.Original)
	if i := strings.IndexFunc(rest, isSpace); i >= 0 {
		rest = strings.TrimSpace(rest[i:])
	} else {
		rest = ""
	}
	for range node.Flags {
		if !strings.HasPrefix(rest, "--") {
			break
		}
		if i := strings.IndexFunc(rest, isSpace); i >= 0 {
			rest = strings.TrimSpace(rest[i:])
		} else {
			rest = ""
		}
	}
	if strings.HasPrefix(rest, "[") {
		var arr []string
		if json.Unmarshal([]byte(rest), &arr) == nil {
			return arr, true
		}
	}
	return strings.Fields(rest), false
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }
