package wire

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// declared returns the values of the constants of type typ declared in
// file: what a list like Statuses must hold, read from the source so that a
// constant added without its list entry fails here rather than being
// invisible to the drift test, which compares the lists.
func declared(t *testing.T, file, typ string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typ {
				continue
			}
			for _, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok {
					t.Fatalf("%s constant %v is not a string literal", typ, vs.Names)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				values = append(values, s)
			}
		}
	}
	return values
}

// TestEveryConstantIsListed: each Status and Outcome constant is in its
// list, in declaration order.
func TestEveryConstantIsListed(t *testing.T) {
	statuses, outcomes := make([]string, 0, len(Statuses)), make([]string, 0, len(Outcomes))
	for _, s := range Statuses {
		statuses = append(statuses, string(s))
	}
	for _, o := range Outcomes {
		outcomes = append(outcomes, string(o))
	}
	for _, c := range []struct {
		typ    string
		listed []string
	}{{"Status", statuses}, {"Outcome", outcomes}} {
		want := declared(t, "status.go", c.typ)
		if len(want) == 0 || !slices.Equal(want, c.listed) {
			t.Errorf("%s constants %v, listed %v: list every one once, in declaration order", c.typ, want, c.listed)
		}
	}
}
