package toe

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kiln-build/kiln/internal/yamlmap"

	"go.yaml.in/yaml/v3"
)

// Loop is a step's `loop`: a numeric range (For) or a list (forEach, either
// a YAML list in Items or one delimited string in List).
type Loop struct {
	Name      string
	For       *ForRange
	Items     []string
	List      string
	Delimiter string
	// ListForm is true for `forEach: {list, delimiter}`.
	ListForm bool

	nameNode  *yaml.Node
	itemNodes []*yaml.Node // forEach items or the list scalar, for reference checks
}

// ForRange is `for: {start, end, updateBy}`; End is inclusive.
type ForRange struct {
	Start, End, UpdateBy int
}

// maxIterations caps a loop so a huge range cannot run forever; AWS
// documents no cap.
const maxIterations = 10000

// delimiters are the characters the schema allows for forEach.delimiter.
const delimiters = ".,;:\n\t -_"

func (d *Document) parseLoop(n *yaml.Node) *Loop {
	n = yamlmap.Deref(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "loop must be a mapping with for or forEach")
		return nil
	}
	l := &Loop{}
	var sawFor, sawEach bool
	d.pairs(n, "loop", []string{"name", "for", "forEach"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			l.Name, _ = d.scalar(v, "loop name")
			l.nameNode = v
		case "for":
			sawFor = true
			l.For = d.parseFor(v)
		case "forEach":
			sawEach = true
			d.parseForEach(l, v)
		}
	})
	switch {
	case sawFor && sawEach:
		d.errorf(n, "loop must have exactly one of for and forEach, not both")
		return nil
	case !sawFor && !sawEach:
		d.errorf(n, "loop must have for or forEach")
		return nil
	}
	return l
}

// parseFor reads a range. updateBy is documented as required, but a range
// written without it is read as stepping by 1 towards end, the only
// sensible meaning.
func (d *Document) parseFor(n *yaml.Node) *ForRange {
	n = yamlmap.Deref(n)
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "loop.for must be a mapping with start, end and updateBy")
		return nil
	}
	r := &ForRange{}
	var sawStart, sawEnd, sawBy bool
	var byNode *yaml.Node
	d.pairs(n, "loop.for", []string{"start", "end", "updateBy"}, func(key string, k, v *yaml.Node) {
		x, ok := d.integer(v, "loop.for."+key)
		if !ok {
			return
		}
		switch key {
		case "start":
			r.Start, sawStart = x, true
		case "end":
			r.End, sawEnd = x, true
		case "updateBy":
			r.UpdateBy, sawBy, byNode = x, true, v
		}
	})
	if !sawStart || !sawEnd {
		d.errorf(n, "loop.for needs start and end")
		return nil
	}
	if !sawBy {
		r.UpdateBy = 1
		if r.End < r.Start {
			r.UpdateBy = -1
		}
		byNode = n
	}
	switch {
	case r.UpdateBy == 0:
		d.errorf(byNode, "loop.for.updateBy must not be 0")
		return nil
	case r.Start < r.End && r.UpdateBy < 0, r.Start > r.End && r.UpdateBy > 0:
		d.errorf(byNode, "loop.for never reaches end %d from start %d by %d", r.End, r.Start, r.UpdateBy)
		return nil
	}
	if n := (r.End-r.Start)/r.UpdateBy + 1; n > maxIterations {
		d.errorf(byNode, "loop.for has %d iterations, more than %d", n, maxIterations)
		return nil
	}
	return r
}

func (d *Document) parseForEach(l *Loop, n *yaml.Node) {
	n = yamlmap.Deref(n)
	switch n.Kind {
	case yaml.SequenceNode:
		for _, it := range n.Content {
			s, ok := d.scalar(it, "forEach item")
			if ok {
				l.Items = append(l.Items, s)
				l.itemNodes = append(l.itemNodes, yamlmap.Deref(it))
			}
		}
	case yaml.MappingNode:
		l.ListForm = true
		l.Delimiter = ","
		var sawList bool
		d.pairs(n, "loop.forEach", []string{"list", "delimiter"}, func(key string, k, v *yaml.Node) {
			s, ok := d.scalar(v, "forEach."+key)
			if !ok {
				return
			}
			switch key {
			case "list":
				sawList = true
				l.List = s
				l.itemNodes = append(l.itemNodes, yamlmap.Deref(v))
			case "delimiter":
				switch s {
				case `\n`:
					s = "\n"
				case `\t`:
					s = "\t"
				}
				if len(s) != 1 || !strings.Contains(delimiters, s) {
					d.errorf(v, "forEach.delimiter must be one of . , ; : newline tab space - _, not %q", s)
					return
				}
				l.Delimiter = s
			}
		})
		if !sawList {
			d.errorf(n, "forEach needs list")
		}
	default:
		d.errorf(n, "forEach must be a list or a mapping with list and delimiter")
	}
}

// iteration is one pass of a loop.
type iteration struct {
	Index int
	Value string
}

// iterations expands and lists the loop's passes. expand resolves
// references in forEach items (not loop variables).
func (l *Loop) iterations(expand func(string) (string, error)) ([]iteration, error) {
	var its []iteration
	switch {
	case l.For != nil:
		r := l.For
		for i, v := 0, r.Start; (r.UpdateBy > 0 && v <= r.End) || (r.UpdateBy < 0 && v >= r.End); i, v = i+1, v+r.UpdateBy {
			if i >= maxIterations {
				return nil, fmt.Errorf("loop has more than %d iterations", maxIterations)
			}
			its = append(its, iteration{i, strconv.Itoa(v)})
		}
	case l.ListForm:
		s, err := expand(l.List)
		if err != nil {
			return nil, err
		}
		// An empty list means no iterations; empty segments between
		// delimiters are kept, like strings.Split.
		if s != "" {
			for i, v := range strings.Split(s, l.Delimiter) {
				its = append(its, iteration{i, v})
			}
		}
	default:
		for i, item := range l.Items {
			v, err := expand(item)
			if err != nil {
				return nil, err
			}
			its = append(its, iteration{i, v})
		}
	}
	if len(its) > maxIterations {
		return nil, fmt.Errorf("loop has more than %d iterations", maxIterations)
	}
	return its, nil
}
