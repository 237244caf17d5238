// Package apidoc checks the documentation of the module's library packages.
package apidoc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// notLibrary are the top-level directories whose packages users do not
// import: programs, tests against other implementations, test helpers.
var notLibrary = map[string]bool{
	"examples": true, "interop": true, "internal": true, "loadtest": true, "scripts": true,
}

// libraryDirs returns the directories under root, relative to it, that hold
// a library package: non-test Go files outside notLibrary and testdata.
func libraryDirs(t *testing.T, root string) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if d.IsDir() && (notLibrary[top] || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && rel != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			seen[filepath.ToSlash(filepath.Dir(rel))] = true
		}
		return nil
	})
	require.NoError(t, err)
	var dirs []string
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

// undocumented returns every exported identifier of the package in dir that
// go doc would show without a comment: the package itself, functions,
// methods of exported types, types, constants and variables (each one of a
// parenthesised group needs its own doc or line comment; a group's doc alone
// does not say what each name is), struct fields and interface methods.
func undocumented(t *testing.T, dir string) []string {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	require.NoError(t, err)
	var missing []string
	miss := func(pos token.Pos, what string) {
		p := fset.Position(pos)
		missing = append(missing, filepath.Base(p.Filename)+":"+strconv.Itoa(p.Line)+": "+what)
	}
	for name, pkg := range pkgs {
		hasPkgDoc := false
		for _, f := range pkg.Files {
			hasPkgDoc = hasPkgDoc || f.Doc != nil
			for _, decl := range f.Decls {
				switch d := decl.(type) {
				case *ast.FuncDecl:
					if !d.Name.IsExported() || d.Recv != nil && !ast.IsExported(recvName(d.Recv)) {
						continue
					}
					if d.Doc == nil {
						what := d.Name.Name
						if d.Recv != nil {
							what = recvName(d.Recv) + "." + what
						}
						miss(d.Pos(), what)
					}
				case *ast.GenDecl:
					grouped := d.Lparen.IsValid()
					for _, spec := range d.Specs {
						switch s := spec.(type) {
						case *ast.TypeSpec:
							if !s.Name.IsExported() {
								continue
							}
							if s.Doc == nil && s.Comment == nil && (grouped || d.Doc == nil) {
								miss(s.Pos(), s.Name.Name)
							}
							missing = append(missing, members(fset, s)...)
						case *ast.ValueSpec:
							for _, n := range s.Names {
								if n.IsExported() && s.Doc == nil && s.Comment == nil && (grouped || d.Doc == nil) {
									miss(n.Pos(), n.Name)
								}
							}
						}
					}
				}
			}
		}
		if !hasPkgDoc {
			missing = append(missing, "package "+name)
		}
	}
	return missing
}

// members lists the undocumented exported fields of a struct type and
// methods of an interface type.
func members(fset *token.FileSet, s *ast.TypeSpec) []string {
	var list *ast.FieldList
	switch ty := s.Type.(type) {
	case *ast.StructType:
		list = ty.Fields
	case *ast.InterfaceType:
		list = ty.Methods
	default:
		return nil
	}
	var missing []string
	for _, f := range list.List {
		names := f.Names
		if len(names) == 0 { // embedded
			if id := embeddedName(f.Type); id != nil {
				names = []*ast.Ident{id}
			}
		}
		for _, n := range names {
			if n.IsExported() && f.Doc == nil && f.Comment == nil {
				p := fset.Position(n.Pos())
				missing = append(missing, filepath.Base(p.Filename)+":"+strconv.Itoa(p.Line)+": "+s.Name.Name+"."+n.Name)
			}
		}
	}
	return missing
}

func embeddedName(e ast.Expr) *ast.Ident {
	switch x := e.(type) {
	case *ast.Ident:
		return x
	case *ast.StarExpr:
		return embeddedName(x.X)
	case *ast.SelectorExpr:
		return x.Sel
	}
	return nil
}

// recvName is the name of a method's receiver type, without * or type
// parameters.
func recvName(recv *ast.FieldList) string {
	e := recv.List[0].Type
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// TestEveryExportedIdentifierDocumented (issue 15): what pkg.go.dev shows
// of the library packages has a comment for every exported name, so a
// user never meets a constant, field or method with nothing said about it.
func TestEveryExportedIdentifierDocumented(t *testing.T) {
	root := filepath.Join("..", "..")
	_, err := os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	dirs := libraryDirs(t, root)
	require.Contains(t, dirs, "policy", "the library packages were found")
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			assert.Empty(t, undocumented(t, filepath.Join(root, dir)), "exported identifiers without a doc or line comment")
		})
	}
}

// TestUndocumentedFindsEveryKind: the check itself can fail, for each kind
// of identifier it covers.
func TestUndocumentedFindsEveryKind(t *testing.T) {
	dir := t.TempDir()
	src := `package p

func F() {}

type T struct {
	Field int
	hidden int
	Documented int // a line comment
}

type I interface{ M() }

func (T) Method() {}

func (t *T) PtrMethod() {}

type unexported struct{ Field int }

func (unexported) Method() {}

const (
	// A is documented.
	A = iota
	B
)

var V = 1

// W is documented.
var W = 2
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.go"), []byte(src), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p_test.go"), []byte("package p\n\nfunc Test() {}\n"), 0o644))
	got := undocumented(t, dir)
	sort.Strings(got)
	assert.Equal(t, []string{
		"p.go:11: I",
		"p.go:11: I.M",
		"p.go:13: T.Method",
		"p.go:15: T.PtrMethod",
		"p.go:24: B",
		"p.go:27: V",
		"p.go:3: F",
		"p.go:5: T",
		"p.go:6: T.Field",
		"package p",
	}, got)
}
