package dockerfile

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Plan is what a Dockerfile does to its parent image.
type Plan struct {
	// Steps change the filesystem, in order; the engine makes one layer per step.
	Steps []Step
	// Config is the final image config. The parent's OnBuild triggers have been run (as the
	// first steps) and replaced by this Dockerfile's ONBUILD instructions.
	Config v1.Config
	// History has one entry per evaluated instruction (parent triggers included), worded as
	// buildkit does; EmptyLayer is false exactly for the instructions that produced a Step,
	// in the same order as Steps. Created is left for the engine to fill.
	History []v1.History
	// Author is the MAINTAINER value (docker puts it in the image's author field).
	Author string
}

// Step is one filesystem-changing instruction with everything in effect at that point.
type Step struct {
	// Kind is "RUN", "COPY", "ADD", "WORKDIR" (create the directory, owned by User, like
	// buildkit does) or an extension's name.
	Kind string
	// Argv is, for RUN, what to exec: shell form is Shell + [command], exec form as given.
	Argv []string
	// Env is KEY=VALUE in effect: the config's Env plus declared ARG values (ENV wins), and
	// for RUN the proxy build args, as docker does.
	Env  []string
	Dir  string // WORKDIR in effect ("/" default)
	User string // USER in effect ("" = root)
	// COPY/ADD: after variable expansion. Dest is absolute, resolved against Dir when
	// relative, and keeps a trailing "/" when the Dockerfile meant a directory.
	// WORKDIR: Dest is the directory to create.
	Sources  []string
	Dest     string
	Chown    string
	Chmod    string
	Checksum string // ADD --checksum
	// From is COPY/ADD --from after expansion ("" without it): the sources are read from an
	// earlier stage (FromStage is its index) or, when FromStage is -1, from an image.
	From      string
	FromStage int
	Link      bool // COPY/ADD --link (a layer-independence hint; the result is the same)
	// Flags are RUN's --mount, --network and --security flags after variable expansion,
	// as "--name=value"; the engine refuses those it cannot honour.
	Flags []string
	// Args are an extension instruction's arguments, unexpanded.
	Args []string
	Line int
}

// defaultPath is what buildkit puts in PATH when the parent image has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// proxyArgs reach RUN without being declared with ARG, and are kept out of history.
var proxyArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true,
	"ALL_PROXY": true, "all_proxy": true,
}

// evaluator carries the state docker build keeps while dispatching instructions.
type evaluator struct {
	f        *File
	stage    int // index in f.Stages
	lex      *shell.Lex
	cfg      v1.Config
	argNames []string          // declared ARGs with a value, in declaration order
	argVals  map[string]string // their values
	cmdSet   bool              // CMD given in this Dockerfile (ENTRYPOINT then keeps it)
	onbuild  []string
	plan     *Plan
}

// Evaluate evaluates the last stage, the one whose image is the result.
func (f *File) Evaluate(base v1.Config) (*Plan, error) {
	return f.EvaluateStage(len(f.Stages)-1, base)
}

// EvaluateStage walks stage i's instructions over its base image's config (which it does not
// modify) and returns the steps that change the filesystem and the final config. For a stage
// built FROM an earlier stage, base is that stage's final config.
func (f *File) EvaluateStage(i int, base v1.Config) (*Plan, error) {
	if i < 0 || i >= len(f.Stages) {
		return nil, errorf(0, "no stage %d", i)
	}
	e := &evaluator{
		f:       f,
		stage:   i,
		lex:     shell.NewLex(f.escape),
		cfg:     copyConfig(base),
		argVals: map[string]string{},
		plan:    &Plan{},
	}
	if _, ok := lookupEnv(e.cfg.Env, "PATH"); !ok {
		e.cfg.Env = append(e.cfg.Env, "PATH="+defaultPath)
	}
	triggers, err := f.parentTriggers(base.OnBuild, f.Stages[i].FromLine)
	if err != nil {
		return nil, err
	}
	e.cfg.OnBuild = nil
	for _, in := range append(triggers, f.Stages[i].Instructions...) {
		if err := e.dispatch(in); err != nil {
			return nil, err
		}
	}
	e.cfg.OnBuild = e.onbuild
	e.plan.Config = e.cfg
	return e.plan, nil
}

