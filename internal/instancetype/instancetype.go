// Package instancetype knows the size (vCPUs and memory) of common EC2
// instance types, so that an infrastructure configuration's instanceTypes
// can bound a kiln build the way the instance would have bounded an EC2
// Image Builder build.
package instancetype

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is what an instance type offers a build.
type Size struct {
	VCPU      int
	MemoryMiB int64
}

// Default is the size of a build whose infrastructure configuration names
// no instance type, or one kiln does not know: a t3.medium, 2 vCPUs and
// 4 GiB.
var Default = Size{VCPU: 2, MemoryMiB: 4096}

// Memory renders the memory as people write it: "4 GiB", "512 MiB".
func (s Size) Memory() string {
	if s.MemoryMiB%1024 == 0 {
		return fmt.Sprintf("%d GiB", s.MemoryMiB/1024)
	}
	return fmt.Sprintf("%d MiB", s.MemoryMiB)
}

// burstable are the t families' sizes (t3, t3a, t4g; t2 differs below).
var burstable = map[string]Size{
	"nano": {2, 512}, "micro": {2, 1024}, "small": {2, 2048}, "medium": {2, 4096},
	"large": {2, 8192}, "xlarge": {4, 16384}, "2xlarge": {8, 32768},
}

var t2 = map[string]Size{
	"nano": {1, 512}, "micro": {1, 1024}, "small": {1, 2048}, "medium": {2, 4096},
	"large": {2, 8192}, "xlarge": {4, 16384}, "2xlarge": {8, 32768},
}

// fixedRatio are the general purpose (m), compute (c) and memory (r)
// families: their memory is a fixed number of GiB per vCPU.
var fixedRatio = map[string]int64{"m": 4, "c": 2, "r": 8}

// fixedRatioFamilies are the generations kiln knows, Intel, AMD and
// Graviton.
var fixedRatioFamilies = map[string]bool{
	"m5": true, "m5a": true, "m6i": true, "m6a": true, "m7i": true, "m7a": true, "m6g": true, "m7g": true, "m8g": true,
	"c5": true, "c5a": true, "c6i": true, "c6a": true, "c7i": true, "c7a": true, "c6g": true, "c7g": true, "c8g": true,
	"r5": true, "r5a": true, "r6i": true, "r6a": true, "r7i": true, "r7a": true, "r6g": true, "r7g": true, "r8g": true,
}

// xlargeMultiples are the "Nxlarge" sizes of those families (9 and 18
// only on c5).
var xlargeMultiples = map[int]bool{2: true, 4: true, 8: true, 12: true, 16: true, 24: true, 48: true}

// Lookup returns the size of an instance type such as "t3.medium".
func Lookup(name string) (Size, bool) {
	family, size, ok := strings.Cut(strings.ToLower(strings.TrimSpace(name)), ".")
	if !ok {
		return Size{}, false
	}
	switch family {
	case "t3", "t3a", "t4g":
		s, ok := burstable[size]
		return s, ok
	case "t2":
		s, ok := t2[size]
		return s, ok
	}
	if !fixedRatioFamilies[family] {
		return Size{}, false
	}
	perVCPU := fixedRatio[family[:1]]
	graviton := strings.HasSuffix(family, "g")
	var vcpu int
	switch {
	case size == "medium" && graviton:
		vcpu = 1
	case size == "large":
		vcpu = 2
	case size == "xlarge":
		vcpu = 4
	case strings.HasSuffix(size, "xlarge"):
		n, err := strconv.Atoi(strings.TrimSuffix(size, "xlarge"))
		if err != nil || !(xlargeMultiples[n] || family == "c5" && (n == 9 || n == 18)) {
			return Size{}, false
		}
		vcpu = 4 * n
	default:
		return Size{}, false
	}
	return Size{VCPU: vcpu, MemoryMiB: int64(vcpu) * perVCPU * 1024}, true
}
