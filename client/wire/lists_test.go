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

func TestEveryStatusIsListed(t *testing.T) {
	var listed []string
	for _, s := range Statuses {
		listed = append(listed, string(s))
	}
	want := declared(t, "status.go", "Status")
	if len(want) == 0 || !slices.Equal(want, listed) {
		t.Fatalf("Status constants %v, Statuses %v: list every status once, in declaration (lifecycle) order", want, listed)
	}
}

func TestEveryOutcomeIsListed(t *testing.T) {
	var listed []string
	for _, o := range Outcomes {
		listed = append(listed, string(o))
	}
	want := declared(t, "status.go", "Outcome")
	if len(want) == 0 || !slices.Equal(want, listed) {
		t.Fatalf("Outcome constants %v, Outcomes %v: list every outcome once, in declaration order", want, listed)
	}
}