// parentTriggers parses the parent image's ONBUILD triggers; docker runs them right after
// FROM, so they are located at the FROM line.
func (f *File) parentTriggers(onbuild []string, fromLine int) ([]Instruction, error) {
	var out []Instruction
	for _, t := range onbuild {
		res, err := parser.Parse(strings.NewReader(t + "\n"))
		if err != nil || len(res.AST.Children) != 1 {
			return nil, errorf(fromLine, "parent image has an invalid ONBUILD trigger %q", t)
		}
		node := res.AST.Children[0]
		cmd := strings.ToUpper(node.Value)
		if cmd == "FROM" || cmd == "ONBUILD" || cmd == "MAINTAINER" {
			return nil, errorf(fromLine, "parent image's ONBUILD %s isn't allowed", cmd)
		}
		in, err := convert(node, cmd, nil)
		if err != nil {
			msg := err.Error()
			var de *Error
			if errors.As(err, &de) {
				msg = de.Msg
			}
			return nil, errorf(fromLine, "parent image's ONBUILD trigger %q: %s", t, msg)
		}
		in.Line = fromLine
		out = append(out, in)
	}
	return out, nil
}

func copyConfig(c v1.Config) v1.Config {
	c.Cmd = slices.Clone(c.Cmd)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Env = slices.Clone(c.Env)
	c.OnBuild = slices.Clone(c.OnBuild)
	c.Shell = slices.Clone(c.Shell)
	c.Labels = maps.Clone(c.Labels)
	c.Volumes = maps.Clone(c.Volumes)
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	}
	return c
}

func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(env[i], "="); k == key {
			return v, true
		}
	}
	return "", false
}

// setEnv replaces key in place, or appends it, as docker does.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// envMap is the variable set words are expanded against (shell.EnvGetter).
type envMap struct {
	m    map[string]string
	keys []string
}

func newEnv(m map[string]string) *envMap {
	return &envMap{m: m, keys: slices.Sorted(maps.Keys(m))}
}

func (e *envMap) Get(k string) (string, bool) { v, ok := e.m[k]; return v, ok }
func (e *envMap) Keys() []string              { return e.keys }

// expansionEnv is ARG values overlaid by ENV: ENV always wins over an ARG of the same name.
func (e *evaluator) expansionEnv() *envMap {
	m := maps.Clone(e.argVals)
	for _, kv := range e.cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return newEnv(m)
}

// stepEnv is the environment a step runs with.
func (e *evaluator) stepEnv(withProxy bool) []string {
	env := slices.Clone(e.cfg.Env)
	for _, k := range e.argNames {
		if _, ok := lookupEnv(env, k); !ok {
			env = append(env, k+"="+e.argVals[k])
		}
	}
	if withProxy {
		for _, k := range slices.Sorted(maps.Keys(e.f.buildArgs)) {
			if _, ok := lookupEnv(env, k); proxyArgs[k] && !ok {
				env = append(env, k+"="+e.f.buildArgs[k])
			}
		}
	}
	return env
}

func (e *evaluator) expand(in Instruction, word string) (string, error) {
	out, _, err := e.lex.ProcessWord(word, e.expansionEnv())
	if err != nil {
		return "", errorf(in.Line, "%s: %v", in.Command, err)
	}
	return out, nil
}

