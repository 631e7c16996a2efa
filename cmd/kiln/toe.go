package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kiln-build/kiln/internal/toe"
	"github.com/kiln-build/kiln/internal/toe/action"
	"golang.org/x/sys/unix"
)

const toeUsage = `usage: kiln toe <command> [flags]

Commands (awstoe-compatible):
  validate   check component documents: --documents a.yaml,b.yaml
  run        run component documents:   --documents a.yaml --phases build,validate

Run "kiln toe <command> -h" for the flags of a command.
`

// toeMain is `kiln toe ...`: awstoe's validate and run on this host.
// Exit codes: 0 when every document validated or ran to success (or
// success with ignored failures), 1 for failures, invalid documents and
// bad usage. kiln never exits 194: it does not hand reboots to an SSM
// agent (see toe.Runner).
func toeMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, toeUsage)
		return 1
	}
	switch args[0] {
	case "validate":
		return toeValidate(args[1:], stdout, stderr)
	case "run":
		return toeRun(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, toeUsage)
		return 0
	}
	fmt.Fprintf(stderr, "kiln toe: unknown command %q\n%s", args[0], toeUsage)
	return 1
}

// stringFlag registers one string flag under a long and an optional short
// name (awstoe's -d/--documents pairs).
func stringFlag(fs *flag.FlagSet, p *string, long, short, usage string) {
	fs.StringVar(p, long, "", usage)
	if short != "" {
		fs.StringVar(p, short, "", "short for --"+long)
	}
}

func toeValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kiln toe validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var documents, platforms string
	var trace bool
	stringFlag(fs, &documents, "documents", "d", "comma-separated component documents: files, s3://bucket/key or component ARNs")
	fs.StringVar(&platforms, "os-platforms", "linux", "platform to validate for (only linux)")
	var docs toeDocuments
	docs.register(fs)
	fs.BoolVar(&trace, "trace", false, "print warnings too")
	fs.BoolVar(&trace, "t", false, "short for --trace")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "kiln toe validate: unexpected argument %q\n", fs.Arg(0))
		return 1
	}
	if platforms != "linux" {
		fmt.Fprintf(stderr, "kiln toe validate: --os-platforms %s: only linux is supported\n", platforms)
		return 1
	}
	failed := false
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, path := range splitList(documents) {
		data, err := docs.read(ctx, path)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", path, err)
			failed = true
			continue
		}
		doc, err := toe.Parse(path, data)
		if err != nil {
			fmt.Fprintln(stderr, err)
			failed = true
			continue
		}
		problems := doc.Validate()
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		if trace {
			for _, w := range doc.Warnings() {
				fmt.Fprintf(stderr, "%s (warning)\n", w)
			}
		}
		if len(problems) > 0 {
			failed = true
			fmt.Fprintf(stdout, "%s: invalid (%d problems)\n", path, len(problems))
			continue
		}
		fmt.Fprintf(stdout, "%s: valid\n", path)
	}
	if failed {
		return 1
	}
	return 0
}

// runConfig is awstoe's --config file. The 2023 docs spell the id key
// "executonId" in the field list and "executionId" in the example; both
// are read.
type runConfig struct {
	Documents []struct {
		Path       string          `json:"path"`
		Parameters json.RawMessage `json:"parameters"`
	} `json:"documents"`
	Phases                string          `json:"phases"`
	Parameters            json.RawMessage `json:"parameters"`
	ExecutionID           string          `json:"executionId"`
	ExecutonID            string          `json:"executonId"`
	LogDirectory          string          `json:"logDirectory"`
	StateDirectory        string          `json:"stateDirectory"`
	Trace                 bool            `json:"trace"`
	DocumentS3BucketOwner string          `json:"documentS3BucketOwner"`
	LogS3BucketName       string          `json:"logS3BucketName"`
	LogS3KeyPrefix        string          `json:"logS3KeyPrefix"`
	LogS3BucketOwner      string          `json:"logS3BucketOwner"`
	CWLogGroup            string          `json:"cwLogGroup"`
	CWLogStream           string          `json:"cwLogStream"`
	CWLogRegion           string          `json:"cwLogRegion"`
	CWIgnoreFailures      bool            `json:"cwIgnoreFailures"`
}

