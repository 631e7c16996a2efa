package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// modelModule is the module whose models/ tree holds the API model; the
// generator asks the go command for it rather than requiring it in go.mod.
const (
	modelModule = "github.com/aws/aws-sdk-go@v1.55.7"
	modelFile   = "models/apis/imagebuilder/2019-12-02/api-2.json"
)

// findModel downloads (or finds in the module cache) modelModule and
// returns the path of the Image Builder api-2.json in it. It runs in a
// temporary directory with workspaces off so that the kiln module's go.mod
// and go.sum are never touched.
func findModel() (string, error) {
	dir, err := os.MkdirTemp("", "awsapi-gen")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "mod", "download", "-json", modelModule)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", modelModule, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %v: %s", modelModule, err, strings.TrimSpace(stderr.String()))
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no Dir in %q", modelModule, out)
	}
	return filepath.Join(info.Dir, filepath.FromSlash(modelFile)), nil
}

// api is the part of an api-2.json document the generator reads.
type api struct {
	Operations map[string]*operation
	Shapes     map[string]*shape
}

type operation struct {
	Name string `json:"name"`
	HTTP struct {
		Method     string `json:"method"`
		RequestURI string `json:"requestUri"`
	} `json:"http"`
	Input  *ref  `json:"input"`
	Output *ref  `json:"output"`
	Errors []ref `json:"errors"`

	inV1 bool // present in the v1 model, not only in the overlay
}

type ref struct {
	Shape string `json:"shape"`
}

type shape struct {
	Type      string    `json:"type"`
	Members   members   `json:"members"`
	Required  []string  `json:"required"`
	Enum      []string  `json:"enum"`
	Min       *float64  `json:"min"`
	Max       *float64  `json:"max"`
	Pattern   string    `json:"pattern"`
	Member    *ref      `json:"member"`
	Key       *ref      `json:"key"`
	Value     *ref      `json:"value"`
	Error     *apiError `json:"error"`
	Exception bool      `json:"exception"`
}

type apiError struct {
	HTTPStatusCode int `json:"httpStatusCode"`
}

type member struct {
	Name             string `json:"-"`
	Shape            string `json:"shape"`
	Location         string `json:"location"`
	LocationName     string `json:"locationName"`
	IdempotencyToken bool   `json:"idempotencyToken"`
}

// members keeps the model's member order, which is the JSON order of a
// shape's fields and the order validation reports problems in. Decoding
// into a non-empty members merges: a member of the same name is replaced,
// a new one is appended. That is how the overlay adds members.
type members []*member

func (ms *members) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("members: want a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		m := &member{}
		if err := dec.Decode(m); err != nil {
			return fmt.Errorf("member %s: %v", name, err)
		}
		m.Name = name
		if i := slices.IndexFunc(*ms, func(x *member) bool { return x.Name == name }); i >= 0 {
			(*ms)[i] = m
		} else {
			*ms = append(*ms, m)
		}
	}
	_, err := dec.Token()
	return err
}

// Keys the generator understands; anything else in the model is an error,
// so a model change that matters cannot slip through silently.
var (
	knownShapeKeys  = []string{"type", "members", "required", "enum", "min", "max", "pattern", "member", "key", "value", "error", "exception", "documentation"}
	knownMemberKeys = []string{"shape", "location", "locationName", "idempotencyToken", "box", "documentation"}
	knownOpKeys     = []string{"name", "http", "input", "output", "errors", "documentation"}
)

func checkKeys(what string, raw json.RawMessage, known []string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("%s: %v", what, err)
	}
	for k := range m {
		if !slices.Contains(known, k) {
			return fmt.Errorf("%s: unsupported key %q", what, k)
		}
	}
	if ms, ok := m["members"]; ok {
		var mm map[string]json.RawMessage
		if err := json.Unmarshal(ms, &mm); err != nil {
			return fmt.Errorf("%s members: %v", what, err)
		}
		for name, raw := range mm {
			if err := checkKeys(what+" member "+name, raw, knownMemberKeys); err != nil {
				return err
			}
		}
	}
	return nil
}