func (e *evaluator) expandAll(in Instruction, ws []string) ([]string, error) {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		x, err := e.expand(in, w)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func (e *evaluator) dir() string {
	if e.cfg.WorkingDir == "" {
		return "/"
	}
	return e.cfg.WorkingDir
}

func (e *evaluator) shell() []string {
	if len(e.cfg.Shell) > 0 {
		return slices.Clone(e.cfg.Shell)
	}
	return []string{"/bin/sh", "-c"}
}

// commandLine is CMD/ENTRYPOINT/RUN's argv: exec form as given, shell form wrapped in SHELL.
func (e *evaluator) commandLine(in Instruction) []string {
	if in.JSON {
		return slices.Clone(in.Args)
	}
	if len(in.Args) == 0 {
		return nil
	}
	return append(e.shell(), in.Args[0])
}

func (e *evaluator) history(createdBy string, layer bool) {
	e.plan.History = append(e.plan.History, v1.History{CreatedBy: createdBy, EmptyLayer: !layer})
}

func (e *evaluator) step(s Step, createdBy string) {
	e.plan.Steps = append(e.plan.Steps, s)
	e.history(createdBy, true)
}

func (e *evaluator) dispatch(in Instruction) error {
	var flags map[string]string
	if _, ok := allowedFlags[in.Command]; ok {
		var err error
		if flags, err = parseFlags(in.Command, in.Line, in.Flags); err != nil {
			return err
		}
	}
	switch in.Command {
	case "ENV":
		return e.env(in)
	case "ARG":
		return e.arg(in)
	case "LABEL":
		return e.label(in)
	case "RUN":
		return e.run(in, flags)
	case "COPY", "ADD":
		return e.copy(in, flags)
	case "WORKDIR":
		return e.workdir(in)
	case "USER":
		u, err := e.expand(in, in.Args[0])
		if err != nil {
			return err
		}
		if u == "" {
			return errorf(in.Line, "USER is empty after substitution")
		}
		e.cfg.User = u
		e.history("USER "+u, false)
	case "CMD":
		e.cfg.Cmd = e.commandLine(in)
		e.cmdSet = true
		e.history(fmt.Sprintf("CMD %q", e.cfg.Cmd), false)
	case "ENTRYPOINT":
		e.cfg.Entrypoint = e.commandLine(in)
		if !e.cmdSet {
			e.cfg.Cmd = nil
		}
		e.history(fmt.Sprintf("ENTRYPOINT %q", e.cfg.Entrypoint), false)
	case "SHELL":
		e.cfg.Shell = slices.Clone(in.Args)
		e.history(fmt.Sprintf("SHELL %q", e.cfg.Shell), false)
	case "EXPOSE":
		return e.expose(in)
	case "VOLUME":
		return e.volume(in)
	case "STOPSIGNAL":
		s, err := e.expand(in, in.Args[0])
		if err != nil {
			return err
		}
		if !validSignal(s) {
			return errorf(in.Line, "STOPSIGNAL: invalid signal %q", s)
		}
		e.cfg.StopSignal = s
		e.history("STOPSIGNAL "+s, false)
	case "HEALTHCHECK":
		return e.healthcheck(in, flags)
	case "MAINTAINER":
		e.plan.Author = strings.Join(in.Args, " ")
		e.history("MAINTAINER "+e.plan.Author, false)
	case "ONBUILD":
		e.onbuild = append(e.onbuild, in.Args[0])
		e.history("ONBUILD "+in.Args[0], false)
	default: // an extension: the caller gives it meaning
		e.step(Step{
			Kind: in.Command, Args: slices.Clone(in.Args), Env: e.stepEnv(false),
			Dir: e.dir(), User: e.cfg.User, Line: in.Line,
		}, strings.TrimSpace(in.Original))
	}
	return nil
}

// pairs expands ENV/LABEL "key=value" arguments, all against the variables in effect
// before the instruction (so ENV a=1 b=$a sees the old a, as docker documents).
func (e *evaluator) pairs(in Instruction) ([][2]string, error) {
	env := e.expansionEnv()
	var out [][2]string
	for _, a := range in.Args {
		k, v, _ := strings.Cut(a, "=")
		ek, _, err := e.lex.ProcessWord(k, env)
		if err != nil {
			return nil, errorf(in.Line, "%s: %v", in.Command, err)
		}
		ev, _, err := e.lex.ProcessWord(v, env)
		if err != nil {
			return nil, errorf(in.Line, "%s: %v", in.Command, err)
		}
		if ek == "" {
			return nil, errorf(in.Line, "%s: empty name", in.Command)
		}
		out = append(out, [2]string{ek, ev})
	}
	return out, nil
}

func (e *evaluator) env(in Instruction) error {
	kvs, err := e.pairs(in)
	if err != nil {
		return err
	}
	var parts []string
	for _, kv := range kvs {
		if strings.ContainsAny(kv[0], "= \t") {
			return errorf(in.Line, "ENV: invalid name %q", kv[0])
		}
		e.cfg.Env = setEnv(e.cfg.Env, kv[0], kv[1])
		parts = append(parts, kv[0]+"="+kv[1])
	}
	e.history("ENV "+strings.Join(parts, " "), false)
	return nil
}

func (e *evaluator) label(in Instruction) error {
	kvs, err := e.pairs(in)
	if err != nil {
		return err
	}
	if e.cfg.Labels == nil {
		e.cfg.Labels = map[string]string{}
	}
	var parts []string
	for _, kv := range kvs {
		e.cfg.Labels[kv[0]] = kv[1]
		parts = append(parts, kv[0]+"="+kv[1])
	}
	e.history("LABEL "+strings.Join(parts, " "), false)
	return nil
}

// arg declares build arguments for the rest of the stage. A --build-arg wins over the
// default; without either, a same-named ARG from before FROM gives the value; otherwise the
// ARG is declared without a value and is not set for RUN.
func (e *evaluator) arg(in Instruction) error {
	env := e.expansionEnv()
	var parts []string
	for _, a := range in.Args {
		rawName, def, hasDef := strings.Cut(a, "=")
		name, _, err := e.lex.ProcessWord(rawName, env)
		if err != nil {
			return errorf(in.Line, "ARG: %v", err)
		}
		if name == "" {
			return errorf(in.Line, "ARG: empty name in %q", a)
		}
		value, ok := e.f.buildArgs[name]
		switch {
		case ok:
		case hasDef:
			if value, _, err = e.lex.ProcessWord(def, env); err != nil {
				return errorf(in.Line, "ARG %s: %v", name, err)
			}
			ok = true
		default:
			value, ok = e.f.globalArgs[name]
		}
		if ok {
			if _, seen := e.argVals[name]; !seen {
				e.argNames = append(e.argNames, name)
			}
			e.argVals[name] = value
		}
		parts = append(parts, a)
	}
	e.history("ARG "+strings.Join(parts, " "), false)
	return nil
}

func (e *evaluator) run(in Instruction, flags map[string]string) error {
	var argv []string
	switch {
	case in.Heredoc != "":
		argv = append(e.shell(), in.Heredoc)
	default:
		argv = e.commandLine(in)
	}
	s := Step{
		Kind: "RUN", Argv: argv, Env: e.stepEnv(true), Dir: e.dir(), User: e.cfg.User, Line: in.Line,
	}
	for _, name := range []string{"mount", "network", "security"} {
		v, ok := flags[name]
		if !ok {
			continue
		}
		for _, one := range strings.Split(v, "\x00") {
			x, err := e.expand(in, one)
			if err != nil {
				return err
			}
			s.Flags = append(s.Flags, "--"+name+"="+x)
		}
	}
	// buildkit's wording: declared ARGs appear as "|N K=V ..." before the command.
	var hist []string
	for _, k := range e.argNames {
		if proxyArgs[k] {
			continue
		}
		v, ok := lookupEnv(e.cfg.Env, k)
		if !ok {
			v = e.argVals[k]
		}
		hist = append(hist, k+"="+v)
	}
	if len(hist) > 0 {
		hist = append([]string{"|" + strconv.Itoa(len(hist))}, hist...)
	}
	e.step(s, "RUN "+strings.Join(append(hist, argv...), " ")+" # buildkit")
	return nil
}

func (e *evaluator) copy(in Instruction, flags map[string]string) error {
	paths, err := e.expandAll(in, in.Args)
	if err != nil {
		return err
	}
	srcs, dest := paths[:len(paths)-1], paths[len(paths)-1]
	for _, p := range paths {
		if p == "" {
			return errorf(in.Line, "%s: a path is empty after substitution", in.Command)
		}
	}
	s := Step{
		Kind: in.Command, Sources: srcs, Dest: e.resolveDest(dest), Env: e.stepEnv(false),
		Dir: e.dir(), User: e.cfg.User, Line: in.Line, Link: flags["link"] == "true",
		Checksum: flags["checksum"],
	}
	if v, ok := flags["chown"]; ok {
		if s.Chown, err = e.expand(in, v); err != nil {
			return err
		}
	}
	if v, ok := flags["chmod"]; ok {
		if s.Chmod, err = e.expand(in, v); err != nil {
			return err
		}
	}
	s.FromStage = -1
	if v, ok := flags["from"]; ok {
		if s.From, err = e.expand(in, v); err != nil {
			return err
		}
		if s.FromStage, err = e.resolveFrom(in, s.From); err != nil {
			return err
		}
		for _, src := range srcs {
			if strings.Contains(src, "://") {
				return errorf(in.Line, "%s --from cannot take a URL (%s)", in.Command, src)
			}
		}
	}
	if len(srcs) > 1 && !strings.HasSuffix(s.Dest, "/") {
		return errorf(in.Line, "%s with more than one source needs a destination directory ending in /", in.Command)
	}
	by := in.Command + " "
	if s.From != "" {
		by += "--from=" + s.From + " "
	}
	if s.Chown != "" {
		by += "--chown=" + s.Chown + " "
	}
	if s.Chmod != "" {
		by += "--chmod=" + s.Chmod + " "
	}
	e.step(s, by+strings.Join(srcs, " ")+" "+s.Dest+" # buildkit")
	return nil
}

// resolveFrom resolves a --from value as docker does: the name of an earlier stage
// (case-insensitive), an earlier stage's index, or else an image reference (-1).
func (e *evaluator) resolveFrom(in Instruction, from string) (int, error) {
	if from == "" {
		return -1, errorf(in.Line, "%s --from is empty after substitution", in.Command)
	}
	if n, err := strconv.Atoi(from); err == nil {
		if n < 0 || n >= e.stage {
			return -1, errorf(in.Line, "%s --from=%d: only an earlier stage (0 to %d) can be copied from", in.Command, n, e.stage-1)
		}
		return n, nil
	}
	if i := e.f.stageIndex(strings.ToLower(from)); i >= 0 {
		if i >= e.stage {
			return -1, errorf(in.Line, "%s --from=%s: stage %q is not defined before this one", in.Command, from, from)
		}
		return i, nil
	}
	return -1, nil
}

// resolveDest makes a COPY/ADD destination absolute against the working directory, keeping
// a trailing slash (and giving one to ".") because it tells "into this directory".
func (e *evaluator) resolveDest(dest string) string {
	dirLike := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		dest = path.Join(e.dir(), dest)
	} else {
		dest = path.Clean(dest)
	}
	if dirLike && !strings.HasSuffix(dest, "/") {
		dest += "/"
	}
	return dest
}

