package instancetype

import "strings"

// Architecture is the CPU architecture of an instance type, by EC2's
// naming scheme: a family name is a class (letters), a generation
// (digits) and attributes (letters), and the attribute "g" first marks
// AWS Graviton (t4g, c6gn, m7gd, r8g, x2gd, im4gn, is4gen, g5g, hpc7g);
// a1 is the first Graviton and mac2 are Apple silicon. Every other
// well-formed family is x86_64 (Intel or AMD: m5, c6i, r7a, p4d, ...).
// Graviton instances are arm64: an AMI of the other architecture does not
// boot on them. It returns "" for a name that is not an instance type.
func Architecture(name string) string {
	family, size, ok := strings.Cut(strings.ToLower(strings.TrimSpace(name)), ".")
	if !ok || size == "" || family == "" {
		return ""
	}
	if variant, _, found := strings.Cut(family, "-"); found {
		family = variant // m7i-flex, mac2-m2pro
	}
	i := 0
	for i < len(family) && family[i] >= 'a' && family[i] <= 'z' {
		i++
	}
	j := i
	for j < len(family) && family[j] >= '0' && family[j] <= '9' {
		j++
	}
	class, generation, attrs := family[:i], family[i:j], family[j:]
	if class == "" || generation == "" || strings.IndexFunc(attrs, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
		return ""
	}
	switch {
	case class == "a" && generation == "1", class == "mac" && generation != "1", strings.HasPrefix(attrs, "g"):
		return "arm64"
	}
	return "x86_64"
}