// toeLogDestinations are awstoe's run flags that send the logs elsewhere.
// S3 is done (UploadLogFolder, through --s3-endpoint when given);
// CloudWatch Logs is accepted and reported as not shipped, because kiln
// has no CloudWatch Logs endpoint to stream to: the console output stays
// in console.log of the log folder.
type toeLogDestinations struct {
	s3Bucket, s3Prefix, s3Owner string
	cwGroup, cwStream, cwRegion string
	cwIgnoreFailures            bool
}

func (l *toeLogDestinations) register(fs *flag.FlagSet) {
	stringFlag(fs, &l.s3Bucket, "log-s3-bucket-name", "b", "upload the log folder to this bucket when the run ends")
	stringFlag(fs, &l.s3Prefix, "log-s3-key-prefix", "k", "key prefix for the uploaded log folder")
	fs.StringVar(&l.s3Owner, "log-s3-bucket-owner", "", "expected owner account of the log bucket")
	fs.StringVar(&l.cwGroup, "cw-log-group", "", "CloudWatch Logs group (accepted; not shipped by kiln)")
	fs.StringVar(&l.cwStream, "cw-log-stream", "", "CloudWatch Logs stream (accepted; not shipped by kiln)")
	fs.StringVar(&l.cwRegion, "cw-log-region", "", "CloudWatch Logs region (accepted; not shipped by kiln)")
	fs.BoolVar(&l.cwIgnoreFailures, "cw-ignore-failures", false, "do not fail the run on CloudWatch errors (accepted; kiln ships none)")
}

// fromConfig fills what the flags left unset from a --config file.
func (l *toeLogDestinations) fromConfig(cfg *runConfig) {
	fill := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	fill(&l.s3Bucket, cfg.LogS3BucketName)
	fill(&l.s3Prefix, cfg.LogS3KeyPrefix)
	fill(&l.s3Owner, cfg.LogS3BucketOwner)
	fill(&l.cwGroup, cfg.CWLogGroup)
	fill(&l.cwStream, cfg.CWLogStream)
	fill(&l.cwRegion, cfg.CWLogRegion)
	l.cwIgnoreFailures = l.cwIgnoreFailures || cfg.CWIgnoreFailures
}

// noteCloudWatch says, once, that CloudWatch streaming was asked for and
// is not shipped.
func (l *toeLogDestinations) noteCloudWatch(stderr io.Writer) {
	if l.cwGroup == "" && l.cwStream == "" && l.cwRegion == "" && !l.cwIgnoreFailures {
		return
	}
	fmt.Fprintf(stderr, "kiln toe run: CloudWatch Logs streaming (--cw-log-group %q --cw-log-stream %q --cw-log-region %q) is not shipped: kiln has no CloudWatch Logs endpoint; the console output is in console.log of the log folder\n",
		l.cwGroup, l.cwStream, l.cwRegion)
}

func toeRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("kiln toe run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var documents, configPath, phases, parameters, execID, logDir, cwd, stateDir, report, rebootCmd, blocked string
	var loc toeDocuments
	s3 := &loc.s3
	var trace, progress, showVersion bool
	var logDest toeLogDestinations
	logDest.register(fs)
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	fs.BoolVar(&showVersion, "v", false, "short for --version")
	stringFlag(fs, &documents, "documents", "d", "comma-separated component documents: files, s3://bucket/key or component ARNs")
	stringFlag(fs, &configPath, "config", "c", "run configuration JSON file, local or s3://bucket/key")
	stringFlag(fs, &phases, "phases", "p", "comma-separated phases to run (default all)")
	fs.StringVar(&parameters, "parameters", "", `parameter values: name=value,name2=value2 or JSON [{"name":..,"value":..}]`)
	stringFlag(fs, &execID, "execution-id", "i", "execution id (default a random UUID)")
	stringFlag(fs, &logDir, "log-directory", "l", "parent directory of the TOE_* log folder (default .)")
	fs.StringVar(&cwd, "cwd", "", "working directory for steps (default the current directory)")
	stringFlag(fs, &stateDir, "state-directory", "s", "directory for reboot state files")
	fs.BoolVar(&trace, "trace", false, "copy the application log to stderr")
	fs.BoolVar(&trace, "t", false, "short for --trace")
	fs.StringVar(&report, "report", "", "extra report: junit=FILE")
	fs.BoolVar(&progress, "progress", false, "live step progress instead of command output on stdout (default: on when stdout is a terminal)")
	fs.StringVar(&rebootCmd, "reboot-command", "", "shell command run when a step asks for a reboot (default: log it and continue)")
	fs.StringVar(&blocked, "blocked-action-modules", "", "comma-separated actions that must not run")
	loc.register(fs)
	if err := fs.Parse(args); err != nil {
		return 1
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "kiln toe run: "+format+"\n", a...)
		return 1
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if showVersion {
		fmt.Fprintf(stdout, "kiln toe %s (awstoe-compatible)\n", version)
		return 0
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var docs []toe.DocumentSource
	params := map[string]string{}
	if configPath == "" && documents == "" {
		return usage("one of --documents or --config is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if configPath != "" {
		data, err := loc.read(ctx, configPath)
		if err != nil {
			return usage("--config: %v", err)
		}
		var cfg runConfig
		if err := json.Unmarshal(data, &cfg); err != nil {
			return usage("--config %s: %v", configPath, err)
		}
		logDest.fromConfig(&cfg)
		if len(cfg.Documents) > 0 && documents != "" {
			return usage("documents may be given in --config or --documents, not both")
		}
		if len(cfg.Parameters) > 0 && parameters != "" {
			return usage("parameters may be given in --config or --parameters, not both")
		}
		for _, d := range cfg.Documents {
			p, err := parseParameters(string(d.Parameters))
			if err != nil {
				return usage("--config %s: document %s: %v", configPath, d.Path, err)
			}
			docs = append(docs, toe.DocumentSource{Path: d.Path, Parameters: p})
		}
		if len(cfg.Parameters) > 0 {
			if params, err = parseParameters(string(cfg.Parameters)); err != nil {
				return usage("--config %s: %v", configPath, err)
			}
		}
		if phases == "" {
			phases = cfg.Phases
		}
		if execID == "" {
			execID = cfg.ExecutionID
		}
		if execID == "" {
			execID = cfg.ExecutonID
		}
		if loc.s3Owner == "" {
			loc.s3Owner = cfg.DocumentS3BucketOwner
		}
		if logDir == "" {
			logDir = cfg.LogDirectory
		}
		if stateDir == "" {
			stateDir = cfg.StateDirectory
		}
		trace = trace || cfg.Trace
	}
	for _, p := range splitList(documents) {
		docs = append(docs, toe.DocumentSource{Path: p})
	}
	if parameters != "" {
		p, err := parseParameters(parameters)
		if err != nil {
			return usage("--parameters: %v", err)
		}
		params = p
	}
	for i, d := range docs {
		if remoteDocument(d.Path) {
			data, err := loc.read(ctx, d.Path)
			if err != nil {
				return usage("document %v", err)
			}
			docs[i].Data = data
		}
	}
	if logDir == "" {
		logDir = "."
	}
	var junitPath string
	if report != "" {
		kind, file, ok := strings.Cut(report, "=")
		if !ok || kind != "junit" || file == "" {
			return usage("--report must be junit=FILE")
		}
		junitPath = file
	}
	if !set["progress"] {
		progress = isTerminal(stdout)
	}
	logDest.noteCloudWatch(stderr)

	r := &toe.Runner{
		Stdout:      stdout,
		LogDir:      logDir,
		ExecutionID: execID,
		WorkDir:     cwd,
		StateDir:    stateDir,
		S3:          *s3,
		Progress:    progress,
		Blocked:     splitList(blocked),
		// ExecuteDocument reads s3:// documents and component ARNs as
		// --documents does.
		ReadDocument: loc.read,
	}
	if trace {
		r.Trace = stderr
	}
	if rebootCmd != "" {
		r.Reboot = func(ctx context.Context, req toe.RebootRequest) error {
			cmd := exec.CommandContext(ctx, "sh", "-c", rebootCmd)
			cmd.Stdout, cmd.Stderr = stderr, stderr
			cmd.Env = append(os.Environ(),
				"KILN_TOE_REBOOT_DOCUMENT="+req.Document, "KILN_TOE_REBOOT_PHASE="+req.Phase,
				"KILN_TOE_REBOOT_STEP="+req.Step, fmt.Sprintf("KILN_TOE_REBOOT_DELAY_SECONDS=%d", int(req.Delay.Seconds())))
			return cmd.Run()
		}
	}
	rep, err := r.Run(ctx, docs, splitList(phases), params)
	if err != nil {
		var verr *toe.ValidationError
		if errors.As(err, &verr) {
			fmt.Fprintf(stderr, "kiln toe run: %d problems in the documents\n", len(verr.Problems))
			return 1
		}
		fmt.Fprintf(stderr, "kiln toe run: %v\n", err)
		if rep == nil {
			return 1
		}
	}
	if junitPath != "" {
		f, err := os.Create(junitPath)
		if err == nil {
			err = rep.WriteJUnit(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "kiln toe run: --report: %v\n", err)
			return 1
		}
	}
	summary, _ := json.MarshalIndent(rep.Summary(), "", "    ")
	fmt.Fprintf(stdout, "%s\n", summary)
	uploaded := true
	if logDest.s3Bucket != "" && rep.LogDir != "" {
		if err := action.UploadLogFolder(ctx, *s3, rep.LogDir, logDest.s3Bucket, logDest.s3Prefix, logDest.s3Owner); err != nil {
			fmt.Fprintf(stderr, "kiln toe run: uploading the logs to s3://%s/%s: %v\n", logDest.s3Bucket, logDest.s3Prefix, err)
			uploaded = false
		} else {
			fmt.Fprintf(stderr, "kiln toe run: logs uploaded to s3://%s/%s%s/\n", logDest.s3Bucket, withSlash(logDest.s3Prefix), filepath.Base(rep.LogDir))
		}
	}
	if !rep.Succeeded() || !uploaded {
		return 1
	}
	return 0
}

// withSlash is a non-empty key prefix ending in "/".
func withSlash(prefix string) string {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		return prefix + "/"
	}
	return prefix
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// parseParameters reads parameter values in awstoe's forms:
// "name=value,name2=value2" (split at the first "=" of each pair, so values
// cannot hold commas: use the JSON form for those), a JSON list
// [{"name":"n","value":"v"}] whose value may also be a one-element list as
// Image Builder recipes send it, or a JSON object {"n":"v"}.
func parseParameters(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	out := map[string]string{}
	if s == "" || s == "null" {
		return out, nil
	}
	switch s[0] {
	case '[':
		var list []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, err
		}
		for _, p := range list {
			if p.Name == "" {
				return nil, errors.New("parameter without a name")
			}
			v, err := parameterValue(p.Value)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %v", p.Name, err)
			}
			out[p.Name] = v
		}
		return out, nil
	case '{':
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, err
		}
		for k, raw := range m {
			v, err := parameterValue(raw)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %v", k, err)
			}
			out[k] = v
		}
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || value == "" {
			return nil, fmt.Errorf("%q is not name=value", pair)
		}
		out[name] = value
	}
	return out, nil
}

func parameterValue(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil && len(list) == 1 {
		return list[0], nil
	}
	return "", errors.New("value must be a string or a one-element list of strings")
}

// isTerminal reports whether w is a terminal, to turn on live progress.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