func (e *evaluator) workdir(in Instruction) error {
	w, err := e.expand(in, in.Args[0])
	if err != nil {
		return err
	}
	if w == "" {
		return errorf(in.Line, "WORKDIR is empty after substitution")
	}
	if !path.IsAbs(w) {
		w = path.Join(e.dir(), w)
	}
	w = path.Clean(w)
	e.cfg.WorkingDir = w
	if w == "/" {
		e.history("WORKDIR /", false)
		return nil
	}
	e.step(Step{
		Kind: "WORKDIR", Dest: w, Env: e.stepEnv(false), Dir: w, User: e.cfg.User, Line: in.Line,
	}, "WORKDIR "+w)
	return nil
}

func (e *evaluator) expose(in Instruction) error {
	ws, err := e.expandAll(in, in.Args)
	if err != nil {
		return err
	}
	if e.cfg.ExposedPorts == nil {
		e.cfg.ExposedPorts = map[string]struct{}{}
	}
	for _, w := range ws {
		for _, f := range strings.Fields(w) {
			ports, err := portSpecs(f)
			if err != nil {
				return errorf(in.Line, "EXPOSE: %v", err)
			}
			for _, p := range ports {
				e.cfg.ExposedPorts[p] = struct{}{}
			}
		}
	}
	e.history("EXPOSE "+strings.Join(ws, " "), false)
	return nil
}

