package service

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// undeclaredAllowed are the error codes the real service answers for any
// operation, declared or not.
var undeclaredAllowed = []string{
	awsapi.ErrCodeResourceNotFoundException,
	awsapi.ErrCodeInvalidParameterValueException,
}

// TestOperationsAnswerDeclaredErrors walks this package's source: from
// each operation's handler (the awsapi.OpX entries of the *Handlers maps)
// through every function and method of the package it names, it collects
// the awsapi.ErrCodeX codes the code path can build, and fails on a code
// the operation does not declare in the model (the generated operation
// table, which carries the newest model's errors lists), apart from
// ResourceNotFoundException and InvalidParameterValueException.
//
// Calls are resolved by name inside the package, so the walk
// over-approximates (two methods of one name count as one). It does not
// see errors built in other packages; those reach operations through this
// package's helpers, which it does see. TestOperationErrorsMatchModel
// checks the table against the shared model when that is present.
func TestOperationsAnswerDeclaredErrors(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	type fn struct {
		codes map[string]bool
		names map[string]bool
	}
	funcs := map[string][]*fn{}
	roots := map[string][]string{} // operation -> names its handler entry refers to
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			info := &fn{codes: map[string]bool{}, names: map[string]bool{}}
			var visit func(n ast.Node) bool
			visit = func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.CallExpr:
					// op.DeclaredOr(code, fallback) answers code only when
					// the operation declares it (TestDeclaredOr), so only
					// the fallback counts.
					if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "DeclaredOr" && len(x.Args) == 2 {
						ast.Inspect(sel.X, visit)
						ast.Inspect(x.Args[1], visit)
						return false
					}
				case *ast.SelectorExpr:
					if pkg, ok := x.X.(*ast.Ident); ok && pkg.Name == "awsapi" && strings.HasPrefix(x.Sel.Name, "ErrCode") {
						info.codes[strings.TrimPrefix(x.Sel.Name, "ErrCode")] = true
					}
					info.names[x.Sel.Name] = true
				case *ast.Ident:
					info.names[x.Name] = true
				case *ast.KeyValueExpr:
					key, ok := x.Key.(*ast.SelectorExpr)
					if !ok || !strings.HasPrefix(key.Sel.Name, "Op") {
						return true
					}
					if pkg, ok := key.X.(*ast.Ident); !ok || pkg.Name != "awsapi" {
						return true
					}
					op := strings.TrimPrefix(key.Sel.Name, "Op")
					ast.Inspect(x.Value, func(n ast.Node) bool {
						if id, ok := n.(*ast.Ident); ok {
							roots[op] = append(roots[op], id.Name)
						}
						return true
					})
				}
				return true
			}
			ast.Inspect(fd.Body, visit)
			funcs[fd.Name.Name] = append(funcs[fd.Name.Name], info)
		}
	}
	if len(roots) == 0 {
		t.Fatal("no handler entries found")
	}
	for _, op := range sortedOps(roots) {
		o := awsapi.OperationByName(op)
		if o == nil {
			t.Errorf("handler for %s, which the operation table lacks", op)
			continue
		}
		seen := map[string]bool{}
		codes := map[string]bool{}
		queue := slices.Clone(roots[op])
		for len(queue) > 0 {
			name := queue[0]
			queue = queue[1:]
			if seen[name] {
				continue
			}
			seen[name] = true
			for _, f := range funcs[name] {
				for c := range f.codes {
					codes[c] = true
				}
				for n := range f.names {
					if !seen[n] {
						queue = append(queue, n)
					}
				}
			}
		}
		for _, c := range sortedOps(codes) {
			if !slices.Contains(o.Errors, c) && !slices.Contains(undeclaredAllowed, c) {
				t.Errorf("%s can answer %s, which it does not declare (declared: %s)", op, c, strings.Join(o.Errors, ", "))
			}
		}
	}
}

func sortedOps[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestDeclaredOr(t *testing.T) {
	tests := []struct {
		op, code, want string
	}{
		{awsapi.OpCreateComponent, awsapi.ErrCodeIdempotentParameterMismatchException, awsapi.ErrCodeIdempotentParameterMismatchException},
		{awsapi.OpImportDiskImage, awsapi.ErrCodeIdempotentParameterMismatchException, awsapi.ErrCodeClientException},
		{awsapi.OpImportVmImage, awsapi.ErrCodeInvalidRequestException, awsapi.ErrCodeClientException},
	}
	for _, tc := range tests {
		if got := awsapi.OperationByName(tc.op).DeclaredOr(tc.code, awsapi.ErrCodeClientException); got != tc.want {
			t.Errorf("%s DeclaredOr(%s) = %s, want %s", tc.op, tc.code, got, tc.want)
		}
	}
}