// rawAPI is an api-2.json document before it is decoded, so that the
// overlay can be applied key by key.
type rawAPI struct {
	Operations map[string]json.RawMessage `json:"operations"`
	Shapes     map[string]json.RawMessage `json:"shapes"`
}

func readRaw(path string) (*rawAPI, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r rawAPI
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return &r, nil
}

// load reads the model and merges the overlay over it (see the package
// doc for the rules).
func load(modelPath, overlayPath string) (*api, error) {
	base, err := readRaw(modelPath)
	if err != nil {
		return nil, err
	}
	over, err := readRaw(overlayPath)
	if err != nil {
		return nil, err
	}
	a := &api{Operations: map[string]*operation{}, Shapes: map[string]*shape{}}
	for _, src := range []*rawAPI{base, over} {
		fromOverlay := src == over
		for _, name := range sortedKeys(src.Shapes) {
			raw := src.Shapes[name]
			if err := checkKeys("shape "+name, raw, knownShapeKeys); err != nil {
				return nil, err
			}
			s := a.Shapes[name]
			if s == nil {
				s = &shape{}
				a.Shapes[name] = s
			}
			// Unmarshal reuses a slice's array, so take the old lists
			// out before decoding over them.
			oldEnum, oldRequired := s.Enum, s.Required
			s.Enum, s.Required = nil, nil
			if err := json.Unmarshal(raw, s); err != nil {
				return nil, fmt.Errorf("shape %s: %v", name, err)
			}
			s.Enum = union(oldEnum, s.Enum)
			s.Required = union(oldRequired, s.Required)
		}
		for _, name := range sortedKeys(src.Operations) {
			raw := src.Operations[name]
			if err := checkKeys("operation "+name, raw, knownOpKeys); err != nil {
				return nil, err
			}
			op := a.Operations[name]
			if op == nil {
				op = &operation{inV1: !fromOverlay}
				a.Operations[name] = op
			}
			oldErrors := op.Errors
			op.Errors = nil
			if err := json.Unmarshal(raw, op); err != nil {
				return nil, fmt.Errorf("operation %s: %v", name, err)
			}
			op.Errors = unionRefs(oldErrors, op.Errors)
		}
	}
	return a, a.check()
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func unionRefs(a, b []ref) []ref {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// check rejects what the generator does not know how to emit, so that the
// generated code never silently drops part of the model.
func (a *api) check() error {
	exists := func(what, name string) error {
		if _, ok := a.Shapes[name]; !ok {
			return fmt.Errorf("%s: unknown shape %q", what, name)
		}
		return nil
	}
	for _, name := range sortedKeys(a.Shapes) {
		s := a.Shapes[name]
		if !isIdent(name) {
			return fmt.Errorf("shape %q: not a Go identifier", name)
		}
		switch s.Type {
		case "string", "boolean", "integer", "long", "double", "timestamp":
		case "structure":
			seen := map[string]bool{}
			for _, m := range s.Members {
				if err := exists("shape "+name+" member "+m.Name, m.Shape); err != nil {
					return err
				}
				if !isIdent(m.Name) || seen[exported(m.Name)] {
					return fmt.Errorf("shape %s: member %q is not a distinct Go identifier", name, m.Name)
				}
				seen[exported(m.Name)] = true
				switch exported(m.Name) {
				case "Validate", "SetRequestId":
					return fmt.Errorf("shape %s: member %q collides with a method", name, m.Name)
				}
			}
			for _, r := range s.Required {
				if !slices.ContainsFunc(s.Members, func(m *member) bool { return m.Name == r }) {
					return fmt.Errorf("shape %s: required member %q does not exist", name, r)
				}
			}
		case "list":
			if s.Member == nil {
				return fmt.Errorf("list %s: no member", name)
			}
			if err := exists("list "+name, s.Member.Shape); err != nil {
				return err
			}
			switch a.Shapes[s.Member.Shape].Type {
			case "string", "structure":
			default:
				return fmt.Errorf("list %s: elements of type %s are not supported", name, a.Shapes[s.Member.Shape].Type)
			}
		case "map":
			if s.Key == nil || s.Value == nil {
				return fmt.Errorf("map %s: no key or value", name)
			}
			if err := exists("map "+name, s.Key.Shape); err != nil {
				return err
			}
			if err := exists("map "+name, s.Value.Shape); err != nil {
				return err
			}
			if a.Shapes[s.Key.Shape].Type != "string" || a.Shapes[s.Value.Shape].Type != "string" {
				return fmt.Errorf("map %s: only string keys and values are supported", name)
			}
		default:
			return fmt.Errorf("shape %s: type %q is not supported", name, s.Type)
		}
	}
	for _, name := range sortedKeys(a.Operations) {
		op := a.Operations[name]
		if op.Name != name {
			return fmt.Errorf("operation %s: name is %q", name, op.Name)
		}
		if op.Input == nil || op.Output == nil {
			return fmt.Errorf("operation %s: needs input and output shapes", name)
		}
		for _, r := range []string{op.Input.Shape, op.Output.Shape} {
			if err := exists("operation "+name, r); err != nil {
				return err
			}
			if a.Shapes[r].Type != "structure" {
				return fmt.Errorf("operation %s: %s is not a structure", name, r)
			}
		}
		for _, e := range op.Errors {
			if err := exists("operation "+name+" error", e.Shape); err != nil {
				return err
			}
			if es := a.Shapes[e.Shape]; !es.Exception || es.Error == nil {
				return fmt.Errorf("operation %s: error %s is not an exception shape", name, e.Shape)
			}
		}
		if strings.ContainsAny(op.HTTP.RequestURI, "?+") {
			return fmt.Errorf("operation %s: request URI %q: query literals and greedy labels are not supported", name, op.HTTP.RequestURI)
		}
		labels := uriLabels(op.HTTP.RequestURI)
		for _, m := range a.Shapes[op.Input.Shape].Members {
			switch m.Location {
			case "":
			case "uri":
				if !slices.Contains(labels, m.LocationName) {
					return fmt.Errorf("operation %s: uri member %s has no label in %s", name, m.Name, op.HTTP.RequestURI)
				}
				labels = slices.DeleteFunc(labels, func(l string) bool { return l == m.LocationName })
				if a.Shapes[m.Shape].Type != "string" {
					return fmt.Errorf("operation %s: uri member %s must be a string", name, m.Name)
				}
			case "querystring", "header":
				t := a.Shapes[m.Shape]
				if t.Type == "structure" || t.Type == "map" || (t.Type == "list" && (m.Location == "header" || a.Shapes[t.Member.Shape].Type != "string")) {
					return fmt.Errorf("operation %s: %s member %s of type %s is not supported", name, m.Location, m.Name, t.Type)
				}
			default:
				return fmt.Errorf("operation %s: member %s: location %q is not supported", name, m.Name, m.Location)
			}
			if m.Location != "" && m.LocationName == "" {
				return fmt.Errorf("operation %s: member %s has no locationName", name, m.Name)
			}
		}
		if len(labels) > 0 {
			return fmt.Errorf("operation %s: labels %v bind to no member", name, labels)
		}
		for _, m := range a.Shapes[op.Output.Shape].Members {
			if m.Location != "" {
				return fmt.Errorf("operation %s: output member %s bound to %s is not supported", name, m.Name, m.Location)
			}
		}
	}
	return nil
}

func uriLabels(uri string) []string {
	var out []string
	for _, seg := range strings.Split(uri, "/") {
		if len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}' {
			out = append(out, seg[1:len(seg)-1])
		}
	}
	return out
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

func exported(s string) string {
	return strings.ToUpper(s[:1]) + s[1:]
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