// portSpecs normalises "80", "80/TCP", "8000-8002/udp" to "80/tcp"-style keys.
func portSpecs(spec string) ([]string, error) {
	port, proto, hasProto := strings.Cut(spec, "/")
	proto = strings.ToLower(proto)
	if !hasProto {
		proto = "tcp"
	}
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return nil, fmt.Errorf("invalid protocol %q in %q", proto, spec)
	}
	lo, hi, isRange := strings.Cut(port, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", spec)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid port range %q", spec)
		}
	}
	out := make([]string, 0, end-start+1)
	for p := start; p <= end; p++ {
		out = append(out, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return out, nil
}

func (e *evaluator) volume(in Instruction) error {
	ws, err := e.expandAll(in, in.Args)
	if err != nil {
		return err
	}
	if e.cfg.Volumes == nil {
		e.cfg.Volumes = map[string]struct{}{}
	}
	for _, w := range ws {
		w = strings.TrimSpace(w)
		if w == "" {
			return errorf(in.Line, "VOLUME specified can not be an empty string")
		}
		e.cfg.Volumes[w] = struct{}{}
	}
	e.history(fmt.Sprintf("VOLUME %q", ws), false)
	return nil
}

// validSignal accepts what docker's signal parser does on Linux: a number, or a name with
// or without the SIG prefix (SIGRTMIN+n included).
func validSignal(s string) bool {
	if s == "" {
		return false
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n > 0 && n < 65
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-') {
			return false
		}
	}
	return true
}

