package benchkit

import (
	"strconv"
	"strings"
)

// ParseMountinfo returns the mount points of /proc/PID/mountinfo text
// (the fifth field of each line, octal escapes such as \040 decoded).
func ParseMountinfo(text string) []string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		out = append(out, unescapeOctal(f[4]))
	}
	return out
}

// unescapeOctal decodes the kernel's \NNN escapes of space, tab, newline
// and backslash in mountinfo fields.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
