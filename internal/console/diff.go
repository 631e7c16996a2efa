package console

import "strings"

// DiffLine is one line of a line diff: Op is ' ' (in both), '-' (only in
// the old text) or '+' (only in the new).
type DiffLine struct {
	Op   byte
	Text string
}

// maxDiffCells bounds the LCS table (old lines × new lines). Recipes
// normalise to a few dozen lines; past the bound the diff degrades to
// "all removed, all added" rather than spend memory on a huge input.
const maxDiffCells = 4 << 20

// lineDiff is the shortest-edit line diff of a and b by longest common
// subsequence: the classic dynamic programme, small and exact, which is
// all two versions of one recipe need.
func lineDiff(a, b string) []DiffLine {
	x, y := splitLines(a), splitLines(b)
	// Common prefix and suffix cost nothing and shrink the table.
	pre := 0
	for pre < len(x) && pre < len(y) && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < len(x)-pre && suf < len(y)-pre && x[len(x)-1-suf] == y[len(y)-1-suf] {
		suf++
	}
	var out []DiffLine
	for _, l := range x[:pre] {
		out = append(out, DiffLine{' ', l})
	}
	mx, my := x[pre:len(x)-suf], y[pre:len(y)-suf]
	if len(mx)*len(my) > maxDiffCells {
		for _, l := range mx {
			out = append(out, DiffLine{'-', l})
		}
		for _, l := range my {
			out = append(out, DiffLine{'+', l})
		}
	} else {
		// lcs[i][j] is the LCS length of mx[i:] and my[j:].
		n, m := len(mx), len(my)
		lcs := make([][]int32, n+1)
		for i := range lcs {
			lcs[i] = make([]int32, m+1)
		}
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if mx[i] == my[j] {
					lcs[i][j] = lcs[i+1][j+1] + 1
				} else {
					lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n && j < m {
			switch {
			case mx[i] == my[j]:
				out = append(out, DiffLine{' ', mx[i]})
				i, j = i+1, j+1
			case lcs[i+1][j] >= lcs[i][j+1]:
				out = append(out, DiffLine{'-', mx[i]})
				i++
			default:
				out = append(out, DiffLine{'+', my[j]})
				j++
			}
		}
		for ; i < n; i++ {
			out = append(out, DiffLine{'-', mx[i]})
		}
		for ; j < m; j++ {
			out = append(out, DiffLine{'+', my[j]})
		}
	}
	for _, l := range x[len(x)-suf:] {
		out = append(out, DiffLine{' ', l})
	}
	return out
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