// healthcheck sets or clears the health check. --start-interval is checked but not stored:
// go-containerregistry's HealthConfig has no field for it.
func (e *evaluator) healthcheck(in Instruction, flags map[string]string) error {
	if strings.EqualFold(in.Args[0], "NONE") {
		e.cfg.Healthcheck = &v1.HealthConfig{Test: []string{"NONE"}}
		e.history("HEALTHCHECK NONE", false)
		return nil
	}
	hc := &v1.HealthConfig{}
	if in.JSON {
		hc.Test = append([]string{"CMD"}, in.Args[1:]...)
	} else {
		hc.Test = []string{"CMD-SHELL", in.Args[1]}
	}
	durations := map[string]*time.Duration{
		"interval": &hc.Interval, "timeout": &hc.Timeout, "start-period": &hc.StartPeriod,
		"start-interval": new(time.Duration),
	}
	for name, dst := range durations {
		v, ok := flags[name]
		if !ok {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return errorf(in.Line, "HEALTHCHECK --%s: %v", name, err)
		}
		if d != 0 && d < time.Millisecond {
			return errorf(in.Line, "HEALTHCHECK --%s cannot be less than 1ms", name)
		}
		*dst = d
	}
	if v, ok := flags["retries"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf(in.Line, "HEALTHCHECK --retries must be a non-negative integer, got %q", v)
		}
		hc.Retries = n
	}
	e.cfg.Healthcheck = hc
	e.history(fmt.Sprintf("HEALTHCHECK %q", hc.Test), false)
	return nil
}
