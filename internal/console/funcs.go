package console

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
)

// funcs are the helpers every template may call.
var funcs = template.FuncMap{
	"q":        url.QueryEscape,
	"when":     when,
	"bytes":    humanBytes,
	"deref":    deref,
	"join":     strings.Join,
	"lastPart": lastPart,
}

// when formats an API timestamp or time.Time for people: UTC, to the
// second.
func when(v any) string {
	switch t := v.(type) {
	case time.Time:
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	case *time.Time:
		if t == nil {
			return ""
		}
		return when(*t)
	case string:
		if p, err := time.Parse(time.RFC3339Nano, t); err == nil {
			return when(p)
		}
		return t
	case *string:
		if t == nil {
			return ""
		}
		return when(*t)
	}
	return fmt.Sprint(v)
}

// humanBytes formats a size in binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// deref shows an optional API string or number ("" for nil).
func deref(v any) string {
	switch p := v.(type) {
	case *string:
		if p == nil {
			return ""
		}
		return *p
	case *int32:
		if p == nil {
			return ""
		}
		return fmt.Sprint(*p)
	case *int64:
		if p == nil {
			return ""
		}
		return fmt.Sprint(*p)
	case *bool:
		if p == nil {
			return ""
		}
		return fmt.Sprint(*p)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// lastPart is the text after the last "/" (a resource's name and version
// out of its ARN).
func lastPart(s string) string {
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}
