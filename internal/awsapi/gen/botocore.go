package main

import (
	"encoding/json"
	"fmt"
	"os"
)

// botocoreModel returns the model with the overlay merged in, as one
// api-2.json (botocore's service-2.json format), by the same merge rules
// load applies. Debian's AWS CLI and boto3 carry an Image Builder model
// from before ImportDiskImage, workflows and lifecycle policies; `kiln
// aws-model` hands them this one through AWS_DATA_PATH, so every operation
// kiln answers can be called with the clients users already have.
func botocoreModel(modelPath, overlayPath string) ([]byte, error) {
	var base, over map[string]any
	for _, f := range []struct {
		path string
		into *map[string]any
	}{{modelPath, &base}, {overlayPath, &over}} {
		raw, err := os.ReadFile(f.path)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, f.into); err != nil {
			return nil, fmt.Errorf("%s: %v", f.path, err)
		}
	}
	for _, section := range []string{"operations", "shapes"} {
		dst, _ := base[section].(map[string]any)
		src, _ := over[section].(map[string]any)
		if dst == nil || src == nil {
			return nil, fmt.Errorf("model or overlay lacks %q", section)
		}
		for name, v := range src {
			add, _ := v.(map[string]any)
			have, ok := dst[name].(map[string]any)
			if !ok {
				dst[name] = add
				continue
			}
			mergeEntry(have, add)
		}
	}
	out, err := json.MarshalIndent(base, "", " ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// mergeEntry merges one overlay operation or shape into the model's: keys
// are replaced, except members (merged member by member) and the lists
// enum, required and errors (unions, overlay entries appended).
func mergeEntry(have, add map[string]any) {
	for k, v := range add {
		switch k {
		case "members":
			m, _ := have[k].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			for name, member := range v.(map[string]any) {
				m[name] = member
			}
			have[k] = m
		case "enum", "required", "errors":
			list, _ := have[k].([]any)
			for _, e := range v.([]any) {
				if !containsJSON(list, e) {
					list = append(list, e)
				}
			}
			have[k] = list
		default:
			have[k] = v
		}
	}
}

func containsJSON(list []any, v any) bool {
	want, _ := json.Marshal(v)
	for _, e := range list {
		if got, _ := json.Marshal(e); string(got) == string(want) {
			return true
		}
	}
	return false
}
