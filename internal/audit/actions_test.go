package audit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
)

// TestActionsListsEveryAction reads the package's source for string
// constants that name an action ("thing.verb") and checks that the audit
// log's filter offers each of them exactly once.
func TestActionsListsEveryAction(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var declared []string
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				for _, v := range spec.(*ast.ValueSpec).Values {
					lit, ok := v.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, _ := strconv.Unquote(lit.Value)
					if actionName.MatchString(s) {
						declared = append(declared, s)
					}
				}
			}
		}
	}
	if len(declared) < 10 {
		t.Fatalf("found only %d action constants: %v", len(declared), declared)
	}
	for _, a := range declared {
		if n := countOf(Actions, a); n != 1 {
			t.Errorf("action %q is offered %d times by the filter, want once", a, n)
		}
	}
	for _, a := range Actions {
		if !slices.Contains(declared, a) {
			t.Errorf("the filter offers %q, which no constant declares", a)
		}
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

var actionName = regexp.MustCompile(`^[a-z]+\.[a-z_]+$`)
